"""Importing buildings (楼栋) and their units (单元) from CSV, each unit with a QR token (DESIGN §6).

Every row is checked before anything is written; one bad row means nothing is imported and
the admin gets every row's problem at once (a half-imported register would print posters
for some entrances and not others). Re-importing the same file changes nothing: buildings
are found by (grid, name) and units by (building, name); an existing unit keeps its token,
so posters already on the wall keep working.

Columns (header row required; Chinese or English names):
网格编码/grid_code, 楼栋/building, 单元/unit, 地址/address, 纬度/lat, 经度/lng, 坐标系/datum.
"""
from __future__ import annotations

import csv
import io
import math
import secrets
from dataclasses import dataclass, field

from backend import geo
from backend.db import transaction
from backend.errors import DomainError
from backend.models import Area, Building, BuildingUnit

MAX_ROWS = 20000
COLUMNS = {
    "grid_code": ("网格编码", "grid_code", "网格"),
    "building": ("楼栋", "building", "楼栋名称"),
    "unit": ("单元", "unit", "单元名称"),
    "address": ("地址", "address"),
    "lat": ("纬度", "lat", "latitude"),
    "lng": ("经度", "lng", "lon", "longitude"),
    "datum": ("坐标系", "datum"),
}
REQUIRED = ("grid_code", "building", "unit")


@dataclass
class RowError:
    line: int  # line number in the file (the header is line 1)
    message: str


@dataclass
class BuildingImport:
    buildings_created: int = 0
    units_created: int = 0
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def decode_csv(raw: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030, as Chinese spreadsheets save it."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DomainError("bad_encoding", "文件编码无法识别，请另存为 UTF-8 的 CSV")


def _header_map(header: list[str]) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    found = {}
    for key, aliases in COLUMNS.items():
        for alias in aliases:
            if alias.lower() in names:
                found[key] = names.index(alias.lower())
                break
    missing = [COLUMNS[k][0] for k in REQUIRED if k not in found]
    if missing:
        raise DomainError("bad_header", "缺少列：" + "、".join(missing) + "（第一行应是列名）")
    return found


def _coordinate(text: str, low: float, high: float) -> float | None:
    value = float(text)
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(text)
    return value


def parse_rows(text: str, default_datum: str, scope_path: str | None):
    """(checked rows, errors). A checked row: (line, grid, building, unit, address, lat, lng)."""
    if default_datum not in geo.DATUMS:
        raise DomainError("bad_datum", "坐标系只能是 wgs84 或 gcj02")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise DomainError("empty_csv", "文件是空的") from None
    except csv.Error as exc:
        raise DomainError("bad_csv", f"CSV 格式错误：{exc}") from None
    columns = _header_map(header)
    grids: dict[str, Area | None] = {}
    seen: dict[tuple, int] = {}
    rows, errors = [], []
    line = 1
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                raise DomainError("too_many_rows", f"一次最多导入 {MAX_ROWS} 行")

            def cell(key):
                index = columns.get(key)
                return record[index].strip() if index is not None and index < len(record) else ""

            problems = []
            code, building, unit = cell("grid_code"), cell("building"), cell("unit")
            if not code:
                problems.append("缺少网格编码")
            elif code not in grids:
                grids[code] = Area.get_or_none(Area.code == code)
            grid = grids.get(code) if code else None
            if code and grid is None:
                problems.append(f"找不到网格编码 {code}")
            elif grid is not None and grid.level != "grid":
                problems.append(f"{code} 不是网格")
            elif grid is not None and scope_path and not grid.path.startswith(scope_path):
                problems.append(f"网格 {code} 不在您管辖的范围内")
            if not building or len(building) > 64:
                problems.append("楼栋名称为空或超过 64 字")
            if not unit or len(unit) > 32:
                problems.append("单元名称为空或超过 32 字")
            address = cell("address")
            if len(address) > 255:
                problems.append("地址超过 255 字")
            lat = lng = None
            lat_text, lng_text = cell("lat"), cell("lng")
            if lat_text or lng_text:
                try:
                    lat, lng = _coordinate(lat_text, -90, 90), _coordinate(lng_text, -180, 180)
                    datum = (cell("datum") or default_datum).lower().replace("-", "")
                    if datum not in geo.DATUMS:
                        raise ValueError(datum)
                    lat, lng = geo.to_wgs84(lat, lng, datum)
                except ValueError:
                    problems.append("经纬度或坐标系不正确")
                    lat = lng = None
            key = (code, building, unit)
            if not problems and key in seen:
                problems.append(f"与第 {seen[key]} 行重复")
            seen.setdefault(key, line)
            if problems:
                errors.append(RowError(line, "；".join(problems)))
            else:
                rows.append((line, grid, building, unit, address or None, lat, lng))
    except csv.Error as exc:
        errors.append(RowError(line + 1, f"CSV 格式错误：{exc}"))
    if not rows and not errors:
        raise DomainError("empty_csv", "文件里没有数据行")
    return rows, errors


def import_buildings(raw: bytes, default_datum: str = "wgs84", scope_path: str | None = None) -> BuildingImport:
    """Check every row; write all of them in one transaction, or none if any row is bad."""
    rows, errors = parse_rows(decode_csv(raw), default_datum, scope_path)
    result = BuildingImport(rows=len(rows) + len(errors), errors=errors)
    if errors:
        return result
    with transaction():
        for _line, grid, building_name, unit_name, address, lat, lng in rows:
            building = Building.get_or_none((Building.area == grid) & (Building.name == building_name))
            if building is None:
                building = Building.create(area=grid, name=building_name, address=address, lat=lat, lng=lng)
                result.buildings_created += 1
            elif address or lat is not None:
                building.address = address or building.address
                if lat is not None:
                    building.lat, building.lng = lat, lng
                building.save()
            exists = BuildingUnit.select().where((BuildingUnit.building == building)
                                                 & (BuildingUnit.name == unit_name)).exists()
            if not exists:
                BuildingUnit.create(building=building, name=unit_name, qr_token=new_token())
                result.units_created += 1
    return result


def new_token() -> str:
    """16 url-safe characters: unguessable, short enough for a small QR (backend.qr.TOKEN_RE)."""
    return secrets.token_urlsafe(12)


def units_of_area(area: Area) -> list[tuple[Building, list[BuildingUnit]]]:
    """Buildings under an area (a community or a grid) with their units, in name order."""
    buildings = list(Building.select(Building, Area).join(Area)
                     .where(Area.path.startswith(area.path)).order_by(Area.sort_order, Area.code, Building.id))
    units: dict[int, list[BuildingUnit]] = {}
    if buildings:
        for unit in (BuildingUnit.select().where(BuildingUnit.building.in_([b.id for b in buildings]))
                     .order_by(BuildingUnit.building, BuildingUnit.id)):
            units.setdefault(unit.building_id, []).append(unit)
    return [(b, units.get(b.id, [])) for b in buildings]
