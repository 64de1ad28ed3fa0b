"""Periodic domain sweeps the scheduler runs: SLA levels, 督办 and automatic escalation of
overdue events, and revisit sampling. Each records facts (steps, outbox rows) like any
other use case; workers decide who hears about them.

SLA, per open event and its current stage (assigned → accept, processing → resolve,
resolved → verify), on the working calendar (public holidays and 调休 included):

* ``ok → yellow`` (70 % of the allowed working time used) → outbox ``event.sla_yellow``
  (workers remind the holder);
* ``→ red`` (past the due time) on a held event → a 督办 (urge) step by the system with
  ``data = {"reason": "overdue", "stage": …}`` (workers tell the holder and their supervisor);
* red for longer than ``ESCALATION_GRACE_HOURS`` (natural hours after the due time, and
  again after each further grace period) → an automatic 上报 one level up
  (grid → community → centre; department → centre). A centre cannot go higher: it has
  been urged, and the console's overdue list shows it.
* A stage that changes (accepted, escalated and reopened events) may lower the stored
  level silently, so the next stage warns afresh.

The workflow allows urge only to supervisors and escalate only to the holder. The system
acts through a *system-like actor* with exactly that standing (a centre operator whose
scope is the whole tree; the holding unit's own role), goes through the same
``actions.apply_transition`` as people do, and the step is then marked ``actor_kind =
"system"`` so the trajectory shows 系统, not a person.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging

from backend import clock, config, outbox, sla
from backend.db import for_update
from backend.errors import DomainError
from backend.models import Event, EventStep, Rating, Revisit
from backend.services.actions import _pending_publish, apply_transition, unit_of_work
from backend.workflow import Actor

log = logging.getLogger("ejia.sla_sweep")
STAGE_OF = {"assigned": "accept", "processing": "resolve", "resolved": "verify"}
RANK = {"ok": 0, "yellow": 1, "red": 2}
SYSTEM_SUPERVISOR = Actor(kind="staff", role="centre_operator", area_path="/", label="系统")


def stage_window(event: Event) -> tuple[str, dt.datetime, dt.datetime | None, str] | None:
    """(stage, start, due, unit) of the event's current stage, or None if it has none."""
    stage = STAGE_OF.get(event.status)
    if stage is None or event.category_id is None:
        return None
    due = getattr(event, f"{stage}_due_at")
    if due is None:
        return None
    start = event.resolved_at if stage == "verify" and event.resolved_at else event.created_at
    return stage, start, due, getattr(event.category, f"{stage}_unit")


def holder_actor(event: Event, label: str = "系统") -> Actor | None:
    """An actor that counts as the event's holder (for the automatic 上报)."""
    level = event.holder_level
    if level == "grid":
        return Actor(kind="staff", role="grid_worker", area_id=event.holder_area_id, label=label)
    if level == "community":
        return Actor(kind="staff", role="community_head", area_id=event.holder_area_id, label=label)
    if level == "department":
        return Actor(kind="staff", role="department_staff", department_id=event.holder_department_id, label=label)
    return None  # centre: nowhere higher to go


def sweep_sla(now: dt.datetime | None = None, grace_hours: int | None = None) -> dict:
    """One pass over open events; returns counts {yellow, urged, escalated, lowered}."""
    settings = config.current()
    now = now or clock.now()
    grace = dt.timedelta(hours=settings.escalation_grace_hours if grace_hours is None else grace_hours)
    calendar = sla.load_calendar(settings.office_hours)
    counts = {"yellow": 0, "urged": 0, "escalated": 0, "lowered": 0}
    ids = [e.id for e in Event.select(Event.id).where(Event.status.in_(tuple(STAGE_OF))).order_by(Event.id)]
    for event_id in ids:
        try:
            outcome = _sweep_one(event_id, now, grace, calendar)
        except DomainError as exc:  # a rule refused (e.g. no parent area): report, keep sweeping
            log.warning("SLA sweep: event %s: %s", event_id, exc)
            continue
        if outcome:
            counts[outcome] += 1
    if any(counts.values()):
        log.info("SLA sweep: %s", counts)
    return counts


