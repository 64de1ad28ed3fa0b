"""Read-side look-ups for the chat: a resident's events, a staff member's tasks, places by name.

Rows become the plain facts of facts.py here, with times already in local words
(“今天 17:30”), staff names masked for residents, and access checked: an event someone may
not see is simply not found.
"""
from __future__ import annotations

import datetime as dt

from backend import clock
from backend.models import Event, EventStep, Rating, Resident, Staff
from backend.models.people import ROLE_NAMES
from backend.services import audit, personal_data, queries
from backend.services.context import event_view, staff_actor
from backend.services.follow import followed_events, is_follower
from backend.workflow import can_see
from wechat.dialog.facts import EventFact, MyDataFact, TaskFact
from wechat.dialog.intents import is_full_number

RATE_WITHIN = dt.timedelta(days=7)
MAX_EVENTS = 5
MAX_TASKS = 10


def role_name(role: str) -> str:
    return ROLE_NAMES.get(role, role)


def when(value: dt.datetime | None) -> str:
    """Naive UTC → “今天 17:30” / “明天 09:00” / “11月28日 17:30” in local time."""
    if value is None:
        return ""
    local = clock.to_local(value)
    today = clock.to_local(clock.now()).date()
    day = {today: "今天", today + dt.timedelta(days=1): "明天", today - dt.timedelta(days=1): "昨天"}.get(
        local.date(), f"{local.month}月{local.day}日")
    return f"{day} {local:%H:%M}"


def resident_id(openid: str) -> int | None:
    row = Resident.select(Resident.id).where(Resident.oa_openid == openid).first()
    return row.id if row else None


# ------------------------------------------------------------------ residents' events


def _step_line(step: dict) -> str:
    line = f"{when(step['at'])} {step['action_name']}"
    if step.get("actor") and step["action"] not in ("route",):
        line += f" {step['actor']}"
    if step.get("note"):
        line += f"：{step['note'][:30]}"
    return line


def _rated(event: Event) -> bool:
    return Rating.select().where(Rating.event == event.id).exists()


def event_fact(event: Event, *, for_reporter: bool, followed: bool = False, full: bool = False) -> EventFact:
    # When the case reached its present status (a status is shown as a status: "已办结（今天 05:07）",
    # never as the last action's label).
    since = (EventStep.select(EventStep.created_at)
             .where((EventStep.event == event.id) & (EventStep.to_status == event.status)
                    & EventStep.changes_status())
             .order_by(EventStep.id.desc()).first())
    last_line = when(since.created_at) if since else ""
    category = event.category.plain_name if event.category_id else ""
    trajectory = ()
    if full and not followed:
        trajectory = tuple(_step_line(s) for s in queries.trajectory(event, for_reporter=for_reporter))
    return EventFact(number=event.number, status=event.status, status_name=event.status_name,
                     description=category if followed else event.description, category_label=category,
                     last_step=last_line, rated=_rated(event), followed=followed, trajectory=trajectory)


def my_events(resident: int | None) -> tuple:
    if resident is None:
        return ()
    own = list(queries.resident_events(resident, page_size=MAX_EVENTS).items)
    follows = followed_events(resident, limit=MAX_EVENTS)
    merged = sorted([(e, False) for e in own] + [(e, True) for e in follows], key=lambda p: -p[0].id)
    return tuple(event_fact(e, for_reporter=True, followed=f) for e, f in merged[:MAX_EVENTS])


def event_for(ref: str, resident: int | None, staff: Staff | None) -> EventFact | None:
    """The event named in 查/撤回/评价: full number, or a short one among my own; else None."""
    if is_full_number(ref):
        event = Event.get_or_none(Event.number == ref)
    elif resident is not None:
        event = (Event.select().where((Event.reporter_resident == resident)
                                      & Event.number.endswith(f"-{int(ref):04d}"))
                 .order_by(Event.id.desc()).first())
    else:
        event = None
    if event is None and staff is not None and not is_full_number(ref):
        event = queries.find_task_by_short_number(staff, ref)
    if event is None:
        return None
    if resident is not None and event.reporter_resident_id == resident:
        return event_fact(event, for_reporter=True, full=True)
    if staff is not None and can_see(event_view(event), staff_actor(staff)):
        audit.restricted_views(staff_actor(staff), [event], "chat")
        return event_fact(event, for_reporter=False, full=True)
    if is_follower(event, resident):
        return event_fact(event, for_reporter=True, followed=True, full=True)
    return None


