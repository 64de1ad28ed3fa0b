"""Importing area boundaries (网格/社区 polygons) from GeoJSON (DESIGN §6, §7).

An import is checked feature by feature (``check_features``, in chunks so an adapter can
show progress) and then written in one transaction (``import_features``): either every
accepted feature is stored or nothing is. Rejected features are reported with their
position, code and a plain reason; the admin decides whether to import the rest.

Feature properties: ``code`` (administrative code, unique), ``name``, ``level``
(city/district/street/community/grid; default grid) and optionally ``parent_code``.
A feature whose code exists updates that area's name and boundary; a new one is created
under ``parent_code`` or the parent chosen for the whole file. Coordinates are stored in
WGS-84; a GCJ-02 file is converted vertex by vertex (``backend.geo.gcj02_to_wgs84``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from backend import geo
from backend.db import transaction
from backend.errors import DomainError
from backend.models import Area
from backend.models.areas import LEVELS, LEVEL_NAMES

MAX_FEATURES = 20000
DATUMS = {"wgs84": "WGS-84（GPS 原始坐标）", "gcj02": "GCJ-02（高德/腾讯地图坐标）"}
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
    "no_name": "缺少名称 name",
    "bad_level": "层级 level 不正确",
    "duplicate_code": "文件中编码重复",
    "no_parent": "找不到上级区域 parent_code",
    "bad_parent_level": "上级区域的层级不对",
    "outside_scope": "不在您管辖的范围内",
}


@dataclass
class Reject:
    index: int  # 1-based position in the file
    code: str | None
    name: str | None
    reason: str
    detail: str = ""

    @property
    def message(self) -> str:
        return REASONS.get(self.reason, self.reason) + (f"（{self.detail}）" if self.detail else "")


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: list[int] = field(default_factory=list)


def parse_feature_collection(raw: bytes | str) -> list[dict]:
    """The features of a GeoJSON FeatureCollection (or a single Feature); DomainError otherwise."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DomainError("bad_geojson", f"文件不是有效的 JSON：{exc}") from None
    if isinstance(data, dict) and data.get("type") == "Feature":
        return [data]
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" \
            or not isinstance(data.get("features"), list):
        raise DomainError("bad_geojson", "文件应是 GeoJSON FeatureCollection")
    if not data["features"]:
        raise DomainError("bad_geojson", "文件里没有任何要素")
    if len(data["features"]) > MAX_FEATURES:
        raise DomainError("too_many_features", f"一次最多导入 {MAX_FEATURES} 个要素")
    return data["features"]


def _convert(coords, datum: str):
    """Convert nested GeoJSON coordinate arrays; malformed positions are left for the check."""
    if isinstance(coords, list) and coords and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                    for v in coords[:2]) and len(coords) >= 2:
        if datum == "gcj02":
            lat, lng = geo.gcj02_to_wgs84(float(coords[1]), float(coords[0]))
            return [round(lng, 7), round(lat, 7)]
        return [float(coords[0]), float(coords[1])]
    if isinstance(coords, list):
        return [_convert(c, datum) for c in coords]
    return coords


def converted_geometry(feature: dict, datum: str) -> dict | None:
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    if not isinstance(geometry, dict):
        return None
    return {"type": geometry.get("type"), "coordinates": _convert(geometry.get("coordinates"), datum)}


def _props(feature: dict) -> dict:
    props = feature.get("properties") if isinstance(feature, dict) else None
    return props if isinstance(props, dict) else {}


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def check_features(features: list[dict], begin: int, stop: int, datum: str, default_parent: Area | None,
                   scope_path: str | None, seen_codes: dict[str, str]) -> list[Reject]:
    """Check features[begin:stop]. ``seen_codes`` (code → level) carries the file's earlier
    features across chunks: duplicates are caught, and a feature may name an earlier one as
    its ``parent_code`` (a community, then its grids)."""
    if datum not in DATUMS:
        raise DomainError("bad_datum", "坐标系只能是 WGS-84 或 GCJ-02")
    rejects: list[Reject] = []
    geometries: list[tuple[int, dict]] = []
    for index in range(begin, min(stop, len(features))):
        feature = features[index]
        props = _props(feature)
        code, name = _text(props.get("code")), _text(props.get("name"))

        def reject(reason, detail=""):
            rejects.append(Reject(index + 1, code, name, reason, detail))

        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            reject("not_feature")
            continue
        if code is None:
            reject("no_code")
            continue
        if len(code) > 32 or not code.isalnum():
            reject("bad_code")
            continue
        if code in seen_codes:
            reject("duplicate_code")
            continue
        if name is None or len(name) > 64:
            reject("no_name")
            continue
        level = _text(props.get("level")) or "grid"
        if level not in LEVELS:
            reject("bad_level", level)
            continue
        problem = _check_place(code, level, _text(props.get("parent_code")), default_parent, scope_path,
                               seen_codes)
        if problem:
            reject(*problem)
            continue
        seen_codes[code] = level
        geometry = converted_geometry(feature, datum)
        if geometry is None:
            reject("no_geometry")
            continue
        geometries.append((index, geometry))
    # The same checks the point → grid index applies, so nothing imported is later left out of it.
    for bad in geo.GridIndex(geometries).rejects:
        props = _props(features[bad.area_id])
        rejects.append(Reject(bad.area_id + 1, _text(props.get("code")), _text(props.get("name")),
                              bad.code, bad.detail[:120]))
    return sorted(rejects, key=lambda r: r.index)


