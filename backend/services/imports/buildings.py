"""Buildings (楼栋) and their units (单元) from CSV or XLSX, each unit with a QR token (DESIGN §6).

Columns: 网格编码, 楼栋, 单元, and optionally 地址, 纬度, 经度, 坐标系 (wgs84/gcj02; default the
file's). Buildings are found by (grid, name) and units by (building, name): a re-import
changes nothing, and an existing unit keeps its token, so posters already on the wall keep
working. After the import, ``backend.posters`` prints a whole community's posters in one PDF.
"""
from __future__ import annotations

import math
import secrets
import sys

from backend import geo
from backend.db import transaction
from backend.errors import DomainError
from backend.models import Area, Building, BuildingUnit
from backend.services.imports import Problem, plan_row, recheck, tabular

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


def clean_options(options: dict) -> dict:
    datum = (options.get("datum") or "wgs84").lower().replace("-", "")
    if datum not in geo.DATUMS:
        raise DomainError("bad_datum", "坐标系只能是 wgs84 或 gcj02")
    return {"datum": datum, "scope_path": options.get("scope_path") or None}


def new_memo() -> dict:
    return {"seen": {}, "communities": []}


def parse(raw: bytes, filename: str = "") -> tuple[list[dict], str]:
    table = tabular.read_table(raw, filename)
    return tabular.records(table, COLUMNS, REQUIRED), table.encoding


def _coordinate(text: str, low: float, high: float) -> float:
    value = float(text)
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(text)
    return value


def place(record: dict, default_datum: str) -> tuple[float | None, float | None]:
    """WGS-84 (lat, lng) of the row, (None, None) without coordinates; ValueError if unusable."""
    lat_text, lng_text = record.get("lat", ""), record.get("lng", "")
    if not (lat_text or lng_text):
        return None, None
    lat, lng = _coordinate(lat_text, -90, 90), _coordinate(lng_text, -180, 180)
    datum = (record.get("datum") or default_datum).lower().replace("-", "")
    if datum not in geo.DATUMS:
        raise ValueError(datum)
    return geo.to_wgs84(lat, lng, datum)


def check_rows(rows: list[dict], begin: int, stop: int, options: dict, memo: dict) -> list[Problem]:
    grids: dict[str, Area | None] = {}
    problems = []
    for record in rows[begin:stop]:
        found = []
        code, building, unit = record.get("grid_code", ""), record.get("building", ""), record.get("unit", "")
        if code and code not in grids:
            grids[code] = Area.get_or_none(Area.code == code)
        grid = grids.get(code) if code else None
        if not code:
            found.append("缺少网格编码")
        elif grid is None:
            found.append(f"找不到网格编码 {code}")
        elif grid.level != "grid":
            found.append(f"{code} 不是网格")
        elif options["scope_path"] and not grid.path.startswith(options["scope_path"]):
            found.append(f"网格 {code} 不在您管辖的范围内")
        if not building or len(building) > 64:
            found.append("楼栋名称为空或超过 64 字")
        if not unit or len(unit) > 32:
            found.append("单元名称为空或超过 32 字")
        if len(record.get("address", "")) > 255:
            found.append("地址超过 255 字")
        try:
            lat, lng = place(record, options["datum"])
        except ValueError:
            found.append("经纬度或坐标系不正确")
            lat = lng = None
        key = f"{code}|{building}|{unit}"
        if not found and key in memo["seen"]:
            found.append(f"与第 {memo['seen'][key]} 行重复")
        memo["seen"].setdefault(key, record["row"])
        if found:
            problems.append(Problem(record["row"], "；".join(found), f"{building}{unit}"[:20]))
            continue
        plan_row(memo, _action(grid, building, unit, record.get("address") or None, lat, lng))
        community = grid.parent_id or grid.id
        if community not in memo["communities"]:
            memo["communities"].append(community)
    return problems


def check_file(rows: list[dict], options: dict, memo: dict) -> tuple[list[Problem], list[Problem]]:
    return [], []


def _action(grid: Area, building_name: str, unit_name: str, address, lat, lng) -> str:
    building = Building.get_or_none((Building.area == grid) & (Building.name == building_name))
    if building is None:
        return "create"
    unit = BuildingUnit.get_or_none((BuildingUnit.building == building) & (BuildingUnit.name == unit_name))
    if unit is None:
        return "create"
    same = (not address or building.address == address) and (lat is None or (building.lat, building.lng) == (lat, lng))
    return "same" if same else "update"


def write(rows: list[dict], options: dict) -> dict:
    """Every row in one transaction; a unit that exists keeps its QR token."""
    counts = {"create": 0, "update": 0, "same": 0, "buildings_created": 0, "units_created": 0}
    communities: list[int] = []
    with transaction():
        recheck(sys.modules[__name__], rows, options)
        for record in rows:
            grid = Area.get(Area.code == record["grid_code"])
            address = record.get("address") or None
            lat, lng = place(record, options["datum"])
            counts[_action(grid, record["building"], record["unit"], address, lat, lng)] += 1
            building = Building.get_or_none((Building.area == grid) & (Building.name == record["building"]))
            if building is None:
                building = Building.create(area=grid, name=record["building"], address=address, lat=lat, lng=lng)
                counts["buildings_created"] += 1
            elif (address and building.address != address) or (lat is not None and (building.lat, building.lng) != (lat, lng)):
                building.address = address or building.address
                if lat is not None:
                    building.lat, building.lng = lat, lng
                building.save()
            if not BuildingUnit.select().where((BuildingUnit.building == building)
                                               & (BuildingUnit.name == record["unit"])).exists():
                BuildingUnit.create(building=building, name=record["unit"], qr_token=new_token())
                counts["units_created"] += 1
            community = grid.parent_id or grid.id
            if community not in communities:
                communities.append(community)
    return {**counts, "communities": communities}


def new_token() -> str:
    """16 url-safe characters: unguessable, short enough for a small QR (backend.qr.TOKEN_RE)."""
    return secrets.token_urlsafe(12)