def complainable(resident: int) -> EventFact | None:
    """The latest event of mine closed in the last week, rated or not (没修好 reopens it)."""
    event = (Event.select().where((Event.reporter_resident == resident) & (Event.status == "closed")
                                  & (Event.closed_at >= clock.now() - RATE_WITHIN))
             .order_by(Event.closed_at.desc(), Event.id.desc()).first())
    return event_fact(event, for_reporter=True) if event else None


def rateable(resident: int) -> EventFact | None:
    since = clock.now() - RATE_WITHIN
    rated = Rating.select(Rating.event)
    event = (Event.select().where((Event.reporter_resident == resident) & (Event.status == "closed")
                                  & (Event.closed_at >= since) & Event.id.not_in(rated))
             .order_by(Event.closed_at.desc(), Event.id.desc()).first())
    return event_fact(event, for_reporter=True) if event else None


# ------------------------------------------------------------------ staff tasks


def _deadline(event: Event) -> tuple[str, bool]:
    due, verb = {"assigned": (event.accept_due_at, "受理"), "processing": (event.resolve_due_at, "办完"),
                 "resolved": (event.verify_due_at, "核查")}.get(event.status, (None, ""))
    if due is None:
        return "", False
    return f"{when(due)}前{verb}", due < clock.now()


def task_fact(event: Event, staff: Staff) -> TaskFact:
    deadline, overdue = _deadline(event)
    place = event.address or (event.grid.name if event.grid_id else "")
    return TaskFact(number=event.number, short=int(event.number.rsplit("-", 1)[1]), status=event.status,
                    status_name=event.status_name, description=event.description, place=(place or "")[:16],
                    deadline=deadline, overdue=overdue,
                    photo_required=event.category.photo_required if event.category_id else True,
                    own_grid=staff.role == "grid_worker" and event.grid_id is not None
                    and event.grid_id == staff.area_id)


def tasks(staff: Staff) -> dict:
    todo = queries.staff_tasks(staff, "todo", page_size=MAX_TASKS)
    doing = queries.staff_tasks(staff, "doing", page_size=MAX_TASKS)
    more = todo.total - len(todo.items) + doing.total - len(doing.items)
    audit.restricted_views(staff_actor(staff), todo.items + doing.items, "chat")
    return {"tasks_todo": tuple(task_fact(e, staff) for e in todo.items),
            "tasks_doing": tuple(task_fact(e, staff) for e in doing.items), "tasks_more": more}


def task_for(staff: Staff, ref: str) -> TaskFact | None:
    if is_full_number(ref):
        event = Event.get_or_none(Event.number == ref)
        if event is None or not can_see(event_view(event), staff_actor(staff)):
            return None
    else:
        event = queries.find_task_by_short_number(staff, ref)
    if event is not None:
        audit.restricted_views(staff_actor(staff), [event], "chat")
    return task_fact(event, staff) if event else None


def my_data(resident: int) -> MyDataFact | None:
    """我的信息: what the system holds about this resident, masked."""
    row = Resident.get_or_none(Resident.id == resident)
    if row is None:
        return None
    data = personal_data.my_data(row)
    return MyDataFact(nickname=data.nickname, phone=data.phone, subscribe_opt_ins=data.subscribe_opt_ins,
                      reports_open=data.reports_open, reports_ended=data.reports_ended, follows=data.follows)


def grid_named_in(text: str, exclude: int | None = None):
    """The one grid whose name (or name without 网格) appears in a 退回 reason, else None."""
    from backend.models import Area

    found = [a for a in Area.select(Area.id, Area.name).where(Area.level == "grid")
             if a.id != exclude and (a.name in text or (len(a.name) > 4 and a.name.removesuffix("网格") in text))]
    return found[0] if len(found) == 1 else None