def _check_place(code, level, parent_code, default_parent, scope_path, pending: dict[str, str]):
    existing = Area.get_or_none(Area.code == code)
    if existing is not None:
        if scope_path and not existing.path.startswith(scope_path):
            return ("outside_scope",)
        if existing.level != level:
            return ("bad_level", f"已有区域是{LEVEL_NAMES[existing.level]}")
        return None
    parent = Area.get_or_none(Area.code == parent_code) if parent_code else default_parent
    if parent is None and parent_code in pending:
        if LEVELS.index(level) != LEVELS.index(pending[parent_code]) + 1:
            return ("bad_parent_level", f"{LEVEL_NAMES[pending[parent_code]]}下面不能直接放{LEVEL_NAMES[level]}")
        return None
    if parent is None:
        return ("no_parent", parent_code or "未选择上级区域")
    if scope_path and not parent.path.startswith(scope_path):
        return ("outside_scope",)
    if LEVELS.index(level) != LEVELS.index(parent.level) + 1:
        return ("bad_parent_level", f"{LEVEL_NAMES[parent.level]}下面不能直接放{LEVEL_NAMES[level]}")
    return None


def import_features(features: list[dict], datum: str, default_parent: Area | None,
                    skip: set[int] | frozenset = frozenset(), scope_path: str | None = None) -> ImportResult:
    """Write every feature not in ``skip`` (0-based indexes) in one transaction.

    Re-checks each feature first, so a file changed or a parent deleted since the check
    still cannot write half an import: any reject raises and nothing is stored.
    """
    result = ImportResult(skipped=sorted(skip))
    wanted = [i for i in range(len(features)) if i not in skip]
    with transaction():
        seen: dict[str, str] = {}
        for index in wanted:
            rejects = check_features(features, index, index + 1, datum, default_parent, scope_path, seen)
            if rejects:
                raise DomainError("import_rejected", f"第 {index + 1} 个要素：{rejects[0].message}")
            props = _props(features[index])
            code, name = _text(props["code"]), _text(props["name"])
            level = _text(props.get("level")) or "grid"
            boundary = converted_geometry(features[index], datum)
            area = Area.get_or_none(Area.code == code)
            if area is not None:
                area.name, area.boundary = name, boundary
                area.save()
                result.updated += 1
                continue
            parent_code = _text(props.get("parent_code"))
            parent = Area.get(Area.code == parent_code) if parent_code else default_parent
            order = _int(props.get("sort_order"), default=Area.select().where(Area.parent == parent).count())
            area = Area.create(parent=parent, level=level, name=name, code=code, boundary=boundary,
                               sort_order=order)
            area.path = f"{parent.path}{area.id}/"
            area.save()
            result.created += 1
    geo.invalidate_grid_index()
    return result


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def area_choices(scope_path: str | None, max_level: str = "community") -> list[Area]:
    """Areas under the scope, down to ``max_level``, in administrative (tree) order."""
    query = Area.select().where(Area.level.in_(LEVELS[:LEVELS.index(max_level) + 1]))
    if scope_path:
        query = query.where(Area.path.startswith(scope_path))
    areas = list(query)
    return tree_order(areas)


def tree_order(areas: list[Area]) -> list[Area]:
    """Depth-first by (sort_order, code) among siblings: the administrative order."""
    by_parent: dict[int | None, list[Area]] = {}
    ids = {a.id for a in areas}
    for area in areas:
        parent = area.parent_id if area.parent_id in ids else None
        by_parent.setdefault(parent, []).append(area)
    out: list[Area] = []

    def walk(parent):
        for area in sorted(by_parent.get(parent, ()), key=lambda a: (a.sort_order, a.code)):
            out.append(area)
            walk(area.id)

    walk(None)
    return out
