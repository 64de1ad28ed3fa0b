"""Exactly-once bookkeeping for notifications (issue 5, item 4).

One ``Notification`` row per delivery, unique by ``key`` (``<step>:<recipient>:<channel>``):

    pending ──claim──▶ claimed ──▶ sent
       ▲  ▲              │ transient error: back to pending, RQ retries with backoff
       │  └─ deferred ◀──┤ quota pause / quiet hours: deferred to ``payload.not_before``
       │                 └ permanent error: failed (+ fallback row on another channel)
       └──────── recover_stale(): a claim whose worker died (see below)

* ``claim`` is one conditional UPDATE (``WHERE status IN ('pending','deferred')``), so two
  jobs for the same row can never both send; the loser returns without sending.
* Template messages carry ``client_msg_id = key``; WeChat drops a repeat within 10 minutes.
* A row still ``claimed`` after ``CLAIM_STALE_AFTER`` means its worker died mid-send. We
  cannot know whether the request reached WeChat, so ``recover_stale`` resends only where
  the resend is provably harmless: template messages within ``DEDUPE_WINDOW`` of the claim,
  with the same ``client_msg_id``. Every other case (SMS, customer and subscribe messages,
  or a template claim older than the window) becomes ``unknown`` — not resent — with an
  alert for the console. At most once beats twice for a person's phone.
"""
from __future__ import annotations

import datetime as dt
import logging

from backend import clock
from backend.db import Statement, db
from backend.models import Event, EventStep, Notification
from workers import channels
from workers.notices import Delivery
from workers.queues import enqueue, job_is_active

log = logging.getLogger("ejia.delivery")
CLAIM_STALE_AFTER = dt.timedelta(seconds=90)  # > send job_timeout (30 s) + client timeouts
DEDUPE_WINDOW = dt.timedelta(minutes=9)  # WeChat's client_msg_id window is 10 minutes
PENDING_STALE_AFTER = dt.timedelta(minutes=2)
MAX_SEND_ATTEMPTS = 6  # matches the longest Retry schedule in workers/queues.py (+1)
OPEN = ("pending", "deferred")


def client_msg_id(key: str) -> str:
    """WeChat accepts up to 64 characters; our keys are shorter, longer ones are hashed."""
    if len(key) <= 64:
        return key
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:64]


def persist(deliveries: list[Delivery], event: Event | None, step: EventStep | None) -> list[Notification]:
    """Insert rows for deliveries not yet known; return every still-open row among them."""
    if not deliveries:
        return []
    number = event.number if event is not None else None
    with db.atomic():
        for d in deliveries:
            payload = {"kind": d.kind, "content": d.content, "urgent": d.urgent, "number": number}
            skipped = d.channel == "none"  # nothing reaches this person: kept as the record of why
            (Notification.insert(key=d.key, step=step, event=event, recipient=d.recipient, channel=d.channel,
                                 status="skipped" if skipped else "pending", payload=payload, created_at=clock.now(),
                                 error="; ".join(d.content.get("reasons", [])) if skipped else None)
             .on_conflict_ignore().execute())
    keys = [d.key for d in deliveries]
    if len(keys) == 1:  # most notices have one recipient: the statement's SQL is built once
        return list(_OPEN_ROW_BY_KEY.rows(keys[0]))
    return list(_open_rows(keys))


def _open_rows(keys):
    return Notification.select().where(Notification.key.in_(keys) & Notification.status.in_(OPEN)).order_by(Notification.id)


_OPEN_ROW_BY_KEY = Statement(lambda key: _open_rows([key]), str)


def job_id_for(notification: Notification, suffix: str = "") -> str:
    return f"notification-{notification.id}{suffix}"


def dispatch(connection, rows: list[Notification]) -> int:
    """Enqueue a send job per open row (skipping rows whose job is already waiting)."""
    count = 0
    for row in rows:
        payload = row.payload or {}
        not_before = _parse(payload.get("not_before"))
        if row.status == "deferred" and not_before and not_before > clock.now():
            job_id = job_id_for(row, f"-d{int(not_before.timestamp())}")
            at = not_before
        else:
            job_id, at = payload.get("job") or job_id_for(row), None
        if job_is_active(connection, job_id):
            continue
        enqueue(connection, row.channel, row.id, job_id=job_id, at=at,
                description=f"{row.channel} {row.key}")
        count += 1
    return count


def schedule_retry(connection, row: Notification) -> None:
    """A send job for ``row`` after the first back-off interval (then RQ Retry as usual)."""
    from workers.queues import KINDS

    delay = dt.timedelta(seconds=KINDS[row.channel].retry[0])
    job_id = job_id_for(row)
    if not job_is_active(connection, job_id):
        enqueue(connection, row.channel, row.id, job_id=job_id, at=dt.datetime.now(dt.timezone.utc) + delay,
                description=f"{row.channel} {row.key} (retry)")


