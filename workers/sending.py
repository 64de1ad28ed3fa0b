"""Send jobs: one Notification row each (``send_template``, ``send_customer_message``,
``send_subscribe_message``, ``send_sms``). They take the row id, re-load it, claim it,
send, and mark it (workers/delivery.py explains the states).

Errors, by kind (DESIGN §5):
* transient (-1, 45011, 5xx, timeouts; token errors left after the client's one refresh;
  unknown codes) → the row goes back to pending and the error propagates, so RQ retries
  with the backoff set in workers/queues.py; the last attempt fails for good + fallback;
* permanent (40003, 43004, 43101, 45015, 47003 …) → ``failed`` and never retried; staff
  templates fall back to SMS; a resident's notice moves to the next channel of the delivery
  policy (workers/reach.py), and 43004 / 43101 are remembered (not following / opt-in used up);
* quota (45009; the SMS provider's daily limit) → the channel is paused until local
  midnight with an alert for the console, and the row is deferred to the end of the pause.
"""
from __future__ import annotations

from backend import clock
from backend.config import Settings
from backend.crypto import FieldCipher
from backend.models import Event, Notification, Resident, Staff, SubscribeOptIn
from backend.services.personal_data import resident_phone
from workers import channels, delivery, reach
from workers.audience import sms_fallback
from workers.context import (
    db_session,
    ensure_ready,
    event_scope,
    fail_without_retry,
    job_logger,
    redis_connection,
)
from workers.sms import SmsError, SmsMessage, get_provider

log = job_logger("ejia.sending")
STAFF_PHONE_CONTEXT = "staff.phone"  # AES-GCM associated data for Staff.phone_enc
_clients: dict[tuple, object] = {}


class SendFailed(Exception):
    """A send that may succeed later (RQ retries it)."""


def _client(kind: str, settings: Settings, redis):
    key = (kind, id(settings), id(redis))
    if key not in _clients:
        from wechat.client import MiniProgram, OfficialAccount

        _clients[key] = (OfficialAccount if kind == "oa" else MiniProgram)(settings, redis)
    return _clients[key]


# ---------------------------------------------------------------- the four jobs
def send_template(notification_id: int) -> str:
    """Staff: OA template message with ``client_msg_id`` = the notification key."""
    return _run(notification_id, "template", _send_template)


def send_customer_message(notification_id: int) -> str:
    """Resident: customer-service text inside the 48-hour window."""
    return _run(notification_id, "custom", _send_custom)


def send_subscribe_message(notification_id: int) -> str:
    """Resident: mini-program subscribe message (uses up one opt-in)."""
    return _run(notification_id, "subscribe", _send_subscribe)


def send_sms(notification_id: int) -> str:
    """Staff: SMS through the configured provider (quiet hours defer non-urgent ones)."""
    return _run(notification_id, "sms", _send_sms)


def send_now(row: Notification) -> str:
    """The first attempt, made inside the outbox job that planned the row, on the row it has
    just read (the claim below is a conditional update, so a stale row cannot send twice). A
    transient failure does not fail that job: the row gets a send job with the RQ Retry schedule."""
    return _run(row.id, row.channel, SENDERS[row.channel], inline=True, row=row)


# ---------------------------------------------------------------- senders
def _send_template(settings, redis, row: Notification) -> dict:
    content = row.payload["content"]
    msgid = _client("oa", settings, redis).send_template(
        content["openid"], content["template_id"], content["data"], url=content.get("url"),
        miniprogram=content.get("miniprogram"), client_msg_id=delivery.client_msg_id(row.key))
    return {"msgid": msgid}


def _send_custom(settings, redis, row: Notification) -> dict:
    content = row.payload["content"]
    _client("oa", settings, redis).send_text(content["openid"], content["text"])
    return {}


def _send_subscribe(settings, redis, row: Notification) -> dict:
    content = row.payload["content"]
    _client("mp", settings, redis).send_subscribe(content["openid"], content["template_id"], content["data"],
                                                  page=content.get("page"))
    resident_id = int(row.recipient.split(":")[1])
    (SubscribeOptIn.update(remaining=SubscribeOptIn.remaining - 1, updated_at=clock.now())
     .where((SubscribeOptIn.resident == resident_id) & (SubscribeOptIn.template_id == content["template_id"])
            & (SubscribeOptIn.remaining > 0)).execute())  # each opt-in pays for exactly one message
    return {}


def _send_sms(settings, redis, row: Notification) -> dict:
    content = row.payload["content"]
    phone = staff_phone(settings, content.get("recipient") or row.recipient)
    if not phone:
        raise SmsError("NoPhone", f"{row.recipient} has no phone number", "permanent")
    return get_provider(settings).send(SmsMessage(
        phone=phone, template=content.get("template", "task"), params=list(content.get("params") or []),
        text=content.get("text", ""), session=row.key))


SENDERS = {"template": _send_template, "custom": _send_custom, "subscribe": _send_subscribe, "sms": _send_sms}


def staff_phone(settings: Settings, recipient: str) -> str | None:
    """The phone of ``staff:N`` or ``resident:N``, decrypted at send time (never stored in a row)."""
    kind, _, ident = recipient.partition(":")
    if kind == "resident":
        return resident_phone(Resident.get_or_none(Resident.id == int(ident)))
    if kind != "staff":
        return None
    person = Staff.get_or_none(Staff.id == int(ident))
    if person is None or not person.phone_enc:
        return None
    return FieldCipher.from_key(settings.field_key).decrypt(person.phone_enc, STAFF_PHONE_CONTEXT)


