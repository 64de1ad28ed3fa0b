"""What the simulator offers to play with, read from the project's database when reachable:
staff openids by role, grid boundaries (GeoJSON, WGS-84) and building units with their QR URL.

The sandbox works without a database too (a bare WeChat stand-in); then the lists are empty
and ``note`` says why.
"""
from __future__ import annotations

import logging

import peewee

from wechat.menu import click_buttons

MENU_KEYS = click_buttons()  # until a menu is created through menu/create

log = logging.getLogger("ejia.sandbox")
MAX_UNITS = 300
MAX_STAFF_PER_ROLE = 200


def load_world() -> dict:
    from backend.db import db

    world = {"staff": [], "grids": {"type": "FeatureCollection", "features": []}, "units": [], "note": None}
    try:
        with db.connection_context():
            world["staff"] = _staff()
            world["grids"]["features"] = _grids()
            world["units"] = _units()
    except (peewee.PeeweeException, AttributeError) as exc:  # AttributeError: proxy not initialised
        log.info("simulator world unavailable: %s", exc)
        world["note"] = f"database not reachable ({exc.__class__.__name__}); seed with `python -m server seed --demo`"
    return world


def _staff() -> list[dict]:
    from backend.models import Area, Staff
    from backend.models.people import ROLE_NAMES, ROLES

    groups = []
    for role in ROLES:
        query = (Staff.select(Staff, Area).join(Area, peewee.JOIN.LEFT_OUTER, on=(Staff.area == Area.id))
                 .where((Staff.role == role) & Staff.oa_openid.is_null(False) & (Staff.active == True))  # noqa: E712
                 .order_by(Staff.id).limit(MAX_STAFF_PER_ROLE))
        people = [{"name": s.name, "openid": s.oa_openid, "area": s.area.name if s.area_id else ""} for s in query]
        if people:
            groups.append({"role": role, "label": ROLE_NAMES.get(role, role), "people": people})
    return groups


def _grids() -> list[dict]:
    from backend.models import Area

    features = []
    query = Area.select().where((Area.level.in_(("community", "grid"))) & Area.boundary.is_null(False)).order_by(Area.path)
    for area in query:
        if isinstance(area.boundary, dict) and area.boundary.get("type") in ("Polygon", "MultiPolygon"):
            features.append({"type": "Feature", "geometry": area.boundary,
                             "properties": {"name": area.name, "code": area.code, "level": area.level}})
    return features


def _units() -> list[dict]:
    from backend.models import Building, BuildingUnit
    from backend.qr import unit_url

    query = (BuildingUnit.select(BuildingUnit, Building).join(Building)
             .order_by(Building.id, BuildingUnit.id).limit(MAX_UNITS))
    return [{"label": f"{u.building.address or u.building.name} {u.name}", "url": unit_url(u.qr_token)}
            for u in query]
