"""Areas from GeoJSON (DESIGN §6, §7): a FeatureCollection whose properties give ``code``, ``name``,
``level`` (city/district/street/community/grid; default grid) and ``parent_code`` (an existing
area or an earlier feature of the file; else the parent given for the whole file).

Datum declared for the whole file: WGS-84, or GCJ-02 (converted vertex by vertex; stored WGS-84).
Per feature: a readable polygon (not self-intersecting, coordinates [lng, lat] in range), a
code (upserted: an existing code updates name and boundary), a name, a level one below its
parent's, inside the admin's scope, not moved under another parent. Across the file: sibling
areas overlapping each other (a report there could belong to either) are errors; land of a
parent that no child covers (a gap: reports there go to the centre) and children reaching
outside their parent are warnings — reported, not refused, since real boundaries often leave
roads or rivers to nobody.
"""
from __future__ import annotations

import json
import math
import sys

import shapely
from shapely.geometry import shape

from backend import geo
from backend.db import transaction
from backend.errors import DomainError
from backend.models import Area
from backend.models.areas import LEVEL_NAMES, LEVELS
from backend.services import context, events
from backend.services.imports import Problem, plan_row, recheck

MAX_FEATURES = 20000
DATUMS = {"wgs84": "WGS-84（GPS 原始坐标）", "gcj02": "GCJ-02（高德/腾讯地图坐标）"}
OVERLAP_TOLERANCE_M2 = 10.0  # drawing precision: slivers smaller than this are not overlaps
GAP_TOLERANCE_M2 = 100.0
REASONS = {
    "not_feature": "不是 GeoJSON Feature",
    "no_geometry": "缺少几何图形",
    "unreadable": "几何图形无法读取",
    "not_polygon": "不是面（Polygon/MultiPolygon）",
    "empty": "几何图形为空",
    "out_of_range": "坐标超出经纬度范围（应为 [经度, 纬度]）",
    "invalid": "多边形自相交或不闭合",
    "no_code": "缺少编码 code",
    "bad_code": "编码只能是 1–32 位数字或字母",
    "no_name": "缺少名称 name（64 字以内）",
    "bad_level": "层级 level 不正确",
    "duplicate_code": "文件中编码重复",
    "no_parent": "找不到上级区域 parent_code",
    "bad_parent_level": "上级区域的层级不对",
    "outside_scope": "不在您管辖的范围内",
    "moved": "已属于另一个上级区域，导入不能移动区域",
}


def clean_options(options: dict) -> dict:
    datum = (options.get("datum") or "wgs84").lower().replace("-", "")
    if datum not in DATUMS:
        raise DomainError("bad_datum", "坐标系只能是 WGS-84 或 GCJ-02")
    parent_code = (options.get("parent_code") or "").strip() or None
    if parent_code is not None:
        parent = Area.get_or_none(Area.code == parent_code)
        if parent is None:
            raise DomainError("no_parent", f"找不到上级区域 {parent_code}")
        if options.get("scope_path") and not parent.path.startswith(options["scope_path"]):
            raise DomainError("outside_scope", "上级区域不在您管辖的范围内")
    return {"datum": datum, "parent_code": parent_code, "scope_path": options.get("scope_path") or None}


def new_memo() -> dict:
    return {"seen": {}, "accepted": []}


