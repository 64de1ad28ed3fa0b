"""Inbound pushes: safe XML parsing into ``Incoming``, storage, and acting once per message.

WeChat re-delivers a push it got no answer to within 5 s — up to three more times, ~5 s
apart — and the dialog must act once. ``receive`` claims the message's dedupe key in Redis
(``SET NX``), lets the dialog answer, then stores message and reply together
(``InboundMessage``, unique on the same key). A copy that finds the claim — or the stored
row, which Redis may not know about after a restart — waits up to ``WAIT_SECONDS`` for the
stored reply and answers with it. When Redis is unreachable the unique key is the claim:
the row is stored first, the dialog acts, the reply is added.

The row is looked up before acting only when the claim alone might not prove a first
delivery. The claim script also reads ``SINCE_KEY``: the instant since which this Redis has
kept our claims (set when found missing — a fresh, flushed or restarted-empty Redis). A
message created at least ``GRACE`` seconds after that instant, and still young enough that
its claims cannot have expired, had every earlier copy claimed in this same Redis, so a
successful claim is proof; otherwise (the first minute after Redis lost its keys, a very old
message) the row is checked as well. This saves a database round trip on nearly every push
(docs/wechat-protocol.md, "Retries: acting once"). It assumes WeChat's clock and ours agree within
``GRACE`` and a Redis that does not evict keys (RQ needs ``noeviction`` anyway).

XML is parsed once, by defusedxml with DTDs, entities and external references refused; the
resulting tree is handed to wechatpy's message classes in the shape xmltodict would give
(wechatpy's own ``parse_message`` would parse the text a second time, with another parser).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Callable
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from redis.exceptions import NoScriptError, RedisError
from wechatpy.events import EVENT_TYPES
from wechatpy.messages import MESSAGE_TYPES, UnknownMessage

from backend.services import residents
from backend.services.residents import NO_REPLY
from wechat.messages import Incoming, from_wechatpy

log = logging.getLogger("ejia.wechat.inbound")

MAX_BODY = 64 * 1024
MAX_KEY = 191  # InboundMessage.dedupe_key
KEY_PREFIX = "ejia:wechat:in:"
CLAIM_TTL = 300  # s: covers WeChat's retries (~5, 10, 15 s) many times over; after it the unique key still holds
SINCE_KEY = "ejia:wechat:claims-since"  # epoch s since which this Redis has kept every claim
GRACE = 60  # s: allowed clock difference between WeChat (CreateTime) and us
#: One round trip: claim the key, read (or start) SINCE_KEY. Returns {claimed 0/1, since}.
CLAIM_SCRIPT = """
local claimed = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
local since = redis.call('GET', KEYS[2])
if not since then
  redis.call('SET', KEYS[2], ARGV[2])
  since = ARGV[2]
