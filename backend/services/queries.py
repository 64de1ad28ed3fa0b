"""Read-side queries shared by every channel: staff task lists, a resident's events, trajectories."""
from __future__ import annotations

from dataclasses import dataclass

import peewee

from backend.db import is_postgres
from backend.errors import DomainError, Forbidden
from backend.models import Area, Attachment, Event, EventStep, Media, Staff
from backend.models.events import STATUS_NAMES
from backend.services.context import event_view, masked_label
from backend.workflow import ACTION_LABELS, Actor, can_see

VIEWS = ("todo", "doing", "done")
MAX_PAGE_SIZE = 100


@dataclass
class Page:
    items: list
    total: int
    page: int
    page_size: int
    capped: bool = False  # there are more than ``total`` (a count that stops, DONE_COUNT_CAP)


def _paging(page, page_size) -> tuple[int, int]:
    try:
        page, page_size = int(page), int(page_size)
    except (TypeError, ValueError):
        raise DomainError("bad_paging", "页码不正确") from None
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise DomainError("bad_paging", f"页码从 1 开始，每页 1 到 {MAX_PAGE_SIZE} 条")
    return page, page_size


def holding_clause(staff: Staff):
    """Events this staff member's unit holds (the grid's workers share the grid's tasks)."""
    if staff.role == "department_staff":
        return (Event.holder_level == "department") & (Event.holder_department == staff.department_id)
    level = {"grid_worker": "grid", "community_head": "community"}.get(staff.role, "centre")
    return (Event.holder_level == level) & (Event.holder_area == staff.area_id)


def scope_clause(staff: Staff):
    """Events inside the staff member's area subtree."""
    if staff.area_id is None:
        return Event.id.is_null()  # nothing
    return Event.area_path.startswith(staff.area.path)


def visible_clause(staff: Staff):
    """``workflow.can_see`` as SQL, for lists: what the unit holds, the holder's chain, events
    this grid worker must verify, and — unless restricted (sensitive or anonymous) — every
    event inside the staff member's area."""
    holding = holding_clause(staff)
    if staff.area_id is None:
        return holding
    path = staff.area.path
    in_area = Event.area_path.startswith(path)
    unrestricted = (Event.sensitivity != "sensitive") & (Event.anonymous == False)  # noqa: E712
    if staff.role == "admin":
        return holding | in_area | Event.holder_path.startswith(path)
    chain = Event.id.is_null()  # nothing
    if staff.role == "community_head":
        chain = Event.holder_path.startswith(path) & Event.holder_level.in_(("grid", "community"))
    elif staff.role == "centre_operator":
        chain = Event.holder_path.startswith(path) | (Event.holder_path.is_null() & in_area)
    elif staff.role == "grid_worker":
        chain = (Event.status == "resolved") & (Event.grid == staff.area_id)
    return holding | chain | (in_area & unrestricted)


def staff_tasks(staff: Staff, view: str = "todo", page=1, page_size=20) -> Page:
    """todo: waiting for this unit to accept; doing: being handled (or awaiting my verification);
    done: closed events this unit handled or that lie in its area. Nearest deadline first."""
    if view not in VIEWS:
        raise DomainError("bad_view", "view 只能是 todo、doing 或 done")
    page, page_size = _paging(page, page_size)
    holding = holding_clause(staff)
    if view == "todo":
        where = holding & (Event.status == "assigned")
        order = (Event.accept_due_at.asc(nulls="LAST"), Event.id)
    elif view == "doing":
        where = holding & (Event.status == "processing")
        if staff.role == "grid_worker":
            where |= (Event.status == "resolved") & (Event.grid == staff.area_id)
        order = (Event.resolve_due_at.asc(nulls="LAST"), Event.id)
    else:
        total, capped, page_query = _done(staff, page, page_size)
        return Page(list(page_query), total, page, page_size, capped)
    query = Event.select().where(where)
    total = query.count()
    items = list(query.order_by(*order).paginate(page, page_size))
    return Page(items, total, page, page_size)


#: The 已办 count stops here ("2000+"): an exact count of a street's closed cases reads every one
#: of them (≈ 0.4 s at 1 000 000 events, bench/bench_todo.py), for a number nobody pages through.
DONE_COUNT_CAP = 2000


def _done_where(staff: Staff):
    return (Event.status == "closed") & visible_clause(staff)


def _capped_count(where):
    """COUNT of the rows ``where`` selects, stopping at DONE_COUNT_CAP + 1."""
    counted = Event.select(Event.id).where(where).limit(DONE_COUNT_CAP + 1)
    return Event.select(peewee.fn.COUNT(peewee.SQL("1"))).from_(counted.alias("done_capped"))


