"""Inbound pushes: safe XML parsing into ``Incoming``, storage, and acting once per message.

WeChat re-delivers a push it got no answer to within 5 s — up to three more times, ~5 s
apart — and the dialog must act once. ``receive`` claims the message's dedupe key in Redis
(``SET NX``), stores it (``InboundMessage``, unique on the same key: the durable claim,
taken *before* the dialog acts), computes the reply and keeps it in both places. A retry
that finds the claim waits up to ``WAIT_SECONDS`` for the stored reply and answers with it.
When Redis is unreachable the database's unique key alone de-duplicates, and retries poll
the row instead.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from typing import Callable
from xml.etree.ElementTree import Element, ParseError
from xml.parsers.expat import ExpatError

import defusedxml.ElementTree as safe_xml
import wechatpy
from defusedxml import DefusedXmlException
from redis.exceptions import RedisError

from backend.services import residents
from wechat.messages import Incoming, from_wechatpy

log = logging.getLogger("ejia.wechat.inbound")

MAX_BODY = 64 * 1024
MAX_KEY = 191  # InboundMessage.dedupe_key
KEY_PREFIX = "ejia:wechat:in:"
PENDING = b"pending"
DONE = b"done:"
CLAIM_TTL = 30  # s: a claim whose holder died frees itself
DONE_TTL = 600  # s: retries come within ~20 s; the database remembers for good
WAIT_SECONDS = 4.0  # a retry waits this long for the first delivery's reply (5 s budget)
REDIS_POLL = 0.02
DB_POLL = 0.1
#: Kinds the user *sent* (they open the 48-hour customer-message window); events do not.
MESSAGE_KINDS = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "unknown"})


class BadMessage(ValueError):
    """Not a WeChat push we can read: answered 400, nothing stored."""


@dataclass(frozen=True)
class Parsed:
    incoming: Incoming
    account: str  # ToUserName: our account's original id (gh_…), the sender of any reply
    msg_type: str  # MsgType as pushed (for unknown types the only clue)
    raw: dict  # every field wechatpy saw, kept for message types we do not model


@dataclass(frozen=True)
class Answer:
    reply: str | None  # None → "success"
    at: int  # when the message was first received (epoch s): the reply's CreateTime
    repeated: bool  # a retry, answered from the stored reply


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
    tags = [child.tag for child in root]
    if len(tags) != len(set(tags)):
        raise BadMessage("repeated element")
    fields = {child.tag: (child.text or "").strip() for child in root if len(child) == 0}
    for name in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
        if not fields.get(name):
            raise BadMessage(f"missing {name}")
    if len(fields["FromUserName"]) > 64 or len(fields["MsgType"]) > 32 or len(fields.get("Event", "")) > 32:
        raise BadMessage("field too long")
    try:
        message = wechatpy.parse_message(xml.decode("utf-8"))
        incoming = from_wechatpy(message)
    except (ValueError, TypeError, KeyError, AttributeError, ExpatError) as exc:
        raise BadMessage(f"unreadable fields: {exc.__class__.__name__}") from None
    if not 0 < incoming.create_time < 10**11 or len(incoming.dedupe_key) > MAX_KEY:
        raise BadMessage("CreateTime or MsgId out of range")
    return Parsed(incoming, fields["ToUserName"], fields["MsgType"], dict(message._data))


def receive(parsed: Parsed, redis, respond: Callable[[], str | None]) -> Answer:
    """Store ``parsed`` once and answer it once; retries get the first answer."""
    incoming = parsed.incoming
    key = KEY_PREFIX + incoming.dedupe_key
    try:
        claimed = redis.set(key, PENDING, nx=True, ex=CLAIM_TTL)
    except RedisError as exc:
        log.warning("Redis unavailable (%s); de-duplicating %s through the database", exc, incoming.dedupe_key)
        redis, claimed = None, True
    if not claimed:
        return _await_answer(incoming.dedupe_key, redis)
    payload = incoming.to_dict()
    if incoming.kind == "unknown":
        payload["raw"] = parsed.raw
    row = residents.record_inbound(
        dedupe_key=incoming.dedupe_key, openid=incoming.openid, msg_type=parsed.msg_type,
        event_type=incoming.event, payload=payload, opens_window=incoming.kind in MESSAGE_KINDS)
    if row is None:  # stored earlier: Redis lost the key, or that delivery had no Redis
        answer = _await_answer(incoming.dedupe_key, None)
    else:
        reply = respond()
        residents.answer_inbound(row.id, reply)
        answer = Answer(reply, _epoch(row.created_at), repeated=False)
    _remember(redis, key, answer)
    return answer


def _await_answer(dedupe_key: str, redis) -> Answer:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        answer = _stored_answer(dedupe_key, redis)
        if answer is not None:
            return answer
        if time.monotonic() >= deadline:
            log.warning("no stored reply for %s after %.0f s; answering success", dedupe_key, WAIT_SECONDS)
            return Answer(None, 0, repeated=True)
        time.sleep(REDIS_POLL if redis is not None else DB_POLL)


def _stored_answer(dedupe_key: str, redis) -> Answer | None:
    if redis is not None:
        try:
            value = redis.get(KEY_PREFIX + dedupe_key)
        except RedisError:
            value = None
        if value == PENDING:
            return None  # the first delivery is still answering
        if value and value.startswith(DONE):
            data = json.loads(value[len(DONE):])
            return Answer(data["reply"], data["at"], repeated=True)
    row = residents.find_inbound(dedupe_key)
    if row is None or row.reply is None:
        return None
    return Answer(row.reply if row.reply != residents.NO_REPLY else None, _epoch(row.created_at), repeated=True)


def _remember(redis, key: str, answer: Answer) -> None:
    if redis is None:
        return
    if answer.at == 0:  # gave up waiting: free the key so later retries look in the database
        try:
            redis.delete(key)
        except RedisError:
            pass  # the claim expires after CLAIM_TTL anyway
        return
    value = DONE + json.dumps({"reply": answer.reply, "at": answer.at}, ensure_ascii=False).encode()
    try:
        redis.set(key, value, ex=DONE_TTL)
    except RedisError as exc:  # the database row still answers retries
        log.warning("could not keep the reply to %s in Redis: %s", key, exc)


def _epoch(value: dt.datetime) -> int:
    return int(value.replace(tzinfo=dt.timezone.utc).timestamp())