# ---------------------------------------------------------------- the common path
def _run(notification_id: int, channel: str, sender, inline: bool = False, row: Notification | None = None) -> str:
    settings = ensure_ready()
    with db_session(), event_scope(None):
        if row is None:
            row = Notification.get_or_none(Notification.id == notification_id)
        if row is None:
            log.info("notification %s no longer exists; nothing to send", notification_id)
            return "missing"
        from workers.context import set_event

        set_event((row.payload or {}).get("number"))
        if row.channel != channel:
            raise fail_without_retry(ValueError(f"notification {row.id} is {row.channel}, not {channel}"))
        if row.status not in delivery.OPEN:
            log.info("%s is %s; not sending", row.key, row.status)
            return row.status
        redis = redis_connection()
        held = _hold_back(settings, redis, row)
        if held:
            return held
        if not delivery.claim(row):
            log.info("%s was claimed by another job", row.key)
            return "taken"
        try:
            result = sender(settings, redis, row)
        except Exception as exc:  # noqa: BLE001 — classified below; unknown ones re-raised
            try:
                return _failed(settings, redis, row, exc)
            except SendFailed:
                if not inline or row.status != "pending":
                    raise
                delivery.schedule_retry(redis, row)  # the outbox job is done; the send retries alone
                log.info("%s: first attempt failed (%s); send job scheduled", row.key, exc)
                return "retrying"
        delivery.mark_sent(row, result)
        log.info("%s sent", row.key)
        return "sent"


def _hold_back(settings, redis, row: Notification) -> str | None:
    """Defer instead of sending while the channel is paused, or an SMS in quiet hours."""
    wait = channels.paused_for(redis, row.channel)
    if wait:
        until = clock.now() + _seconds(wait)
        delivery.defer(row, until, f"{row.channel} paused (quota)")
        delivery.dispatch(redis, [row])
        log.info("%s deferred %ss: channel paused", row.key, wait)
        return "deferred"
    if row.channel == "sms" and not (row.payload or {}).get("urgent"):
        until = channels.quiet_until(settings.quiet_hours)
        if until is not None:
            delivery.defer(row, until, "quiet hours")
            delivery.dispatch(redis, [row])
            log.info("%s deferred to %s: quiet hours", row.key, clock.iso(until))
            return "deferred"
    return None


def _failed(settings, redis, row: Notification, exc: Exception) -> str:
    from wechat.client import WeChatError

    if isinstance(exc, WeChatError):
        kind, code = exc.kind, exc.errcode
    elif isinstance(exc, SmsError):
        kind, code = exc.kind, exc.code
    else:
        delivery.release(row, f"{exc.__class__.__name__}: {exc}")
        raise exc
    error = f"{code} {exc}"
    if kind == "quota":
        seconds = channels.pause_channel(redis, row.channel, f"{code} on {row.key}")
        delivery.defer(row, clock.now() + _seconds(seconds), f"{code}: quota; channel paused")
        delivery.dispatch(redis, [row])
        return "deferred"
    if kind == "config":
        channels.add_alert(redis, "configuration", channel=row.channel, code=code, message=str(exc))
    if kind in ("permanent", "config"):
        delivery.mark_failed(row, error)
        log.info("%s failed permanently (%s); falling back", row.key, code)
        _fall_back(settings, redis, row, code)
        return "failed"
    # transient, token, other: retry with backoff; the last attempt is final
    if row.attempts >= delivery.MAX_SEND_ATTEMPTS:
        delivery.mark_failed(row, error)
        _fall_back(settings, redis, row, code)
        raise fail_without_retry(SendFailed(f"{row.key}: gave up after {row.attempts} attempts: {error}"))
    delivery.release(row, error)
    if kind == "other":
        channels.add_alert(redis, "send_error", channel=row.channel, code=code, message=str(exc))
    raise SendFailed(f"{row.key}: {error}") from exc


def _fall_back(settings, redis, row: Notification, code) -> None:
    """Another channel for a delivery refused for good: a staff template → SMS; a resident's
    notice → the next channel of the policy (workers/reach.py)."""
    payload = row.payload or {}
    event = Event.get_or_none(Event.id == row.event_id) if row.event_id else None
    if event is None:
        return
    fallback = None
    kind, _, ident = row.recipient.partition(":")
    if row.channel == "template" and kind == "staff":
        person = Staff.get_or_none(Staff.id == int(ident))
        fallback = person and sms_fallback(settings, row.key, person, event, payload.get("kind", "task"))
    elif kind == "resident":
        if row.channel == "template" and code == 43004:
            Resident.update(oa_following=False).where(Resident.id == int(ident)).execute()
        if row.channel == "subscribe" and code == 43101:
            (SubscribeOptIn.update(remaining=0, updated_at=clock.now())
             .where((SubscribeOptIn.resident == int(ident))
                    & (SubscribeOptIn.template_id == (payload.get("content") or {}).get("template_id"))).execute())
        resident = Resident.get_or_none(Resident.id == int(ident))
        prefix = row.key.rsplit(":", 3)[0]
        fallback = resident and reach.plan_notice(settings, prefix, resident, event, payload.get("kind", "accepted"),
                                                  (payload.get("content") or {}).get("note"), after=row.channel)
    if not fallback:
        return
    step = row.step if row.step_id else None
    rows = delivery.persist([fallback], event, step)
    delivery.dispatch(redis, rows)
    log.info("%s: fallback %s planned", row.key, fallback.key)


def _seconds(value: int):
    import datetime as dt

    return dt.timedelta(seconds=int(value))
