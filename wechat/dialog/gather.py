"""The shell's half of the engine contract: look up the facts one message needs. Reads only —
apart from the audit rows that record a staff member being shown a restricted case.

Which facts depend on the message and the state — a location message needs its grid, a
typed address while we wait for a place needs building matches, “待办” needs the task
list — so most messages cost one or two indexed queries. Nothing here writes or calls out.
"""
from __future__ import annotations

import calendar
import math

from backend import clock, geo, privacy, taxonomy
from backend.errors import DomainError
from backend.models import Area, Building, BuildingUnit, Category, Event
from backend.models.events import STATUS_NAMES
from backend.qr import unit_for_scan
from backend.services.address import resolve_address
from backend.services import revisits
from backend.services import staff as staff_service
from backend.workflow import OPEN_STATUSES
from wechat.dialog import lookups
from wechat.dialog.facts import CategoryFact, Facts, NearbyFact, PlaceFact, StaffFact
from wechat.dialog.intents import REVISIT_ANSWERS, clip, parse
from wechat.dialog.state import State
from wechat.messages import Incoming

SILENT_EVENTS = ("LOCATION", "VIEW", "TEMPLATESENDJOBFINISH", "unsubscribe", "location_select")
PLACE_STEPS = ("place", "place_choice")
CATEGORY_STEPS = ("confirm", "category")
MAX_NEARBY = 5


def epoch(value) -> int:
    return calendar.timegm(value.utctimetuple())


def gather(state: State, msg: Incoming, settings, store, expired_flow: str | None = None) -> Facts:
    facts: dict = {"now": epoch(clock.now()), "ttl": settings.dialog_ttl_seconds, "expired_flow": expired_flow}
    if msg.kind == "event" and msg.event in SILENT_EVENTS:
        return Facts(**facts)
    staff = staff_service.staff_for_openid(msg.openid)
    if staff is not None:
        area = staff.area if staff.area_id else None
        facts["staff"] = StaffFact(staff.id, staff.name, staff.role, lookups.role_name(staff.role),
                                   area.name if area else "")
    text = clip(msg.text)[0] if msg.kind in ("text", "voice") and msg.text else ""
    intent = parse(text) if text else None
    name = intent.name if intent else None
    if msg.kind == "event" and msg.event == "CLICK":
        name = {"PROGRESS": "progress", "TODO": "todo"}.get((msg.key or "").upper())
    reporting = state.flow in (None, "report")

    if intent and name == "staff" and staff is None and intent.action == "escalate":
        name = "text"  # a resident's “上报 3 号楼…” is a description (the engine reads it so too)
    if intent and name == "text":
        facts["suggestions"] = suggestions(text)
        if (state.flow == "report" and state.step in PLACE_STEPS) or (
                state.flow == "emergency" and state.step == "place"):
            facts["address_matches"], facts["address_ask"] = address_matches(text, settings)
    if intent and name == "skip" and state.flow == "report" and state.step == "place_choice":
        facts["address_matches"] = ()
    if msg.kind == "location":
        facts["message_place"], facts["place_error"] = location_place(msg, settings)
    if msg.kind == "event" and msg.event in ("scancode_waitmsg", "scancode_push"):
        facts["scanned_place"] = scanned_place(msg.text, settings)
    if msg.kind == "event" and msg.event in ("SCAN", "subscribe_scan") and (msg.key or "").startswith("unit:"):
        facts["scanned_place"] = scanned_place(msg.key[len("unit:"):], settings)
    if reporting and (msg.kind != "event" or name is None):
        facts["recent_place"] = recent_place(msg.openid, store, settings)
    if state.flow == "report" and state.step in CATEGORY_STEPS:
        facts["categories"] = categories()
    resident_id = lookups.resident_id(msg.openid)
    if name == "progress":
        facts["my_events"] = lookups.my_events(resident_id)
    if name in ("mydata", "erase") and resident_id:
        facts["my_data"] = lookups.my_data(resident_id)
    if name in ("query", "withdraw", "rate") and intent.ref:
        facts["event"] = lookups.event_for(intent.ref, resident_id, staff)
    if name in ("rate", "choice") and resident_id and state.flow in (None, "rate"):
        facts["rateable"] = lookups.rateable(resident_id)
    if text.strip() in REVISIT_ANSWERS and resident_id:
        asked = revisits.asked_of(resident_id)
        facts["revisit_asked"] = asked.event.number if asked else None
    if name == "complain" and resident_id:
        facts["complainable"] = lookups.complainable(resident_id)
    if staff is not None and (name == "todo" or (msg.kind in ("image", "video", "shortvideo") and state.idle)):
        facts.update(lookups.tasks(staff))  # 待办, or a photo that may belong to a case in hand
    if staff is not None and name == "staff" and intent.ref:
        facts["task"] = lookups.task_for(staff, intent.ref)
    return Facts(**facts)


