"""Reporting use cases: submit, route, quick record (即报即办), numbering."""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field

import peewee

from backend import clock, config, emergency, geo, outbox, privacy, sla, taxonomy
from backend.db import Statement, for_update, transaction
from backend.errors import DomainError, Forbidden, NotFound
from backend.models import Area, BuildingUnit, Category, Event, EventCounter, EventStep, Staff
from backend.services.context import holder_fields, holder_json, staff_actor
from backend.workflow import SYSTEM, Actor, Holder, check_staff_role

log = logging.getLogger("ejia.events")

MAX_DESCRIPTION = 4000
SOURCES = ("wechat", "miniprogram", "console", "open311", "staff", "h5")


@dataclass
class Submission:
    description: str
    reporter: Actor
    source: str = "wechat"
    category_code: str | None = None
    lat: float | None = None
    lng: float | None = None
    datum: str = "wgs84"
    address: str | None = None
    building_unit_id: int | None = None
    location_confirmed: bool = False
    anonymous: bool = False
    client_key: str | None = None
    media_ids: list[int] = field(default_factory=list)
    wechat_media_ids: list[str] = field(default_factory=list)
    grid_id: int | None = None  # a grid named without coordinates (an address matched to a grid)
    step_data: dict | None = None  # extra facts kept on the submit step (e.g. Open311 media_url)


@dataclass
class SubmitResult:
    event: Event
    created: bool
    emergency: emergency.Emergency | None = None  # what the reporter must be told first (DESIGN §11)

    @functools.cached_property
    def nearby(self) -> list[Event]:
        """Open events of the same category close by (关注这件), looked up when a channel asks."""
        event = self.event
        if not self.created or event.lat is None or event.category_id is None:
            return []
        return geo.nearby_open_events(event.lat, event.lng, event.category_id,
                                      config.current().duplicate_radius_m, exclude_id=event.id)


def next_number(day: str | None = None) -> str:
    """YYYYMMDD-NNNN from a per-day counter row, atomic across processes (upsert … RETURNING)."""
    day = day or clock.local_today().strftime("%Y%m%d")
    cursor = (
        EventCounter.insert(day=day, value=1)
        .on_conflict(conflict_target=[EventCounter.day], update={EventCounter.value: EventCounter.value + 1})
        .returning(EventCounter.value)
        .execute()
    )
    value = next(iter(cursor)).value
    return f"{day}-{value:04d}"


