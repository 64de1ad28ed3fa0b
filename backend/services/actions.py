"""Actions on an existing event: one entry point, one writer of steps and outbox rows."""
from __future__ import annotations

import contextlib
import threading

from backend import clock, config, outbox, sla, workflow
from backend.db import for_update, transaction
from backend.errors import DomainError
from backend.models import Attachment, Event, EventFollower, EventStep, Media, Rating, Revisit
from backend.services.context import (
    category_of,
    event_view,
    get_event,
    holder_fields,
    holder_json,
    holder_of,
    places_for,
)
from backend.workflow import KEEP, Actor

MAX_NOTE = 1000
_REFUSALS = ("not_allowed", "wrong_status", "staff_only")


def apply_transition(event: Event, actor: Actor, action: str, params: dict | None = None) -> EventStep:
    """Decide and write; must run inside ``transaction()``. Raises DomainError before any write."""
    params = dict(params or {})
    if params.get("note") and len(params["note"]) > MAX_NOTE:
        raise DomainError("note_too_long", f"说明太长了，请控制在{MAX_NOTE}字以内")
    merge_target = None
    if action == "merge":
        merge_target = _merge_target(event, params.get("duplicate_of"))
        params["duplicate_of"] = merge_target.id
    transition = workflow.decide(event_view(event, with_rating=action == "rate"), actor, action, params,
                                 places_for(event, action))
    for media_id in params.get("media_ids") or ():
        if not Media.select().where(Media.id == media_id).exists():
            raise DomainError("unknown_media", "图片没有上传成功，请重新上传")

    now = clock.now()
    before_status, before_holder = event.status, holder_of(event)
    changes: dict = {"status": transition.to_status, "updated_at": now}
    if transition.holder is not KEEP:
        changes.update(holder_fields(transition.holder))
    _stamp(event, transition, changes, now)
    if merge_target is not None:
        changes["duplicate_of"] = merge_target.id
    if action == "return" and params.get("suggested_grid_id"):
        changes["suggested_grid"] = params["suggested_grid_id"]
    for name, value in changes.items():
        setattr(event, name, value)
    event.save(only=event.dirty_fields)  # the changed columns (and any the caller set), not all ≈ 45
    after_holder = holder_of(event)
    step = EventStep.create(
        event=event, action=action, actor_kind=actor.kind,
        actor_staff=actor.id if actor.kind == "staff" else None,
        actor_resident=actor.id if actor.kind == "resident" else None,
        actor_label=actor.label or actor.kind, from_status=before_status, to_status=event.status,
        from_holder=holder_json(before_holder), to_holder=holder_json(after_holder),
        note=(params.get("note") or "").strip() or None, public=transition.public,
        data=_step_data(params), created_at=now,
    )
    for media_id in params.get("media_ids") or ():
        Attachment.create(event=event, step=step, media=media_id)
    for wechat_id in params.get("wechat_media_ids") or ():
        Attachment.create(event=event, step=step, wechat_media_id=str(wechat_id)[:128])
    if merge_target is not None and event.reporter_resident_id:
        EventFollower.get_or_create(event=merge_target, resident=event.reporter_resident_id)
    message = outbox.record(f"event.{action}", event, step, {"to_status": event.status})
    _pending_publish().append(message.id)
    return step


def allowed_actions(event: Event, actor: Actor, candidates) -> list[str]:
    """The actions among ``candidates`` the workflow lets ``actor`` take on ``event`` now: each is
    asked of ``workflow.decide`` with placeholder parameters, so the buttons a channel shows and
    the rules enforced can never disagree (a missing note or photo is the form's business)."""
    view, places = event_view(event), places_for(event)
    stub = {"note": "-", "duplicate_of": -1, "outcome": "satisfied", "suggested_grid_id": 0,
            "department_id": next(iter(places.department_areas), None)}
    out = []
    for action in candidates:
        try:
            workflow.decide(view, actor, action, stub, places)
        except DomainError as err:
            if err.code in _REFUSALS:
                continue
        out.append(action)
    return out


def _step_data(params: dict) -> dict | None:
    keep = {k: params[k] for k in ("score", "outcome", "department_id", "duplicate_of",
                                   "suggested_grid_id", "internal") if params.get(k) is not None}
    return keep or None


def _stamp(event: Event, transition: workflow.Transition, changes: dict, now) -> None:
    to = transition.to_status
    if to == "assigned" and event.status != "assigned" or transition.action in ("escalate", "dispatch"):
        changes["assigned_at"] = now
    if transition.action == "accept":
        changes["accepted_at"] = now
    if to == "resolved":
        changes["resolved_at"] = now
        calendar = sla.load_calendar(config.current().office_hours)
        category = category_of(event)
        changes["verify_due_at"] = sla.add_limit(now, category.verify_limit, category.verify_unit, calendar)
    if to == "closed" and event.status != "closed":
        changes["closed_at"] = now
        if transition.action == "resolve":
            changes["resolved_at"] = now
    if transition.reopen:
        changes["reopen_count"] = event.reopen_count + 1
        changes["closed_at"] = None
        changes["sla_level"] = "ok"


def _merge_target(event: Event, ref) -> Event:
    if not ref:
        raise DomainError("merge_target_required", "请指明与哪一件合并")
    target = get_event(ref)
    if target.id == event.id:
        raise DomainError("merge_self", "不能与自己合并")
    if target.status in ("merged", "withdrawn", "rejected"):
        raise DomainError("merge_target_closed", "要合并到的那件事已经结束，不能合并")
    if target.duplicate_of_id == event.id:
        raise DomainError("merge_cycle", "两件事不能互相合并")
    return target


_local = threading.local()


def _pending_publish() -> list[int]:
    if not hasattr(_local, "ids"):
        raise RuntimeError("apply_transition must run inside unit_of_work()")
    return _local.ids


@contextlib.contextmanager
def unit_of_work():
    """One transaction; the outbox ids it wrote are published after it commits."""
    if hasattr(_local, "ids"):
        raise RuntimeError("unit_of_work() does not nest")
    _local.ids = []
    try:
        with transaction():
            yield
        ids = _local.ids
    finally:
        del _local.ids
    outbox.publish(ids)


def perform(ref, actor: Actor, action: str, params: dict | None = None) -> Event:
    """Run ``action`` on the event ``ref`` (number or id) for ``actor``; all or nothing."""
    params = dict(params or {})
    with unit_of_work():
        event = get_event(ref)
        event = for_update(Event.select().where(Event.id == event.id)).get()
        apply_transition(event, actor, action, params)
        _side_records(event, actor, action, params)
    return event


def _side_records(event: Event, actor: Actor, action: str, params: dict) -> None:
    """Rows an action owns besides the step: ratings and revisits."""
    if action == "rate":
        Rating.create(event=event, resident=actor.id, score=params["score"],
                      comment=(params.get("comment") or "").strip()[:500] or None)
        if params["score"] <= 2:
            Revisit.get_or_create(event=event, reason="low_rating")
    elif action == "revisit":
        revisit = (Revisit.select().where((Revisit.event == event) & Revisit.status.in_(("pending", "asked")))
                   .order_by(Revisit.id).first())
        if revisit is None:
            revisit = Revisit.create(event=event, reason="manual")
        revisit.status, revisit.outcome = "done", params["outcome"]
        revisit.note = (params.get("note") or "").strip() or None
        revisit.operator, revisit.done_at = actor.id, clock.now()
        revisit.save()