# ------------------------------------------------------------------ categories


def _category_rows() -> list[dict]:
    """Every category as the few fields the chat needs: one query, plain rows (no model
    objects, no query per parent) — it runs for every text a resident sends."""
    return list(Category.select(Category.id, Category.code, Category.name, Category.plain_name, Category.keywords,
                                Category.emergency_number, Category.parent, Category.active)
                .order_by(Category.sort_order, Category.code).dicts())


def suggestions(text: str) -> tuple:
    rows = _category_rows()
    code_of = {row["id"]: row["code"] for row in rows}
    leaves = [row for row in rows if row["parent"] is not None and row["active"]]
    by_code = {row["code"]: row for row in leaves}
    ranked = taxonomy.suggest(text, leaves, limit=3)
    return tuple(CategoryFact(code, by_code[code]["plain_name"] or by_code[code]["name"], code_of.get(by_code[code]["parent"]))
                 for code, _score in ranked if code in by_code)


def categories() -> tuple:
    rows = list(Category.select().where(Category.active == True)  # noqa: E712
                .order_by(Category.sort_order, Category.code))
    codes = {c.id: c.code for c in rows}
    return tuple(CategoryFact(c.code, c.plain_name or c.name, codes.get(c.parent_id)) for c in rows)


# ------------------------------------------------------------------ places


def _areas_of(grid: Area | None) -> tuple[str | None, str | None]:
    if grid is None:
        return None, None
    parent = Area.get_or_none(Area.id == grid.parent_id) if grid.parent_id else None
    return grid.name, parent.name if parent is not None and parent.level == "community" else None


def nearby(lat: float | None, lng: float | None, radius_m: float) -> tuple:
    """Open events of any category near a WGS-84 point, nearest first (for 关注这件)."""
    if lat is None or lng is None:
        return ()
    d_lat = math.degrees(radius_m / geo.EARTH_RADIUS_M)
    d_lng = d_lat / max(math.cos(math.radians(lat)), 1e-6)
    rows = (Event.select(Event, Category).join(Category, on=(Event.category == Category.id))
            .where(Event.status.in_(OPEN_STATUSES), Event.lat.between(lat - d_lat, lat + d_lat),
                   Event.lng.between(lng - d_lng, lng + d_lng),
                   Event.sensitivity == "public", Event.anonymous == False)  # noqa: E712 — shown to others
            .limit(200))
    found = []
    for event in rows:
        distance = geo.haversine_m(lat, lng, event.lat, event.lng)
        if distance <= radius_m:
            found.append((distance, event))
    found.sort(key=lambda pair: (pair[0], pair[1].id))
    return tuple(NearbyFact(e.number, e.category.code, e.category.plain_name or e.category.name,
                            STATUS_NAMES.get(e.status, e.status), int(round(d)),
                            privacy.scrub(e.description[:40]))
                 for d, e in found[:MAX_NEARBY])