def _sweep_one(event_id: int, now: dt.datetime, grace: dt.timedelta, calendar) -> str | None:
    with unit_of_work():
        event = for_update(Event.select().where(Event.id == event_id)).first()
        if event is None:
            return None
        window = stage_window(event)
        if window is None:
            return None
        stage, start, due, unit = window
        level = sla.sla_level(start, due, now, unit, calendar)
        stored = event.sla_level or "ok"
        held = event.status in ("assigned", "processing")
        if level == "red" and held and now >= due + grace:
            last = event.escalated_overdue_at
            if (last is None or now >= last + grace) and _auto_escalate(event, stage, now, grace):
                return "escalated"
        if RANK[level] < RANK[stored]:
            Event.update(sla_level=level).where(Event.id == event.id).execute()
            return "lowered"
        if level == stored:
            return None
        event.sla_level = level  # apply_transition saves the whole row: keep it current
        Event.update(sla_level=level).where(Event.id == event.id).execute()
        if level == "yellow":
            message = outbox.record("event.sla_yellow", event, None, {"stage": stage, "due_at": clock.iso(due)})
            _pending_publish().append(message.id)
            return "yellow"
        if held:  # red: 督办 the holder (and, through the workers, their supervisor)
            step = apply_transition(event, SYSTEM_SUPERVISOR, "urge", {})
            _mark_system(step, {"reason": "overdue", "stage": stage, "due_at": clock.iso(due)})
            return "urged"
        return None


def _auto_escalate(event: Event, stage: str, now: dt.datetime, grace: dt.timedelta) -> bool:
    actor = holder_actor(event)
    if actor is None:
        return False
    hours = int(grace.total_seconds() // 3600)
    note = f"超期{hours}小时仍未办结，系统自动上报"
    event.escalated_overdue_at, event.sla_level = now, "red"  # saved with the transition
    step = apply_transition(event, actor, "escalate", {"note": note})
    _mark_system(step, {"reason": "overdue_grace", "stage": stage})
    return True


def _mark_system(step: EventStep, data: dict) -> None:
    EventStep.update(actor_kind="system", actor_label="系统", data=data).where(EventStep.id == step.id).execute()
    step.actor_kind, step.actor_label, step.data = "system", "系统", data


# ---------------------------------------------------------------- revisits
def sampled(number: str, percent: int) -> bool:
    """Deterministic share: the same event is always in or out of the sample."""
    bucket = int(hashlib.sha256(number.encode()).hexdigest()[:8], 16) % 100
    return bucket < max(0, min(100, percent))


def sample_revisits(since: dt.datetime | None = None, percent: int | None = None) -> dict:
    """Put a share of events closed since ``since`` (default: 7 days) and every rating ≤ 2
    into the centre's revisit queue. Idempotent (one Revisit per event and reason)."""
    settings = config.current()
    percent = settings.revisit_sample_percent if percent is None else percent
    since = since or clock.now() - dt.timedelta(days=7)
    counts = {"sample": 0, "low_rating": 0}
    closed = (Event.select(Event.id, Event.number)
              .where((Event.status == "closed") & (Event.quick_record == False)  # noqa: E712
                     & (Event.closed_at >= since)))
    for event in closed:
        if sampled(event.number, percent):
            counts["sample"] += _queue_revisit(event.id, "sample")
    low = Rating.select(Rating.event).where((Rating.score <= 2) & (Rating.created_at >= since))
    for rating in low:
        counts["low_rating"] += _queue_revisit(rating.event_id, "low_rating")
    return counts


def _queue_revisit(event_id: int, reason: str) -> int:
    if Revisit.select().where((Revisit.event == event_id) & (Revisit.reason == reason)).exists():
        return 0
    Revisit.insert(event=event_id, reason=reason, status="pending", created_at=clock.now()).on_conflict_ignore().execute()
    return 1