def _done(staff: Staff, page: int, page_size: int):
    """已办: closed events the staff member may see, newest first — (total, capped, page query).

    One OR of prefix tests and holder tests has no index that yields it in ``closed_at``
    order: left to itself, PostgreSQL walked ``event_closed_at`` backwards through the whole
    table for a grid worker whose few hundred closed cases are spread over years (≈ 0.3 s at
    1 000 000 events). The count tells the two shapes apart: a list under the cap is collected
    whole through the indexes (a bitmap over the unit's and the area's rows) and sorted in
    memory; a longer one is read newest first along ``event (closed_at)``, where its rows are
    dense enough to fill a page at once."""
    where = _done_where(staff)
    order = (Event.closed_at.desc(), Event.id.desc())
    total = _capped_count(where).scalar()
    capped = total > DONE_COUNT_CAP
    total = min(total, DONE_COUNT_CAP)
    if capped or not is_postgres():
        # closed_at spelled out although a closed event always has one: the backward walk then
        # starts at the newest closing instead of passing every open event's NULL first.
        query = Event.select().where(where & Event.closed_at.is_null(False)).order_by(*order).paginate(page, page_size)
        return total, capped, query
    rows = Event.select(Event.id, Event.closed_at).where(where).cte("done_rows", materialized=True)
    ids = (rows.select_from(rows.c.id).order_by(rows.c.closed_at.desc(), rows.c.id.desc())
           .paginate(page, page_size))
    return total, capped, Event.select().where(Event.id.in_(ids)).order_by(*order)


def done_statements(staff: Staff, page=1, page_size=20) -> list:
    """The statements behind a 已办 (done) page — its count and its page — for EXPLAIN
    (bench/bench_todo.py)."""
    page, page_size = _paging(page, page_size)
    _total, _capped, query = _done(staff, page, page_size)
    return [_capped_count(_done_where(staff)), query]


def resident_events(resident_id: int, page=1, page_size=20) -> Page:
    page, page_size = _paging(page, page_size)
    query = Event.select().where(Event.reporter_resident == resident_id)
    total = query.count()
    items = list(query.order_by(Event.id.desc()).paginate(page, page_size))
    return Page(items, total, page, page_size)


def check_can_see(event: Event, actor: Actor) -> None:
    if not can_see(event_view(event), actor):
        raise Forbidden("no_access", "您无权查看这件事")


def trajectory(event: Event, for_reporter: bool) -> list[dict]:
    """The 流程轨迹: every step for staff; public steps with staff names masked for the reporter."""
    steps = EventStep.select().where(EventStep.event == event).order_by(EventStep.id)
    if for_reporter:
        steps = steps.where(EventStep.public == True)  # noqa: E712
    photos: dict[int, list[int]] = {}
    voices: dict[int, list[int]] = {}
    for att in (Attachment.select(Attachment.step, Media.id, Media.kind).join(Media)
                .where(Attachment.event == event).order_by(Attachment.id)):
        if att.step_id:
            (voices if att.media.kind == "voice" else photos).setdefault(att.step_id, []).append(att.media.id)
    out = []
    for step in steps:
        actor = step.actor_label
        if for_reporter and step.actor_kind == "staff":
            actor = masked_label(actor)
        out.append({
            "action": step.action, "action_name": ACTION_LABELS.get(step.action, step.action),
            "actor": actor, "from_status": step.from_status, "to_status": step.to_status,
            "status_name": STATUS_NAMES.get(step.to_status, step.to_status),
            "note": step.note, "at": step.created_at,
            "media_ids": photos.get(step.id, []) + voices.get(step.id, []),
            "photo_ids": photos.get(step.id, []), "voice_ids": voices.get(step.id, []),
        })
    return out


def last_step(event: Event, public_only: bool = True) -> EventStep | None:
    query = EventStep.select().where(EventStep.event == event)
    if public_only:
        query = query.where(EventStep.public == True)  # noqa: E712
    return query.order_by(EventStep.id.desc()).first()


def find_task_by_short_number(staff: Staff, short: str) -> Event | None:
    """Staff may type the daily sequence shown in 待办 ("3") instead of "20261126-0003":
    match it against the events their unit holds; the most recent wins."""
    try:
        seq = int(short)
    except ValueError:
        return None
    suffix = f"-{seq:04d}"
    candidates = (Event.select().where(holding_clause(staff) | ((Event.status == "resolved")
                                                                 & (Event.grid == staff.area_id)))
                  .where(Event.number.endswith(suffix)).order_by(Event.id.desc()))
    return candidates.first()


def areas_in_order(parent: Area | None = None):
    """Areas in administrative order (sort_order, code) — never ranked by a figure."""
    query = Area.select()
    query = query.where(Area.parent.is_null()) if parent is None else query.where(Area.parent == parent)
    return list(query.order_by(Area.sort_order, Area.code))


def staff_of_area(area_id: int, role: str | None = None):
    query = Staff.select().where((Staff.area == area_id) & (Staff.active == True))  # noqa: E712
    if role:
        query = query.where(Staff.role == role)
    return list(query.order_by(Staff.id))