def _clean_description(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError("description_required", "请说一说发生了什么")
    if len(text) > MAX_DESCRIPTION:
        raise DomainError("description_too_long", f"描述太长了，请控制在{MAX_DESCRIPTION}字以内")
    return text


_CACHE_SECONDS = 30.0
_category_cache: dict[str, tuple[float, Category | None]] = {}
_grid_cache: dict[int, tuple[float, Area | None]] = {}


def _cached(cache: dict, key, load):
    """A per-process look-up cache for rows that change rarely (categories, grids); an edit is
    seen by every process within _CACHE_SECONDS, which is acceptable for these tables."""
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    value = load()
    if len(cache) > 10000:
        cache.clear()
    cache[key] = (now, value)
    return value


def invalidate_caches() -> None:
    """Forget cached categories and grids (tests that rebuild the tables; an import of new areas)."""
    _category_cache.clear()
    _grid_cache.clear()


def _active_category(code: str) -> Category | None:
    return _cached(_category_cache, code, lambda: Category.get_or_none(
        (Category.code == code) & (Category.active == True)))  # noqa: E712


def _grid(grid_id: int) -> Area | None:
    return _cached(_grid_cache, grid_id, lambda: Area.get_or_none(Area.id == grid_id))


def resolve_category(code: str | None, description: str, danger: emergency.Emergency | None = None) -> Category:
    """The named category; else, for an emergency, its emergency category; else the best
    suggestion for the text, or 其他."""
    if code:
        category = _active_category(code)
        if category is None or category.parent_id is None:
            raise DomainError("unknown_category", "没有这个类别，请重新选择", category_code=code)
        return category
    if danger is not None and danger.kind != "category":
        category = _active_category(danger.category_code)
        if category is not None and category.parent_id is not None:
            return category
    leaves = list(Category.select().where(Category.parent.is_null(False) & (Category.active == True)))  # noqa: E712
    ranked = taxonomy.suggest(description, leaves, limit=1)
    if ranked:
        return next(c for c in leaves if c.code == ranked[0][0])
    other = [c for c in leaves if c.name == "其他"] or leaves
    if not other:
        raise DomainError("no_categories", "系统还没有设置事件类别，请联系管理员")
    return other[0]


def _place(sub: Submission):
    """(lat, lng, raw, grid) — the problem's place, from coordinates or a building QR."""
    lat = lng = None
    raw = (None, None, None)
    building = unit = None
    if sub.building_unit_id is not None:
        unit = BuildingUnit.get_or_none(BuildingUnit.id == sub.building_unit_id)
        if unit is None:
            raise DomainError("unknown_building", "没有找到这个楼栋二维码")
        building = unit.building
    if sub.lat is not None or sub.lng is not None:
        if sub.lat is None or sub.lng is None:
            raise DomainError("bad_coordinates", "位置不完整，请重新发送位置")
        geo.validate_coordinates(sub.lat, sub.lng)
        if sub.datum not in ("wgs84", "gcj02"):
            raise DomainError("bad_datum", "坐标系只能是 wgs84 或 gcj02")
        raw = (float(sub.lat), float(sub.lng), sub.datum)
        lat, lng = geo.to_wgs84(float(sub.lat), float(sub.lng), sub.datum)
    elif building is not None and building.lat is not None:
        lat, lng = building.lat, building.lng
    grid = None
    if building is not None and sub.lat is None:
        grid = building.area
    elif lat is not None:
        grid_id = geo.grid_index().locate(lat, lng)
        grid = _grid(grid_id) if grid_id else None
    elif sub.grid_id is not None:
        grid = Area.get_or_none((Area.id == sub.grid_id) & (Area.level == "grid"))
        if grid is None:
            raise DomainError("unknown_grid", "没有找到这个网格")
    return lat, lng, raw, grid, building, unit


def root_centre() -> Area:
    """Where unlocated events go: the top of the area tree (the city's 综治中心)."""
    area = Area.select().where(Area.parent.is_null()).order_by(Area.id).first()
    if area is None:
        raise DomainError("no_areas", "系统还没有设置辖区，请联系管理员")
    return area


def submit_event(sub: Submission) -> SubmitResult:
    """Accept a report: validate, number it, store event + step + outbox row in one transaction.

    A repeated ``client_key`` returns the earlier event (created=False) and writes nothing.
    """
    if sub.client_key:
        earlier = Event.get_or_none(Event.client_key == sub.client_key)
        if earlier is not None:
            return SubmitResult(earlier, created=False, emergency=_told(earlier))
    if sub.source not in SOURCES:
        raise DomainError("bad_source", "来源不正确")
    description = _clean_description(sub.description)
    danger = emergency.recognise(description)
    category = resolve_category(sub.category_code, description, danger)
    if danger is None and category.emergency_number:
        danger = emergency.for_numbers(category.emergency_number)
    sensitivity = category.sensitivity or "public"
    if danger is not None and danger.sensitive:
        sensitivity = privacy.higher(sensitivity, "sensitive")
    lat, lng, raw, grid, building, unit = _place(sub)
    now = clock.now()
    deadlines = sla.deadlines_for(category, now, sla.load_calendar(config.current().office_hours))
    area_path = grid.path if grid else root_centre().path
    reporter = sub.reporter
    try:
        with transaction():
            event = Event.create(
                number=next_number(), description=description, category=category, status="reported",
                lat=lat, lng=lng, raw_lat=raw[0], raw_lng=raw[1], raw_datum=raw[2],
                address=(sub.address or (building.address if building else None) or None),
                location_confirmed=sub.location_confirmed, grid=grid, area_path=area_path,
                building=building, building_unit=unit, source=sub.source,
                reporter_resident=reporter.id if reporter.kind == "resident" else None,
                reporter_staff=reporter.id if reporter.kind == "staff" else None,
                anonymous=sub.anonymous, client_key=sub.client_key or None,
                urgent=category.urgent or danger is not None, sensitivity=sensitivity,
                emergency=danger.number_text if danger else None, created_at=now, updated_at=now, **deadlines,
            )
            step = EventStep.create(
                event=event, action="submit", actor_kind=reporter.kind,
                actor_staff=reporter.id if reporter.kind == "staff" else None,
                actor_resident=reporter.id if reporter.kind == "resident" else None,
                actor_label=reporter.label or "居民", to_status="reported", created_at=now,
                data=_submit_data(sub.step_data, danger),
            )
            _attach(event, step, sub.media_ids, sub.wechat_media_ids)
            message = outbox.record("event.submitted", event, step, {
                "wechat_media_ids": list(sub.wechat_media_ids),
            })
    except peewee.IntegrityError:
        # Another process stored the same client key between our check and our insert.
        earlier = Event.get_or_none(Event.client_key == sub.client_key) if sub.client_key else None
        if earlier is None:
            raise
        return SubmitResult(earlier, created=False, emergency=_told(earlier))
    outbox.publish([message.id])
    return SubmitResult(event, created=True, emergency=danger)


def _submit_data(step_data: dict | None, danger: emergency.Emergency | None) -> dict | None:
    data = dict(step_data or {})
    if danger is not None:
        data["emergency"] = {"kinds": list(danger.kinds), "numbers": list(danger.numbers)}
    return data or None


def _told(event: Event) -> emergency.Emergency | None:
    """A repeated submission is answered as the first was: with the emergency line again."""
    if not event.emergency:
        return None
    return emergency.recognise(event.description) or emergency.for_numbers(event.emergency)


def _attach(event, step, media_ids, wechat_media_ids):
    from backend.models import Attachment, Media

    for media_id in media_ids or ():
        if not Media.select().where(Media.id == media_id).exists():
            raise DomainError("unknown_media", "图片没有上传成功，请重新上传")
        Attachment.create(event=event, step=step, media=media_id)
    for wechat_id in wechat_media_ids or ():
        Attachment.create(event=event, step=step, wechat_media_id=str(wechat_id)[:128])


def choose_grid_worker(grid_id: int, exclude: int | None = None) -> int | None:
    """The grid's worker with the fewest open tasks (ties: lowest id), never ``exclude`` (who
    returned it); None if the grid has nobody else."""
    row = _LEAST_LOADED_WORKER.first(grid_id, exclude or 0)
    return row.id if row else None


def _least_loaded_worker(grid_id: int, exclude: int):
    open_count = (
        Event.select(peewee.fn.COUNT(Event.id))
        .where((Event.holder_staff == Staff.id) & Event.status.in_(("assigned", "processing")))
    )
    return (
        Staff.select(Staff.id, open_count.alias("load"))
        .where((Staff.area == grid_id) & (Staff.role == "grid_worker") & (Staff.active == True)  # noqa: E712
               & (Staff.id != exclude))
        .order_by(peewee.SQL("load"), Staff.id)
        .limit(1)
    )


# The route's reads, on every new report: SQL built once (backend.db.Statement).
_LEAST_LOADED_WORKER = Statement(_least_loaded_worker)
_EVENT_FOR_ROUTE = Statement(lambda event_id: for_update(Event.select().where(Event.id == event_id).limit(1)))
# The step that made the event `reported` (its last change of status): a 留言 written after a
# 退回 must not make the route forget whom not to send it back to.
_LAST_STATUS_CHANGE = Statement(
    lambda event_id: EventStep.select().where((EventStep.event == event_id) & EventStep.changes_status())
    .order_by(EventStep.id.desc()).limit(1))


def route_event(event_id: int) -> Event:
    """reported → assigned: the grid it happened in, else the centre; after a 退回, the grid the
    returner named, else one level above the returner — never back to the person who returned it.

    Idempotent: an event that is no longer `reported` is left alone (jobs may run twice).
    """
    return route_event_and_step(event_id)[0]


def route_event_and_step(event_id: int) -> tuple[Event, EventStep | None]:
    """``route_event``, also giving the route step it wrote (None when it had nothing to do):
    the worker that routes hands both on to the notices of the same job."""
    from backend.services.actions import apply_transition, unit_of_work  # one writer of steps

    with unit_of_work():
        event = _EVENT_FOR_ROUTE.first(event_id)
        if event is None:
            raise NotFound("event_not_found", "没有找到这件事")
        if event.status != "reported":
            return event, None
        returned = _LAST_STATUS_CHANGE.first(event.id)
        if returned is not None and returned.action == "return":
            holder = _after_return(event, returned)
            event.suggested_grid = None  # used once; the return step keeps it on record
        elif event.grid_id is not None:
            holder = Holder("grid", area_id=event.grid_id, staff_id=choose_grid_worker(event.grid_id))
        else:
            holder = Holder("centre", area_id=_centre_for(event).id)
        step = apply_transition(event, SYSTEM, "route", {"holder": holder})
    return event, step


def _after_return(event: Event, returned: EventStep) -> Holder:
    returner = returned.actor_staff_id
    if event.suggested_grid_id is not None:
        grid_id = event.suggested_grid_id
        return Holder("grid", area_id=grid_id, staff_id=choose_grid_worker(grid_id, exclude=returner))
    came_from = returned.from_holder or {}
    level, area_id = came_from.get("level"), came_from.get("area_id")
    area = _grid(area_id) if area_id else None
    if level == "grid" and area is not None and area.parent_id:
        return Holder("community", area_id=area.parent_id)  # the community head re-routes it
    if level == "community" and area is not None and area.parent_id:
        return Holder("centre", area_id=area.parent_id)
    return Holder("centre", area_id=_centre_for(event).id)


def add_place(ref, reporter: Actor, *, lat=None, lng=None, datum="wgs84", address=None,
              building_unit_id=None, grid_id=None) -> Event:
    """补充位置: the reporter gives the place of a report filed without one. An emergency is filed
    the moment it is recognised, before its place is known; the place that follows routes it on
    from the centre to the grid where it happened (workflow action ``locate``)."""
    from backend.services.actions import apply_transition, unit_of_work  # one writer of steps

    sub = Submission(description="-", reporter=reporter, lat=lat, lng=lng, datum=datum, address=address,
                     building_unit_id=building_unit_id, grid_id=grid_id)
    lat_w, lng_w, raw, grid, building, unit = _place(sub)
    if grid is None and lat_w is None:
        raise DomainError("no_place", "没有认出这个位置，请重新发送位置")
    with unit_of_work():
        event = get_event_for_update(ref)
        holder = None
        if grid is not None:
            holder = Holder("grid", area_id=grid.id, staff_id=choose_grid_worker(grid.id))
        apply_transition(event, reporter, "locate", {"holder": holder, "note": address or None,
                                                     "unconfirmed": not event.location_confirmed})
        event.lat, event.lng = lat_w, lng_w
        event.raw_lat, event.raw_lng, event.raw_datum = raw
        event.grid = grid
        event.area_path = grid.path if grid else event.area_path
        event.building, event.building_unit = building, unit
        event.address = address or (building.address if building else None) or event.address
        event.location_confirmed = True
        event.save()
    return event


def get_event_for_update(ref) -> Event:
    from backend.services.context import get_event

    event = get_event(ref)
    return for_update(Event.select().where(Event.id == event.id)).get()


def _centre_for(event: Event) -> Area:
    """The street centre above the event's area, or the top of the tree when unlocated."""
    if event.area_path:
        ids = [int(p) for p in event.area_path.strip("/").split("/") if p]
        streets = list(Area.select().where(Area.id.in_(ids) & (Area.level == "street")))
        if streets:
            return streets[0]
    return root_centre()


def quick_record(staff: Staff, description: str, lat=None, lng=None, datum="wgs84",
                 category_code=None, media_ids=(), wechat_media_ids=(), client_key=None) -> Event:
    """即报即办: a small matter already solved → one closed event, one call. Never a quota."""
    actor = staff_actor(staff)
    check_staff_role(actor)
    if client_key:
        earlier = Event.get_or_none(Event.client_key == client_key)
        if earlier is not None:
            return earlier
    description = _clean_description(description)
    category = resolve_category(category_code, description)
    if category.photo_required and not (media_ids or wechat_media_ids):
        raise DomainError("photo_required", "请拍一张处理后的照片")
    sub = Submission(description=description, reporter=actor, lat=lat, lng=lng, datum=datum)
    lat_w, lng_w, raw, grid, _b, _u = _place(sub)
    if grid is None and staff.area_id and staff.area.level == "grid":
        grid = staff.area
    if grid is not None and actor.area_path and not grid.path.startswith(actor.area_path):
        raise Forbidden("out_of_area", "这个位置不在您负责的区域")
    holder = Holder(_level_for(actor), area_id=staff.area_id, department_id=staff.department_id,
                    staff_id=staff.id)
    now = clock.now()
    with transaction():
        event = Event.create(
            number=next_number(), description=description, category=category, status="closed",
            lat=lat_w, lng=lng_w, raw_lat=raw[0], raw_lng=raw[1], raw_datum=raw[2],
            grid=grid, area_path=grid.path if grid else (actor.area_path or root_centre().path),
            location_confirmed=True, source="staff", reporter_staff=staff, quick_record=True,
            sensitivity=category.sensitivity or "public",
            client_key=client_key or None, created_at=now, updated_at=now, accepted_at=now,
            resolved_at=now, closed_at=now, **holder_fields(holder),
        )
        step = EventStep.create(
            event=event, action="quick_record", actor_kind="staff", actor_staff=staff,
            actor_label=actor.label, to_status="closed", to_holder=holder_json(holder), created_at=now,
        )
        _attach(event, step, media_ids, wechat_media_ids)
        message = outbox.record("event.quick_record", event, step)
    outbox.publish([message.id])
    return event


def _level_for(actor: Actor) -> str:
    return {"grid_worker": "grid", "community_head": "community", "department_staff": "department"}.get(
        actor.role, "centre")