def point_place(lat, lng, datum: str, settings, source: str, label: str = "") -> PlaceFact:
    """A coordinate as sent (in ``datum``) → its grid and community, and what is open nearby."""
    w_lat, w_lng = geo.to_wgs84(lat, lng, datum)
    grid_id = geo.grid_index().locate(w_lat, w_lng)
    grid = Area.get_or_none(Area.id == grid_id) if grid_id else None
    grid_name, community = _areas_of(grid)
    return PlaceFact(source=source, label=(label or "")[:40], grid_id=grid.id if grid else None,
                     grid_name=grid_name, community_name=community, lat=float(lat), lng=float(lng),
                     datum=datum, outside=grid is None,
                     nearby=nearby(w_lat, w_lng, settings.duplicate_radius_m))


def location_place(msg: Incoming, settings) -> tuple[PlaceFact | None, str | None]:
    if msg.lat is None or msg.lng is None:
        return None, "位置不完整"
    try:
        return point_place(msg.lat, msg.lng, settings.wechat_location_datum, settings, "location", msg.label), None
    except DomainError as err:
        return None, err.message.rstrip("，请重新发送位置")


def recent_place(openid: str, store, settings) -> PlaceFact | None:
    recent = store.recent_location(openid)
    if recent is None:
        return None
    try:
        return point_place(recent["lat"], recent["lng"], settings.wechat_location_datum, settings, "recent")
    except (DomainError, KeyError, TypeError, ValueError):
        return None


def _building_place(building: Building, unit: BuildingUnit | None, settings, source: str,
                    lat_for_submit: bool) -> PlaceFact:
    grid = Area.get_or_none(Area.id == building.area_id)
    grid_name, community = _areas_of(grid)
    label = (building.address or building.name) + (f" {unit.name}" if unit else "")
    lat = building.lat if lat_for_submit and unit is None else None
    lng = building.lng if lat_for_submit and unit is None else None
    return PlaceFact(source=source, label=label[:40], grid_id=grid.id if grid else None, grid_name=grid_name,
                     community_name=community, lat=lat, lng=lng, datum="wgs84",
                     building_unit_id=unit.id if unit else None,
                     nearby=nearby(building.lat, building.lng, settings.duplicate_radius_m))


def scanned_place(scanned: str | None, settings) -> PlaceFact | None:
    unit = unit_for_scan(scanned)
    if unit is None:
        return None
    return _building_place(unit.building, unit, settings, "qr", lat_for_submit=False)


def address_matches(text: str, settings) -> tuple[tuple, bool]:
    """Buildings and areas the text may name (the backend's one matcher), as places to confirm or
    choose, and whether they are only a guess to be offered as a choice even when alone.

    One clear winner → one place; several → numbered choices (one more than the chat lists means
    "too many"). A grid named without a building is a place without coordinates that still routes
    to that grid; a community (or anything above a grid) goes to the centre, which places it (as
    Open311 does).
    """
    resolution = resolve_address(text)
    places = []
    for cand in resolution.places:
        if cand.kind == "building":
            building = Building.get_or_none(Building.id == cand.id)
            if building is None:
                continue
            unit = BuildingUnit.get_or_none(BuildingUnit.id == cand.unit_id) if cand.unit_id else None
            places.append(_building_place(building, unit, settings, "address", lat_for_submit=True))
        else:
            area = Area.get_or_none(Area.id == cand.id)
            if area is None:
                continue
            if area.level == "grid":  # a grid named without coordinates: the event goes to it
                grid_name, community = _areas_of(area)
                places.append(PlaceFact(source="area", grid_id=area.id, grid_name=grid_name,
                                        community_name=community))
            else:  # a community or above: the centre places it in a grid
                places.append(PlaceFact(source="area", label=cand.label[-20:],
                                        community_name=area.name if area.level == "community" else None))
    return tuple(places), resolution.outcome == "choices"
