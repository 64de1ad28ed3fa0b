"""Department webhooks: every outbox fact about an event in a subscribed category is POSTed
as JSON to the department's URL, signed, retried with backoff, logged per attempt.

Signature (documented for receivers in docs/workers.md)::

    X-Ejia-Timestamp: <unix seconds>
    X-Ejia-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>

The timestamp is inside the MAC so a captured request cannot be replayed later with a new
timestamp; receivers reject timestamps more than 5 minutes off. ``X-Ejia-Delivery`` is
stable across retries of one delivery, so a receiver can drop repeats.

Retries: network errors, 408, 429 and 5xx raise → RQ ``Retry`` (10 s, 30 s, 2 min,
10 min, 30 min). Other 4xx are final (the receiver refused this body). A 2xx is final and
nothing is sent for that (subscription, outbox row) afterwards, even if the job runs again.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests

from backend import clock
from backend.db import Statement
from backend.errors import DomainError
from backend.models import DepartmentSubscription, Event, EventStep, OutboxMessage, WebhookDelivery
from backend.services.subscriptions import check_webhook_url, matches
from workers.context import db_session, ensure_ready, event_scope, fail_without_retry, job_logger, set_event
from workers.queues import enqueue_once

log = job_logger("ejia.webhooks")
TIMEOUT = 10
TOLERANCE_SECONDS = 300
RETRY_STATUSES = (408, 429)


class WebhookFailed(Exception):
    """A delivery the receiver may accept later (RQ retries it)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None) -> bool:
    """What a receiver does: constant-time compare, and a timestamp within 5 minutes."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except (TypeError, ValueError):
        return False
    return age <= TOLERANCE_SECONDS and hmac.compare_digest(sign(secret, timestamp, body), signature or "")


def active_subscriptions() -> list[DepartmentSubscription]:
    return list(_ACTIVE_SUBSCRIPTIONS.rows())


# Read by every outbox job: SQL built once (backend.db.Statement).
_ACTIVE_SUBSCRIPTIONS = Statement(
    lambda: DepartmentSubscription.select().where(DepartmentSubscription.active == True))  # noqa: E712


def fan_out(connection, message: OutboxMessage, event: Event, subscriptions: list[DepartmentSubscription]) -> int:
    """One deliver_webhook job per subscription among ``subscriptions`` (the active ones,
    ``active_subscriptions()``, read once per job) that wants this event's category."""
    if not subscriptions:  # the usual case: no query for the category either (issue 18, item 2)
        return 0
    code = event.category.code if event.category_id else None
    count = 0
    for subscription in subscriptions:
        if matches(subscription, code):
            enqueue_once(connection, "webhook", subscription.id, message.id,
                         job_id=f"webhook-{subscription.id}-{message.id}")
            count += 1
    return count


def event_document(message: OutboxMessage, event: Event, step: EventStep | None) -> dict:
    """The JSON a department receives. No reporter identity; internal notes stay inside."""
    category = event.category if event.category_id else None
    document = {
        "topic": message.topic,
        "delivery": f"{message.id}",
        "occurred_at": clock.iso(message.created_at),
        "event": {
            "number": event.number, "status": event.status, "status_name": event.status_name,
            "category_code": category.code if category else None, "category": category.name if category else None,
            "description": event.description, "address": event.address, "lat": event.lat, "lng": event.lng,
            "urgent": event.urgent, "holder_level": event.holder_level,
            "created_at": clock.iso(event.created_at), "accept_due_at": clock.iso(event.accept_due_at),
            "resolve_due_at": clock.iso(event.resolve_due_at), "closed_at": clock.iso(event.closed_at),
        },
    }
    if step is not None:
        document["step"] = {"action": step.action, "from_status": step.from_status, "to_status": step.to_status,
                            "note": step.note if step.public else None, "at": clock.iso(step.created_at)}
    return document


def deliver_webhook(subscription_id: int, outbox_id: int) -> str:
    ensure_ready()
    with db_session(), event_scope(None):
        subscription = DepartmentSubscription.get_or_none(DepartmentSubscription.id == subscription_id)
        message = OutboxMessage.get_or_none(OutboxMessage.id == outbox_id)
        if subscription is None or message is None:
            log.info("webhook: subscription %s or outbox %s no longer exists", subscription_id, outbox_id)
            return "missing"
        if not subscription.active:
            return "inactive"
        event = Event.get_or_none(Event.id == (message.payload or {}).get("event_id"))
        if event is None:
            log.info("webhook: event of outbox %s no longer exists", outbox_id)
            return "missing"
        set_event(event.number)
        done = WebhookDelivery.select().where((WebhookDelivery.subscription == subscription_id)
                                              & (WebhookDelivery.outbox == outbox_id))
        if done.where(WebhookDelivery.ok == True).exists():  # noqa: E712
            return "already delivered"
        attempt = done.count() + 1
        step = EventStep.get_or_none(EventStep.id == message.payload.get("step_id"))
        body = json.dumps(event_document(message, event, step), ensure_ascii=False, sort_keys=True).encode()
        return _post(subscription, message, event, body, attempt)


def _post(subscription, message, event, body: bytes, attempt: int) -> str:
    def record(status_code=None, ok=False, error=None):
        WebhookDelivery.create(subscription=subscription, outbox=message, event=event, attempt=attempt,
                               status_code=status_code, ok=ok, error=(error or None) and error[:1000],
                               created_at=clock.now())

    try:
        check_webhook_url(subscription.url)
    except DomainError as exc:
        record(error=f"refused: {exc.message}")
        raise fail_without_retry(WebhookFailed(f"subscription {subscription.id}: {exc.message}"))
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "ejia-webhook/1",
               "X-Ejia-Timestamp": timestamp, "X-Ejia-Signature": sign(subscription.secret, timestamp, body),
               "X-Ejia-Delivery": f"{message.id}-{subscription.id}", "X-Ejia-Topic": message.topic}
    try:
        response = requests.post(subscription.url, data=body, headers=headers, timeout=TIMEOUT,
                                 allow_redirects=False)
    except requests.RequestException as exc:
        record(error=f"{exc.__class__.__name__}: {exc}")
        log.info("webhook %s attempt %d: %s", subscription.id, attempt, exc.__class__.__name__)
        raise WebhookFailed(f"subscription {subscription.id}: {exc.__class__.__name__}") from None
    ok = 200 <= response.status_code < 300
    record(response.status_code, ok, None if ok else response.text[:300])
    log.info("webhook %s attempt %d: HTTP %s", subscription.id, attempt, response.status_code)
    if ok:
        return "delivered"
    error = WebhookFailed(f"subscription {subscription.id}: HTTP {response.status_code}")
    if response.status_code >= 500 or response.status_code in RETRY_STATUSES:
        raise error
    raise fail_without_retry(error)
