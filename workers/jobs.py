"""RQ jobs: importable module functions that take ids and re-load rows (STYLE §6).

``drain_outbox`` handles the rows waiting in one of the relay's lanes, each as
``process_outbox`` — a row's own job, for rows that failed in a lane — would. It validates the
payload, then — each step idempotent, so a re-run after a crash is harmless — sends a late
chat reply (``wechat.reply``: the answer to a push spooled while the database was down, as
a customer-service message), deletes a media object retention could not delete at the
time (``media.delete``: the object store was away), or routes
new/returned events (``route``), fetches WeChat media (``download_media`` jobs), fans out
department webhooks (``deliver_webhook`` jobs), plans the notifications and makes each
one's first send attempt, and stamps the row processed. The outbox row that routing
itself writes is handled in the same job (``relay.capture``), so a new report reaches its
grid worker in one job instead of three queue hops (docs/workers.md, "Latency").
Malformed payloads are stamped with the reason and fail without retry.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from backend import clock
from backend.db import Statement, is_postgres
from backend.errors import NotFound
from backend.media_store import SHA256_RE
from backend.models import Attachment, Event, EventStep, OutboxMessage, Resident
from backend.services.events import route_event_and_step
from backend.services.residents import LATE_REPLY_TOPIC
from backend.services.retention import MEDIA_DELETE_TOPIC, delete_unused_object
from backend.services.subscriptions import WEBHOOK_RETRY_TOPIC
from workers import audience, delivery, media, relay, sending, webhooks
from workers.context import (
    current_job,
    db_session,
    ensure_ready,
    event_scope,
    fail_without_retry,
    in_job,
    job_logger,
    option,
    redis_connection,
    set_event,
)
from workers.queues import enqueue_once

log = job_logger("ejia.jobs")

ROUTE_TOPICS = ("event.submitted", "event.return")  # topics whose event needs (re-)routing
MAX_INLINE_DEPTH = 2
DRAIN_BATCH = 20  # ids taken from a lane at a time
DRAIN_SECONDS = 20.0  # then a fresh drain job goes on (the kind's timeout is 120 s)
DRAIN_THREADS = 4  # rows of a batch side by side on PostgreSQL (OUTBOX_DRAIN_THREADS; 1 on SQLite)

# Read once or twice by every job: SQL built once (backend.db.Statement).
OUTBOX_ROW = Statement(lambda outbox_id: OutboxMessage.select().where(OutboxMessage.id == outbox_id).limit(1))
STEP_ROW = Statement(lambda step_id: EventStep.select().where(EventStep.id == step_id).limit(1))


class MalformedOutbox(ValueError):
    """An outbox payload no job can act on; final (failed registry), never retried."""


def validate(message: OutboxMessage) -> str | None:
    """The reason a payload is unusable, or None."""
    payload = message.payload
    if not isinstance(payload, dict):
        return f"payload is {type(payload).__name__}, not an object"
    if message.topic == LATE_REPLY_TOPIC:
        if not all(isinstance(payload.get(name), str) and payload[name] for name in ("openid", "text")):
            return "late reply without openid and text"
        return None
    if message.topic == MEDIA_DELETE_TOPIC:
        if not isinstance(payload.get("sha256"), str) or not SHA256_RE.match(payload["sha256"]):
            return "media delete without a sha256"
        return None
    if message.topic == WEBHOOK_RETRY_TOPIC:
        if not all(isinstance(payload.get(n), int) and not isinstance(payload[n], bool)
                   for n in ("subscription_id", "outbox_id")):
            return "webhook retry without integer subscription_id and outbox_id"
        return None
    if not isinstance(message.topic, str) or not message.topic.startswith("event."):
        return f"unknown topic {message.topic!r}"
    event_id = payload.get("event_id")
    if not isinstance(event_id, int) or isinstance(event_id, bool):
        return "payload has no integer event_id"
    if message.event_id is not None and message.event_id != event_id:
        return f"payload event_id {event_id} disagrees with the row's event {message.event_id}"
    if "number" in payload and not isinstance(payload["number"], str):
        return "payload number is not a string"
    step_id = payload.get("step_id")
    if step_id is not None and (not isinstance(step_id, int) or isinstance(step_id, bool)):
        return "payload step_id is not an integer"
    media_ids = payload.get("wechat_media_ids", [])
    if not isinstance(media_ids, list) or not all(isinstance(m, str) for m in media_ids):
        return "payload wechat_media_ids is not a list of strings"
    return None


def process_outbox(outbox_id: int) -> str:
    """Act on one outbox row once. Errors propagate so RQ retries (Retry set at enqueue)."""
    ensure_ready()
    with db_session(), event_scope(None):
        return _process(redis_connection(), outbox_id)


def drain_outbox(lane: int) -> str:
    """Handle the rows waiting in ``lane`` (workers/relay.py), oldest first, each as its own
    job would, until the lane is empty or ``DRAIN_SECONDS`` have passed (then a fresh drain job
    goes on, so RQ's timeout never cuts a row short and the send queue gets its turn). A row
    that fails here — or is malformed — gets a job of its own (``outbox-<id>``): its retries
    and the failed registry are as before. Were the worker to die mid-batch, the rows it had
    taken are neither in the lane nor done: the sweep finds and re-adds them.

    On PostgreSQL the rows of a batch are handled ``OUTBOX_DRAIN_THREADS`` (4) at a time, each
    thread on its own connection: a row spends most of its time waiting on the database and
    the WeChat API, and rows are independent (each step idempotent, each send claimed)."""
    settings = ensure_ready()
    connection = redis_connection()
    pool, job = _drain_pool(settings), current_job()
    started, handled = time.monotonic(), 0
    while True:
        ids = relay.next_batch(connection, lane, DRAIN_BATCH)
        if not ids:
            return f"{handled} row(s)"
        with db_session():  # the batch's rows and the subscriptions in two statements, not one each
            rows = {row.id: row for row in OutboxMessage.select().where(OutboxMessage.id.in_(ids))}
            subscriptions = webhooks.active_subscriptions()
        batch = [(outbox_id, rows.get(outbox_id), subscriptions) for outbox_id in ids]
        stamps: list[int] = []  # rows done: stamped processed in one statement per batch
        try:
            if pool is None:
                for index, item in enumerate(batch):
                    try:
                        _drain_one(connection, *item, stamps)
                    except Exception:
                        relay.put_back(connection, lane, ids[index + 1:])  # best effort: else the sweep
                        raise
                    handled += 1
                    if time.monotonic() - started > DRAIN_SECONDS and index + 1 < len(ids):
                        relay.put_back(connection, lane, ids[index + 1:])  # a slow API: the successor takes them
                        break
            else:  # one task per event: an event's rows one after the other, in order
                by_event: dict[object, list[tuple]] = {}
                for item in batch:
                    message = item[1]
                    key = message.event_id if message is not None and message.event_id else ("row", item[0])
                    by_event.setdefault(key, []).append(item)
                futures = [pool.submit(in_job, job, _drain_in_order, connection, items, stamps)
                           for items in by_event.values()]
                errors = [future.exception() for future in futures]  # every row of the batch was tried
                failed = [error for error in errors if error is not None]
                handled += len(ids) - len(failed)
                if failed:
                    raise failed[0]
        finally:
            if stamps:  # were this to fail, the rows are handled again later: every step is idempotent
                with db_session():
                    _stamp_processed(stamps)
        if time.monotonic() - started > DRAIN_SECONDS:
            relay.start_drain(connection, lane)  # the lane stays busy: this job's successor
            return f"{handled} row(s); a new drain goes on"


_pool: tuple[int, int, ThreadPoolExecutor] | None = None


def _drain_pool(settings) -> ThreadPoolExecutor | None:
    """The process's drain threads, or None to handle rows one by one (SQLite: its writers
    queue behind one lock, so threads would only wait on each other)."""
    global _pool
    threads = option(settings, "outbox_drain_threads", DRAIN_THREADS if is_postgres() else 1)
    if threads <= 1:
        return None
    if _pool is None or _pool[0] != os.getpid() or _pool[1] != threads:
        _pool = (os.getpid(), threads, ThreadPoolExecutor(threads, thread_name_prefix="ejia-drain"))
    return _pool[2]


def _drain_in_order(connection, items: list[tuple], stamps: list[int]) -> None:
    for item in items:
        _drain_one(connection, *item, stamps)


def _drain_one(connection, outbox_id: int, message: OutboxMessage | None, subscriptions: list,
               stamps: list[int]) -> None:
    job = current_job()
    retries_left = job.retries_left if job is not None else None
    with db_session(), event_scope(None):
        try:
            outcome = _process(connection, outbox_id, known={"subscriptions": subscriptions}, in_lane=True,
                               message=message, deferred=stamps)
        except Exception as exc:  # noqa: BLE001 — its own job retries it (a failed row never blocks the lane)
            log.warning("outbox %s failed in its lane (%s: %s); it gets a job of its own", outbox_id,
                        type(exc).__name__, exc)
            outcome = "own job"
        finally:
            if job is not None:
                job.retries_left = retries_left  # a row's final failure is its own job's, not the drain's
    if outcome == "own job":
        enqueue_once(connection, "outbox", outbox_id, job_id=relay.job_id(outbox_id))


def _process(connection, outbox_id: int, depth: int = 0, known: dict | None = None,
             stamps: list[int] | None = None, in_lane: bool = False, message: OutboxMessage | None = None,
             deferred: list[int] | None = None) -> str:
    """``known``: rows this job has already read or written — the routed event (its category
    loaded), the route step, the active webhook subscriptions — so an inline follow-up does not
    read them again. They are moments old and this job wrote them; a second route of the same
    event (a job run twice) finds it routed and changes nothing.

    ``stamps``: an inline follow-up with nothing of its own to follow adds its id there, and the
    row that found it stamps both processed in one statement. Were the worker to die before
    that statement, both rows would be handled again — every step is idempotent (the route
    finds the event routed; a notification's key exists) — so nothing is sent twice.

    From a drain (``in_lane``): ``message`` is the row as the drain read it with its batch,
    ``known`` starts with the batch's subscriptions, and the ids done go to ``deferred`` for
    the batch's one stamp; a malformed row is left for a job of its own."""
    known = {} if known is None else known
    message = message or OUTBOX_ROW.first(outbox_id)
    if message is None:
        log.info("outbox %s no longer exists; nothing to do", outbox_id)
        return "missing"
    if message.processed_at is not None:
        return "already processed"
    problem = validate(message)
    if problem and in_lane:
        return "own job"  # failed there, once, with its reason in the failed registry
    if problem:
        (OutboxMessage.update(error=f"malformed: {problem}", processed_at=clock.now())
         .where(OutboxMessage.id == outbox_id).execute())
        log.warning("outbox %s (%s) is malformed: %s", outbox_id, message.topic, problem)
        raise fail_without_retry(MalformedOutbox(f"outbox {outbox_id} ({message.topic}): {problem}"))
    if message.topic == WEBHOOK_RETRY_TOPIC:  # a console 重试: the workers enqueue the delivery
        payload = message.payload
        enqueue_once(connection, "webhook", payload["subscription_id"], payload["outbox_id"],
                     job_id=f"webhook-{payload['subscription_id']}-{payload['outbox_id']}")
        OutboxMessage.update(processed_at=clock.now(), error=None).where(OutboxMessage.id == outbox_id).execute()
        return "done"
    if message.topic == MEDIA_DELETE_TOPIC:  # retention: an object the store would not delete then
        delete_unused_object(message.payload["sha256"])  # MediaUnavailable: RQ retries
        OutboxMessage.update(processed_at=clock.now(), error=None).where(OutboxMessage.id == outbox_id).execute()
        return "done"
    if message.topic == LATE_REPLY_TOPIC:
        send_late_reply(message)
        OutboxMessage.update(processed_at=clock.now(), error=None).where(OutboxMessage.id == outbox_id).execute()
        return "done"
    set_event(message.payload.get("number"))
    with relay.capture() as follow_ups:  # the route step's own outbox row: handled below, inline
        if message.topic in ROUTE_TOPICS:
            routed, step = _route(message.payload["event_id"])
            if routed is not None:
                known["event"] = routed
            if step is not None:
                known.setdefault("steps", {})[step.id] = step
    handle(connection, message, known)
    if stamps is not None and not follow_ups:
        stamps.append(outbox_id)  # stamped with the row that found it (above)
        return "done"
    done = [outbox_id]
    for index, follow_up in enumerate(follow_ups):
        try:
            if depth >= MAX_INLINE_DEPTH:
                raise RecursionError("inline follow-ups nested too deep")
            _process(connection, follow_up, depth + 1, known, done)
        except Exception as exc:  # noqa: BLE001 — these rows are done; the rest get jobs of their own
            _stamp_processed(done)
            log.warning("outbox %s: follow-up %s not handled inline (%s); enqueued", outbox_id, follow_up, exc)
            relay.enqueue_outbox(connection, follow_ups[index:])
            return "done"
    if deferred is not None:
        deferred.extend(done)  # a drain stamps its whole batch in one statement
    else:
        _stamp_processed(done)
    return "done"


def _stamp_processed(ids: list[int]) -> None:
    OutboxMessage.update(processed_at=clock.now(), error=None).where(OutboxMessage.id.in_(ids)).execute()


def handle(connection, message: OutboxMessage, known: dict) -> None:
    """Notifications, media and webhooks for one valid outbox row (idempotent); ``known``: see
    ``_process`` (filled here with what this row reads)."""
    event = known.get("event")
    if event is None or event.id != message.payload["event_id"]:
        event = Event.get_or_none(Event.id == message.payload["event_id"])
        if event is None:
            log.info("outbox %s: event %s no longer exists", message.id, message.payload["event_id"])
            return
        known["event"] = event
    step_id = message.payload.get("step_id")
    step = known.get("steps", {}).get(step_id) if step_id else None
    if step is None and step_id:
        step = STEP_ROW.first(step_id)
    if step is not None and _may_wait_for_wechat_media(message):
        pending = Attachment.select(Attachment.id).where(
            (Attachment.step == step.id) & Attachment.media.is_null() & Attachment.wechat_media_id.is_null(False))
        for attachment in pending:
            enqueue_once(connection, "media", attachment.id, job_id=media.job_id(attachment.id))
    if "subscriptions" not in known:
        known["subscriptions"] = webhooks.active_subscriptions()
    webhooks.fan_out(connection, message, event, known["subscriptions"])
    _plan_and_dispatch(connection, message, event, step, inline=True)


def _may_wait_for_wechat_media(message: OutboxMessage) -> bool:
    """Whether the step can carry WeChat media still to fetch: not a route step (routing
    attaches nothing), nor a report whose payload lists none."""
    if message.topic == "event.route":
        return False
    return message.payload.get("wechat_media_ids", None) != []


def send_late_reply(message: OutboxMessage) -> None:
    """The dialog's answer to a spooled push, as a customer-service message (the resident
    wrote moments ago, so the 48-hour window is open); one Notification row, sent once."""
    payload = message.payload
    resident = Resident.get_or_none(Resident.oa_openid == payload["openid"])
    recipient = f"resident:{resident.id}" if resident is not None else f"openid:{payload['openid'][:56]}"
    late = audience.Delivery(f"o{message.id}:{recipient}:custom", recipient, "custom", "reply",
                             {"openid": payload["openid"], "text": payload["text"]})
    for row in delivery.persist([late], None, None):
        sending.send_now(row)


def _plan_and_dispatch(connection, message, event, step, inline: bool = False) -> int:
    """Plan the deliveries; send each one's first attempt right here (``inline``) or enqueue
    a send job per delivery. Retries, fallbacks and deferrals always go through send jobs."""
    from backend import config

    deliveries = audience.plan(config.current(), message, event, step)
    rows = delivery.persist(deliveries, event, step)
    if inline:
        outcomes = [sending.send_now(row) for row in rows]  # the rows just read: not read again
        count = len(outcomes)
    else:
        count = delivery.dispatch(connection, rows)
    if deliveries:
        log.info("outbox %s (%s): %d delivery(ies) planned, %d %s",
                 message.id, message.topic, len(deliveries), count, "sent or scheduled" if inline else "enqueued")
    return count


def route(event_id: int) -> str:
    """reported → assigned (grid by location, the grid a 退回 named, else the centre)."""
    event, _step = _route(event_id)
    return "missing" if event is None else event.status


def _route(event_id: int) -> tuple[Event | None, EventStep | None]:
    ensure_ready()
    with db_session():
        try:
            event, step = route_event_and_step(event_id)
        except NotFound:
            log.info("event %s no longer exists; nothing to route", event_id)
            return None, None
        set_event(event.number)
        log.info("routed: %s, holder %s %s", event.status, event.holder_level, event.holder_area_id)
        return event, step


def notify(outbox_id: int) -> int:
    """Plan and enqueue the notifications of one outbox row (re-runnable on its own)."""
    ensure_ready()
    with db_session(), event_scope(None):
        message = OutboxMessage.get_or_none(OutboxMessage.id == outbox_id)
        if message is None:
            log.info("outbox %s no longer exists; nothing to notify", outbox_id)
            return 0
        problem = validate(message)
        if problem:
            raise fail_without_retry(MalformedOutbox(f"outbox {outbox_id}: {problem}"))
        set_event(message.payload.get("number"))
        event = Event.get_or_none(Event.id == message.payload["event_id"])
        if event is None:
            log.info("event %s no longer exists; nothing to notify", message.payload["event_id"])
            return 0
        step = EventStep.get_or_none(EventStep.id == message.payload.get("step_id"))
        return _plan_and_dispatch(redis_connection(), message, event, step)


def download_media(attachment_id: int) -> str:
    """WeChat media_id → MEDIA_DIR (sha256), attached to the event. Fake content fails for good."""
    return media.download(attachment_id)


# ---------------------------------------------------------------- cron entry points
def sweep_outbox() -> int:
    from workers.relay import sweep

    ensure_ready()
    with db_session():
        return sweep(redis_connection())


def sweep_notifications() -> dict:
    """Stale claims (dead workers), open rows whose job went missing, due deferrals."""
    ensure_ready()
    with db_session():
        connection = redis_connection()
        recovered = delivery.recover_stale(connection)
        return {**recovered, "enqueued": delivery.sweep_open(connection)}