def claim(row: Notification) -> bool:
    """Atomically take an open row; False if another job has it (or it is finished)."""
    from rq import get_current_job

    job = get_current_job()
    payload = dict(row.payload or {})
    payload.update(claimed_at=clock.now().isoformat(), claimed_by=job.id if job else None)
    taken = (Notification.update(status="claimed", attempts=Notification.attempts + 1, payload=payload)
             .where((Notification.id == row.id) & Notification.status.in_(OPEN)).execute())
    if taken:
        row.status, row.payload, row.attempts = "claimed", payload, row.attempts + 1
    return bool(taken)


def _update_claimed(row: Notification, **fields) -> None:
    (Notification.update(**fields)
     .where((Notification.id == row.id) & (Notification.status == "claimed")).execute())
    for name, value in fields.items():
        setattr(row, name, value)


def mark_sent(row: Notification, result: dict | None = None) -> None:
    payload = dict(row.payload or {})
    payload["result"] = result or {}
    _update_claimed(row, status="sent", sent_at=clock.now(), error=None, payload=payload)


def release(row: Notification, error: str) -> None:
    """Transient failure: give the row back so the retry (or the sweep) can claim it."""
    _update_claimed(row, status="pending", error=error[:1000])


def mark_failed(row: Notification, error: str) -> None:
    _update_claimed(row, status="failed", error=error[:1000])


def defer(row: Notification, until: dt.datetime, reason: str) -> None:
    """Not now (quota pause, quiet hours): wait until ``until`` (naive UTC)."""
    payload = dict(row.payload or {})
    payload["not_before"] = until.isoformat()
    (Notification.update(status="deferred", payload=payload, error=reason[:1000])
     .where((Notification.id == row.id) & Notification.status.in_(("pending", "deferred", "claimed")))
     .execute())
    row.status, row.payload, row.error = "deferred", payload, reason


def recover_stale(connection, stale_after: dt.timedelta = CLAIM_STALE_AFTER) -> dict:
    """Claims left by a dead worker → resend (template, same client_msg_id) or ``unknown``.

    Only this sweep decides that a claimer is dead (a claim older than ``stale_after``,
    which exceeds any live send); a send job that finds a row claimed never touches it.
    """
    now = clock.now()
    resent = unknown = 0
    for row in Notification.select().where(Notification.status == "claimed").order_by(Notification.id):
        payload = dict(row.payload or {})
        claimed_at = _parse(payload.get("claimed_at")) or row.created_at
        if now - claimed_at < stale_after:
            continue
        if row.channel == "template" and now - claimed_at < DEDUPE_WINDOW:
            payload["job"] = job_id_for(row, f"-r{row.attempts}")
            payload["recovered"] = payload.get("recovered", 0) + 1
            taken = (Notification.update(status="pending", payload=payload,
                                         error="worker stopped mid-send; resent with the same client_msg_id")
                     .where((Notification.id == row.id) & (Notification.status == "claimed")).execute())
            if taken:
                row.status, row.payload = "pending", payload
                dispatch(connection, [row])
                resent += 1
            continue
        taken = (Notification.update(status="unknown",
                                     error="worker stopped mid-send; not resent (the channel has no de-dup)")
                 .where((Notification.id == row.id) & (Notification.status == "claimed")).execute())
        if taken:
            unknown += 1
            channels.add_alert(connection, "delivery_unknown", channel=row.channel,
                               message=f"{row.key}: worker stopped mid-send; check with the recipient")
    if resent or unknown:
        log.warning("recovered stale claims: %d resent (template, de-duplicated), %d unknown", resent, unknown)
    return {"resent": resent, "unknown": unknown}


def sweep_open(connection) -> int:
    """Open rows whose job went missing (Redis was down, a deferral is due): enqueue again."""
    now = clock.now()
    rows = []
    query = (Notification.select().where(Notification.status.in_(OPEN)
                                         & (Notification.attempts < MAX_SEND_ATTEMPTS))
             .order_by(Notification.id).limit(5000))
    for row in query:
        not_before = _parse((row.payload or {}).get("not_before"))
        if row.status == "deferred" and not_before and not_before > now:
            continue
        if row.status == "pending" and now - row.created_at < PENDING_STALE_AFTER and row.attempts == 0:
            continue  # freshly planned: its job is very likely still queued
        if row.status == "deferred":
            payload = dict(row.payload or {})
            payload.pop("not_before", None)
            row.payload = payload
        rows.append(row)
    return dispatch(connection, rows)


def _parse(value) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