def parse(raw: bytes, filename: str = "") -> tuple[list[dict], str]:
    """The features of a GeoJSON FeatureCollection (or one Feature); DomainError otherwise."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DomainError("bad_geojson", f"文件不是有效的 JSON：{str(exc)[:120]}") from None
    except RecursionError:
        raise DomainError("bad_geojson", "文件不是有效的 JSON：嵌套太深") from None
    if isinstance(data, dict) and data.get("type") == "Feature":
        return [data], "GeoJSON"
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise DomainError("bad_geojson", "文件应是 GeoJSON FeatureCollection")
    if not data["features"]:
        raise DomainError("bad_geojson", "文件里没有任何要素")
    if len(data["features"]) > MAX_FEATURES:
        raise DomainError("too_many_features", f"一次最多导入 {MAX_FEATURES} 个要素")
    crs = ((data.get("crs") or {}).get("properties") or {}).get("name", "") if isinstance(data.get("crs"), dict) else ""
    if crs and not any(tag in str(crs).upper() for tag in ("4326", "CRS84", "4490")):
        raise DomainError("bad_crs", f"坐标参考系 {crs} 不是经纬度；请导出为 WGS-84（EPSG:4326）或 GCJ-02 经纬度")
    return data["features"], "GeoJSON"


def _convert(coords, datum: str):
    """Convert nested GeoJSON coordinate arrays; malformed positions are left for the check."""
    if isinstance(coords, list) and len(coords) >= 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in coords[:2]):
        if datum == "gcj02" and all(math.isfinite(v) for v in coords[:2]):
            lat, lng = geo.gcj02_to_wgs84(float(coords[1]), float(coords[0]))
            return [round(lng, 7), round(lat, 7)]
        return [float(coords[0]), float(coords[1])]
    if isinstance(coords, list):
        return [_convert(c, datum) for c in coords]
    return coords


def converted_geometry(feature, datum: str) -> dict | None:
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    if not isinstance(geometry, dict):
        return None
    return {"type": geometry.get("type"), "coordinates": _convert(geometry.get("coordinates"), datum)}


def _props(feature) -> dict:
    props = feature.get("properties") if isinstance(feature, dict) else None
    return props if isinstance(props, dict) else {}


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def check_rows(features: list[dict], begin: int, stop: int, options: dict, memo: dict) -> list[Problem]:
    """Features[begin:stop] one by one; ``memo['seen']`` (code → level) lets a feature name an
    earlier one as its parent and catches duplicate codes across chunks."""
    problems: list[Problem] = []
    geometries: list[tuple[int, dict]] = []
    default_parent = Area.get_or_none(Area.code == options["parent_code"]) if options["parent_code"] else None
    for index in range(begin, min(stop, len(features))):
        feature = features[index]
        props = _props(feature)
        code, name = _text(props.get("code")), _text(props.get("name"))

        def reject(reason, detail=""):
            message = REASONS.get(reason, reason) + (f"（{detail}）" if detail else "")
            problems.append(Problem(index + 1, message, " ".join(filter(None, (code, name)))[:80]))

        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            reject("not_feature")
            continue
        if code is None:
            reject("no_code")
            continue
        if len(code) > 32 or not code.isalnum() or not code.isascii():
            reject("bad_code")
            continue
        if code in memo["seen"]:
            reject("duplicate_code", f"与第 {memo['seen'][code][1]} 个要素重复")
            continue
        if name is None or len(name) > 64:
            reject("no_name")
            continue
        level = _text(props.get("level")) or "grid"
        if level not in LEVELS:
            reject("bad_level", level)
            continue
        place = _place(code, level, _text(props.get("parent_code")), default_parent, options["scope_path"], memo)
        if isinstance(place, tuple):
            reject(*place)
            continue
        memo["seen"][code] = (level, index + 1)
        geometry = converted_geometry(feature, options["datum"])
        if geometry is None:
            reject("no_geometry")
            continue
        geometries.append((index, geometry))
        memo["accepted"].append([index, code, level, place])
    # The same checks the point → grid index applies, so nothing imported is later left out of it.
    rejected = set()
    for bad in geo.GridIndex(geometries).rejects:
        props = _props(features[bad.area_id])
        message = REASONS.get(bad.code, bad.code) + (f"（{bad.detail[:120]}）" if bad.detail else "")
        problems.append(Problem(bad.area_id + 1, message, " ".join(filter(None, (
            _text(props.get("code")), _text(props.get("name")))))[:80]))
        rejected.add(bad.area_id)
    memo["accepted"] = [a for a in memo["accepted"] if a[0] not in rejected]
    for index, code, _level, _parent in memo["accepted"]:
        if begin <= index < stop:
            plan_row(memo, _action(code, _text(_props(features[index]).get("name")),
                                   converted_geometry(features[index], options["datum"])))
    return sorted(problems, key=lambda p: p.row)


def _action(code: str, name: str, boundary: dict) -> str:
    existing = Area.get_or_none(Area.code == code)
    if existing is None:
        return "create"
    return "same" if existing.name == name and existing.boundary == boundary else "update"


def _place(code, level, parent_code, default_parent, scope_path, memo):
    """The parent key ("id:<area id>" or "code:<code in this file>"), or (reason, detail)."""
    existing = Area.get_or_none(Area.code == code)
    if existing is not None:
        if scope_path and not existing.path.startswith(scope_path):
            return ("outside_scope",)
        if existing.level != level:
            return ("bad_level", f"已有区域是{LEVEL_NAMES[existing.level]}")
        named = Area.get_or_none(Area.code == parent_code) if parent_code else None
        if parent_code and named is not None and named.id != existing.parent_id:
            return ("moved", f"现属 {existing.parent.code if existing.parent_id else '无'}")
        if parent_code and named is None:
            if parent_code in memo["seen"]:
                return ("moved", f"现属 {existing.parent.code if existing.parent_id else '无'}")
            return ("no_parent", parent_code)
        return f"id:{existing.parent_id}" if existing.parent_id else "root"
    parent = Area.get_or_none(Area.code == parent_code) if parent_code else default_parent
    if parent is None and parent_code in memo["seen"]:
        parent_level = memo["seen"][parent_code][0]
        if LEVELS.index(level) != LEVELS.index(parent_level) + 1:
            return ("bad_parent_level", f"{LEVEL_NAMES[parent_level]}下面不能直接放{LEVEL_NAMES[level]}")
        return f"code:{parent_code}"
    if parent is None:
        return ("no_parent", parent_code or "未指定上级区域")
    if scope_path and not parent.path.startswith(scope_path):
        return ("outside_scope",)
    if LEVELS.index(level) != LEVELS.index(parent.level) + 1:
        return ("bad_parent_level", f"{LEVEL_NAMES[parent.level]}下面不能直接放{LEVEL_NAMES[level]}")
    return f"id:{parent.id}"


# ---------------------------------------------------------------- the file as a whole


def _square_metres(geom) -> float:
    """Area of a lng/lat geometry in m² (equirectangular at its latitude: plenty for a grid)."""
    if geom.is_empty:
        return 0.0
    lat = geom.centroid.y
    return abs(geom.area) * 111320.0 * math.cos(math.radians(lat)) * 110574.0


def check_file(features: list[dict], options: dict, memo: dict) -> tuple[list[Problem], list[Problem]]:
    """Overlapping siblings (errors), gaps and children outside their parent (warnings)."""
    datum = options["datum"]
    shapes: dict[str, tuple] = {}  # code → (geometry, feature number or None, name, parent key)
    for index, code, _level, parent_key in memo["accepted"]:
        geometry = shape(converted_geometry(features[index], datum))
        shapes[code] = (geometry, index + 1, _text(_props(features[index]).get("name")) or "", parent_key)
    groups: dict[str, list[str]] = {}
    for code, (_g, _n, _name, parent_key) in shapes.items():
        groups.setdefault(parent_key, []).append(code)
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for parent_key, codes in groups.items():
        members = dict((c, shapes[c][:3]) for c in codes)
        if parent_key.startswith("id:"):
            for sibling in Area.select().where((Area.parent == int(parent_key[3:])) & Area.boundary.is_null(False)):
                if sibling.code not in shapes:
                    try:
                        members[sibling.code] = (shape(sibling.boundary), None, sibling.name)
                    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
                        continue
        errors += _overlaps(members)
        warnings += _coverage(parent_key, members, shapes)
    return errors, warnings


def _label(code: str, member) -> str:
    _geom, number, name = member
    where = f"第 {number} 个要素" if number else "已有区域"
    return f"{where} {code} {name}".strip()


def _overlaps(members: dict) -> list[Problem]:
    codes = list(members)
    geoms = [members[c][0] for c in codes]
    problems = []
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist()):
        if i >= j:
            continue
        a, b = codes[i], codes[j]
        if members[a][1] is None and members[b][1] is None:
            continue  # two areas already stored: not this file's doing
        overlap = _square_metres(geoms[i].intersection(geoms[j]))
        if overlap <= OVERLAP_TOLERANCE_M2:
            continue  # shared edges and drawing slivers
        later, other = (a, b) if (members[a][1] or 0) > (members[b][1] or 0) else (b, a)
        problems.append(Problem(members[later][1], f"与{_label(other, members[other])}重叠约 {overlap:,.0f} 平方米"
                                                   "（同一处的上报不知该归谁）", f"{later} {members[later][2]}"))
    return problems


def _parent_shape(parent_key: str, shapes: dict):
    if parent_key.startswith("code:"):
        entry = shapes.get(parent_key[5:])
        return (entry[0], f"第 {entry[1]} 个要素 {parent_key[5:]} {entry[2]}") if entry else (None, "")
    if parent_key.startswith("id:"):
        parent = Area.get_or_none(Area.id == int(parent_key[3:]))
        if parent is not None and parent.boundary:
            try:
                return shape(parent.boundary), f"{LEVEL_NAMES[parent.level]} {parent.code} {parent.name}"
            except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
                return None, ""
        if parent is not None:
            return None, f"{LEVEL_NAMES[parent.level]} {parent.code} {parent.name}"
    return None, ""


def _coverage(parent_key: str, members: dict, shapes: dict) -> list[Problem]:
    if not any(m[1] for m in members.values()):
        return []
    union = shapely.union_all([m[0] for m in members.values()])
    parent, label = _parent_shape(parent_key, shapes)
    first_row = min(m[1] for m in members.values() if m[1])
    if parent_key.startswith("code:") and parent_key[5:] in shapes:
        first_row = shapes[parent_key[5:]][1]  # the parent in this file: its row
    warnings = []
    if parent is not None and parent.is_valid:
        gap = _square_metres(parent.difference(union))
        if gap > GAP_TOLERANCE_M2:
            warnings.append(Problem(first_row, f"{label}内约 {gap:,.0f} 平方米不属于任何下级区域"
                                               "（那里的上报会交给综治中心）", label))
        for code, member in members.items():
            if member[1] is None:
                continue
            outside = _square_metres(member[0].difference(parent))
            if outside > GAP_TOLERANCE_M2:
                warnings.append(Problem(member[1], f"超出上级区域（{label}）约 {outside:,.0f} 平方米",
                                        f"{code} {member[2]}"))
    else:
        holes = [shapely.Polygon(ring) for poly in shapely.get_parts(union) for ring in poly.interiors]
        gap = sum(_square_metres(h) for h in holes)
        if gap > GAP_TOLERANCE_M2:
            warnings.append(Problem(first_row, f"{label or '同一上级'}的下级区域之间有 {len(holes)} 处空隙，"
                                               f"共约 {gap:,.0f} 平方米（那里的上报会交给综治中心）", label))
    return warnings


# ---------------------------------------------------------------- writing


def write(features: list[dict], options: dict) -> dict:
    """Upsert every feature in one transaction (checked again first)."""
    counts = {"create": 0, "update": 0, "same": 0}
    with transaction():
        recheck(sys.modules[__name__], features, options)
        default_parent = Area.get_or_none(Area.code == options["parent_code"]) if options["parent_code"] else None
        for feature in features:
            props = _props(feature)
            code, name = _text(props["code"]), _text(props["name"])
            boundary = converted_geometry(feature, options["datum"])
            area = Area.get_or_none(Area.code == code)
            if area is not None:
                if area.name == name and area.boundary == boundary:
                    counts["same"] += 1
                    continue
                area.name, area.boundary = name, boundary
                area.save()
                counts["update"] += 1
                continue
            parent_code = _text(props.get("parent_code"))
            parent = Area.get(Area.code == parent_code) if parent_code else default_parent
            order = _int(props.get("sort_order"), default=Area.select().where(Area.parent == parent).count())
            area = Area.create(parent=parent, level=_text(props.get("level")) or "grid", name=name, code=code,
                               boundary=boundary, sort_order=order)
            area.path = f"{parent.path}{area.id}/"
            area.save()
            counts["create"] += 1
    geo.invalidate_grid_index()
    events.invalidate_caches()
    context.invalidate_caches()
    return counts


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
