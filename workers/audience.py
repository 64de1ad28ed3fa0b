"""Who hears what (issue 5, item 3): an outbox fact → deliveries (recipient × channel).

Staff (the holder's people): new task (route), escalation, dispatch, urge, overdue, yellow
warning, task to verify, 返工 → OA template message; SMS instead when they have no OA openid,
and as well for urgent categories. Residents (the reporter; followers at closure):
受理, 办结 + 请评价, 不予受理, a staff 留言, a revisit question → on the channel the resident
delivery policy picks (workers/reach.py).

Pure decisions over rows already loaded; nothing is written here (workers/delivery.py does).
"""
from __future__ import annotations

import logging

from backend.config import Settings
from backend.db import Statement
from backend.models import Area, Department, Event, EventFollower, EventStep, OutboxMessage, Resident, Staff
from workers import messages, reach
from workers.notices import Delivery

log = logging.getLogger("ejia.audience")
TASK_ACTIONS = {"route": "task", "escalate": "escalate", "dispatch": "dispatch", "locate": "task"}
REOPENING = ("reopen", "complain", "revisit")  # actions that can send a case back to its handler
__all__ = ["Delivery", "plan", "holder_staff", "supervisors", "chain_above", "staff_deliveries", "sms_fallback"]


def holder_staff(holder: dict | None) -> list[Staff]:
    """The people of a holder ({level, area_id, department_id, staff_id}): the named person,
    else everyone of the holding unit (the grid's workers share the grid's tasks)."""
    if not holder:
        return []
    active = Staff.active == True  # noqa: E712
    if holder.get("staff_id"):
        person = _ACTIVE_STAFF.first(int(holder["staff_id"]))  # a holder read back from JSON
        if person is not None:
            return [person]
    level = holder.get("level")
    if level == "department":
        query = Staff.select().where(active & (Staff.role == "department_staff")
                                     & (Staff.department == holder.get("department_id")))
    else:
        role = {"grid": "grid_worker", "community": "community_head"}.get(level, "centre_operator")
        query = Staff.select().where(active & (Staff.role == role) & (Staff.area == holder.get("area_id")))
    return list(query.order_by(Staff.id))


def supervisors(holder: dict | None) -> list[Staff]:
    """Who supervises a holder: grid → community head; community → street centre;
    department → the centre of the street it serves; centre → the centre above."""
    if not holder:
        return []
    level = holder.get("level")
    if level == "department":
        department = Department.get_or_none(Department.id == holder.get("department_id"))
        area_id = department.area_id if department else None
        return holder_staff({"level": "centre", "area_id": area_id}) if area_id else []
    area = Area.get_or_none(Area.id == holder.get("area_id"))
    if area is None or area.parent_id is None:
        return []
    parent_level = "community" if level == "grid" else "centre"
    return holder_staff({"level": parent_level, "area_id": area.parent_id})


def chain_above(holder: dict | None) -> list[Staff]:
    """Up to the street centre (DESIGN §11, emergencies): a grid's community head and street
    centre; a community's street centre; a department's centre."""
    people = supervisors(holder)
    if holder and holder.get("level") == "grid":
        grid = Area.get_or_none(Area.id == holder.get("area_id"))
        if grid is not None and grid.parent_id is not None:
            people += supervisors({"level": "community", "area_id": grid.parent_id})
    return people


def staff_deliveries(settings: Settings, prefix: str, person: Staff, event: Event, kind: str,
                     *, sms_kind: str | None = None) -> list[Delivery]:
    """Template if they follow the account; SMS if they do not, and always when urgent."""
    recipient = f"staff:{person.id}"
    out = []
    if person.oa_openid:
        out.append(Delivery(f"{prefix}:{recipient}:template", recipient, "template", kind,
                            messages.staff_template(settings, event, kind, person.oa_openid, person.id),
                            event.urgent))
    if (event.urgent or not person.oa_openid) and person.phone_enc:
        text_kind = ("urgent" if event.urgent and kind in ("task", "escalate", "dispatch", "emergency")
                     else (sms_kind or kind))
        out.append(Delivery(f"{prefix}:{recipient}:sms", recipient, "sms", kind,
                            messages.sms_content(text_kind, event, recipient), event.urgent))
    if not out:
        log.info("staff %s cannot be reached (no OA openid, no phone); %s for %s not sent",
                 person.id, kind, event.number)
    return out


def sms_fallback(settings: Settings, key: str, person: Staff, event: Event, kind: str) -> Delivery | None:
    """The SMS that replaces a template WeChat refused permanently (40003, 43004, 43101 …)."""
    if not person.phone_enc:
        return None
    recipient = f"staff:{person.id}"
    prefix = key.rsplit(":", 3)[0]
    return Delivery(f"{prefix}:{recipient}:sms", recipient, "sms", kind,
                    messages.sms_content(kind, event, recipient), event.urgent)


