"""Buildings (楼栋) and units (单元) of an area, for the console and the posters.

Importing them is ``backend.services.imports.buildings`` (CLI and console alike).
"""
from __future__ import annotations

from backend.models import Area, Building, BuildingUnit


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
