"""Shared page pieces: the error page, display filters, where a building unit is."""
from __future__ import annotations

import datetime as dt

from flask import render_template

from backend import clock
from backend.models import Area, BuildingUnit
from backend.models.events import STATUS_NAMES


def error_page(message: str, status: int):
    return render_template("mobile/error.html", message=message, status=status), status


def local_time(value: dt.datetime | None) -> str:
    """"5月3日 14:05" (this year) or "2025年5月3日 14:05": short enough for a phone line."""
    if value is None:
        return ""
    local = clock.to_local(value)
    if local.year == clock.to_local(clock.now()).year:
        return f"{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


FILTERS = {
    "m_time": local_time,
    "m_status": lambda status: STATUS_NAMES.get(status, status),
}


def unit_place(unit: BuildingUnit) -> dict:
    """What a poster's page says about where it hangs: building, unit, community and grid."""
    building = unit.building
    grid = building.area
    community = Area.get_or_none(Area.id == grid.parent_id) if grid.parent_id else None
    return {
        "building": building.name, "unit": unit.name, "address": building.address or "",
        "grid": grid.name, "community": community.name if community else "",
    }