end
if claimed then return {1, since} end
return {0, since}
"""
CLAIM_SHA = hashlib.sha1(CLAIM_SCRIPT.encode()).hexdigest()
WAIT_SECONDS = 4.0  # a copy waits this long for the first delivery's reply (5 s budget)
POLL_SECONDS = 0.05
#: Kinds the user *sent* (they open the 48-hour customer-message window); events do not.
MESSAGE_KINDS = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "unknown"})


class BadMessage(ValueError):
    """Not a WeChat push we can read: answered 400, nothing stored."""


@dataclass(frozen=True)
class Parsed:
    incoming: Incoming
    account: str  # ToUserName: our account's original id (gh_…), the sender of any reply
    msg_type: str  # MsgType as pushed (for unknown types the only clue)
    raw: dict  # every field as parsed, kept for message types we do not model


@dataclass(frozen=True)
class Answer:
    reply: str | None  # None → "success"
    at: int  # when the message was first received (epoch s): the reply's CreateTime
    repeated: bool  # a copy, answered from the stored reply


def xml_root(body: bytes) -> Element:
    """Parse with DTDs, entities and external references refused (billion laughs, XXE)."""
    try:
        root = safe_xml.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError) as exc:
        raise BadMessage(f"unreadable XML: {exc.__class__.__name__}") from None
    if root.tag != "xml":
        raise BadMessage("root element is not <xml>")
    return root


def envelope_ciphertext(body: bytes) -> str:
    """The ``Encrypt`` element of a safe- or compatible-mode push."""
    node = xml_root(body).find("Encrypt")
    if node is None or not (node.text or "").strip():
        raise BadMessage("no Encrypt element")
    return node.text.strip()


def parse_message(xml: bytes) -> Parsed:
    """A (decrypted) push → ``Parsed``; raises BadMessage for anything we cannot trust."""
    root = xml_root(xml)
    if len({child.tag for child in root}) != len(root):
        raise BadMessage("repeated element")
    data = _element_dict(root)
    for name in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
        if not isinstance(data.get(name), str):
            raise BadMessage(f"missing {name}")
    if len(data["FromUserName"]) > 64 or len(data["MsgType"]) > 32 or len(str(data.get("Event") or "")) > 32:
        raise BadMessage("field too long")
    try:
        incoming = from_wechatpy(_wechatpy_message(data))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadMessage(f"unreadable fields: {exc.__class__.__name__}") from None
    if not 0 < incoming.create_time < 10**11 or len(incoming.dedupe_key) > MAX_KEY:
        raise BadMessage("CreateTime or MsgId out of range")
    return Parsed(incoming, data["ToUserName"], data["MsgType"], data)


def _element_dict(element: Element) -> dict:
    """Children as xmltodict shapes them: stripped text (None when empty), nested dicts,
    lists for repeated tags (e.g. ``SendPicsInfo/PicList/item``)."""
    out: dict = {}
    for child in element:
        value = _element_dict(child) if len(child) else ((child.text or "").strip() or None)
        if child.tag in out:
            previous = out[child.tag]
            out[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[child.tag] = value
    return out


def _wechatpy_message(message: dict):
    """``wechatpy.parser.parse_message`` (1.8.18) from the parsed dict instead of the text."""
    message_type = message["MsgType"].lower()
    if message_type == "event" or message_type.startswith("device_"):
        event_type = message["Event"].lower() if "Event" in message else None
        if event_type is None and message_type.startswith("device_"):
            event_type = message_type
        elif message_type.startswith("device_"):
            event_type = f"device_{event_type}"
        if event_type == "subscribe" and message.get("EventKey"):
            event_key = message["EventKey"]
            if event_key.startswith(("scanbarcode|", "scanimage|")):
                event_type = message["Event"] = "subscribe_scan_product"
            elif event_key.startswith("qrscene_"):  # followed by scanning a parametric QR code
                event_type = message["Event"] = "subscribe_scan"
                message["EventKey"] = event_key[len("qrscene_"):]
        return EVENT_TYPES.get(event_type, UnknownMessage)(message)
    return MESSAGE_TYPES.get(message_type, UnknownMessage)(message)


def receive(parsed: Parsed, redis, respond: Callable[[], str | None]) -> Answer:
    """Store ``parsed`` once and answer it once; copies get the first answer."""
    key = parsed.incoming.dedupe_key
    now = int(time.time())
    try:
        claimed, since = claim(redis, key, now)
    except RedisError as exc:
        log.warning("Redis unavailable (%s); de-duplicating %s through the database", exc, key)
        return _receive_without_redis(parsed, respond)
    if not claimed:
        return _await_answer(key)
    # The row check covers what Redis cannot know: a copy answered while Redis was away or
    # before it lost its keys (restart, failover) — needed only when the claim is no proof.
    if not claim_is_proof(since, parsed.incoming.create_time, now) and residents.inbound_stored(key):
        return _await_answer(key)
    reply = respond()
    received_at = _record(parsed, NO_REPLY if reply is None else reply)
    if received_at is None:  # a copy went through the database path at this very moment
        log.error("%s was acted on twice: Redis claim lost while a copy was being answered", key)
        return _await_answer(key)
    return Answer(reply, _epoch(received_at), repeated=False)


def claim(redis, dedupe_key: str, now: int) -> tuple[bool, int]:
    """``SET NX`` the message's claim and read SINCE_KEY, in one round trip."""
    keys_and_args = (KEY_PREFIX + dedupe_key, SINCE_KEY, CLAIM_TTL, now)
    try:
        claimed, since = redis.evalsha(CLAIM_SHA, 2, *keys_and_args)
    except NoScriptError:  # first call on this Redis, or after SCRIPT FLUSH / a restart
        claimed, since = redis.eval(CLAIM_SCRIPT, 2, *keys_and_args)
    try:
        return bool(claimed), int(since)
    except ValueError:  # not ours to read (set by hand?): no proof, so the row is checked
        log.warning("%s holds %r, not an epoch; checking rows until it is reset", SINCE_KEY, since)
        return bool(claimed), now


def claim_is_proof(since: int, created: int, now: int) -> bool:
    """Whether a successful claim alone shows no earlier copy of a message created at
    ``created`` was answered: Redis has kept claims since before the message existed (with
    GRACE for clock difference), and no claim made for it since then can have expired."""
    return since <= created - GRACE and now <= created + CLAIM_TTL - GRACE


def _receive_without_redis(parsed: Parsed, respond: Callable[[], str | None]) -> Answer:
    """The row is the claim: stored first (reply pending), answered after the dialog acted."""
    key = parsed.incoming.dedupe_key
    received_at = _record(parsed, None)
    if received_at is None:
        return _await_answer(key)
    reply = respond()
    residents.answer_inbound(key, reply)
    return Answer(reply, _epoch(received_at), repeated=False)


def _record(parsed: Parsed, reply: str | None) -> dt.datetime | None:
    incoming = parsed.incoming
    payload = incoming.to_dict()
    if incoming.kind == "unknown":
        payload["raw"] = parsed.raw
    return residents.record_inbound(
        dedupe_key=incoming.dedupe_key, openid=incoming.openid, msg_type=parsed.msg_type,
        event_type=incoming.event, payload=payload, opens_window=incoming.kind in MESSAGE_KINDS, reply=reply)


def _await_answer(dedupe_key: str) -> Answer:
    """The reply stored by the delivery that got there first, polled for up to WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        row = residents.find_inbound(dedupe_key)
        if row is not None and row.reply is not None:
            reply = None if row.reply == NO_REPLY else row.reply
            return Answer(reply, _epoch(row.created_at), repeated=True)
        if time.monotonic() >= deadline:
            log.warning("no stored reply for %s after %.0f s; answering success", dedupe_key, WAIT_SECONDS)
            return Answer(None, 0, repeated=True)
        time.sleep(POLL_SECONDS)


def _epoch(value: dt.datetime) -> int:
    return int(value.replace(tzinfo=dt.timezone.utc).timestamp())