def _resident_kind(action: str, event: Event, step: EventStep | None) -> str | None:
    """Which notice (workers/notices.py) a fact means for the reporter, if any."""
    to_status = step.to_status if step is not None else event.status
    if action == "accept":
        return "accepted"
    if action == "reject":
        return "rejected"
    if action == "comment" and step is not None and step.public and step.actor_kind == "staff":
        return "comment"
    if action == "revisit_ask":
        return "revisit"
    if to_status == "closed" and action in ("resolve", "verify"):
        return "rework_done" if event.reopen_count else "closed"
    return None


def _staff_plan(message: OutboxMessage, event: Event, step: EventStep | None) -> list[tuple[Staff, str]]:
    """(person, kind) pairs for the staff side of one fact."""
    action = message.topic.removeprefix("event.")
    holder = step.to_holder if step is not None else _current_holder(event)
    if action in TASK_ACTIONS:
        if action == "locate" and (step is None or step.to_holder == step.from_holder):
            return []  # a place added while someone already works on it: no new task
        if step is not None and event.status != step.to_status:
            log.info("%s: %s already moved on to %s; no task notice", event.number, action, event.status)
            return []
        kind = TASK_ACTIONS[action]
        if action == "route" and _was_returned(event, step):
            kind = "return_task"
        if event.emergency and action in ("route", "locate"):
            # An emergency goes to the holder and, at once, up to the street centre (template + SMS,
            # quiet hours ignored: the event is urgent).
            return [(p, "emergency") for p in holder_staff(holder) + chain_above(holder)]
        return [(p, kind) for p in holder_staff(holder)]
    if action == "urge":
        overdue = bool(step and (step.data or {}).get("reason") == "overdue")
        pairs = [(p, "overdue" if overdue else "urge") for p in holder_staff(holder)]
        if overdue:
            pairs += [(p, "overdue_supervisor") for p in supervisors(holder)]
        return pairs
    if action == "sla_yellow":
        return [(p, "yellow") for p in holder_staff(holder)]
    if action == "resolve" and step is not None and step.to_status == "resolved" and event.grid_id:
        return [(p, "verify") for p in holder_staff({"level": "grid", "area_id": event.grid_id})]
    if action in REOPENING and step is not None and step.to_status == "processing":
        return [(p, "reopened") for p in holder_staff(holder)]  # 返工: the last handler is told
    return []


def plan(settings: Settings, message: OutboxMessage, event: Event, step: EventStep | None) -> list[Delivery]:
    """Every delivery one outbox fact calls for; keys make re-planning harmless."""
    prefix = str(step.id) if step is not None else f"o{message.id}"
    actor_id = step.actor_staff_id if step is not None else None
    deliveries: list[Delivery] = []
    seen: set[int] = set()
    for person, kind in _staff_plan(message, event, step):
        if person.id == actor_id or person.id in seen:
            continue  # nobody is told about their own action, nobody twice
        seen.add(person.id)
        deliveries += staff_deliveries(settings, prefix, person, event, kind)
    action = message.topic.removeprefix("event.")
    kind = _resident_kind(action, event, step)
    if kind is None:
        return deliveries
    note = step.note if step is not None else None
    reporter = Resident.get_or_none(Resident.id == event.reporter_resident_id) if event.reporter_resident_id else None
    if reporter is not None and not reach.already_planned(prefix, reporter):
        deliveries.append(reach.plan_notice(settings, prefix, reporter, event, kind, note))
    if kind in ("closed", "rework_done"):
        for follower in (Resident.select().join(EventFollower)
                         .where(EventFollower.event == event.id).order_by(Resident.id)):
            if not reach.already_planned(prefix, follower):
                deliveries.append(reach.plan_notice(settings, prefix, follower, event, "follower_closed"))
    return deliveries


def _current_holder(event: Event) -> dict | None:
    if not event.holder_level:
        return None
    return {"level": event.holder_level, "area_id": event.holder_area_id,
            "department_id": event.holder_department_id, "staff_id": event.holder_staff_id}


def _was_returned(event: Event, step: EventStep | None) -> bool:
    if step is not None:
        return _RETURN_BEFORE.first(event.id, step.id) is not None
    return _RETURN_EVER.first(event.id) is not None


def _returns(event_id: int):
    return EventStep.select(EventStep.id).where((EventStep.event == event_id) & (EventStep.action == "return"))


# Read for every notice: SQL built once (backend.db.Statement).
_ACTIVE_STAFF = Statement(
    lambda staff_id: Staff.select().where((Staff.id == staff_id) & (Staff.active == True)).limit(1))  # noqa: E712
_RETURN_BEFORE = Statement(lambda event_id, step_id: _returns(event_id).where(EventStep.id < step_id).limit(1))
_RETURN_EVER = Statement(lambda event_id: _returns(event_id).limit(1))
