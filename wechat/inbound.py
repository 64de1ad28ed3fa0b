"""Inbound pushes: safe XML parsing into ``Incoming``, storage, and acting once per message.

WeChat re-delivers a push it got no answer to within 5 s — up to three more times, ~5 s
apart — and the dialog must act once. ``receive`` stores the message first
(``InboundMessage``, unique on its dedupe key): the insert that creates the row is the
claim, so whichever delivery inserts it lets the dialog act, whatever Redis knows or has
forgotten. The reply is then kept in that row by ``REPLIES``, a writer thread that puts the
replies of many pushes into one statement every ``REPLY_FLUSH_SECONDS``. A copy — its insert
finds the row — waits up to ``WAIT_SECONDS`` for the reply to appear and answers with it.

Why this order (docs/wechat-protocol.md, "Retries: acting once"): the row is written before
anything acts, so a message is never acted on without being kept, and the claim needs no
second store — an earlier version claimed in Redis first (``SET NX``) and wrote the row
after, two round trips per push where one gives the same guarantee. Writing the reply
behind costs a copy at most one flush interval of waiting (WeChat retries after 5 s); if
the process dies before its writer flushed, a copy answers ``success`` after waiting — the
message is kept and was acted on once, only that reply text is lost.

XML is parsed once, by defusedxml with DTDs, entities and external references refused, and
no deeper than ``MAX_DEPTH`` (WeChat's deepest push, a photo list, has five levels; a deeper
tree is refused before anything walks it recursively); the resulting tree is handed to
wechatpy's message classes in the shape xmltodict would give (wechatpy's own
``parse_message`` would parse the text a second time, with another parser).
"""
from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from wechatpy.events import EVENT_TYPES
from wechatpy.messages import MESSAGE_TYPES, UnknownMessage

from backend.db import DATABASE_DOWN, open_connection
from backend.services import residents
from backend.services.residents import NO_REPLY
from wechat.messages import Incoming, from_wechatpy

log = logging.getLogger("ejia.wechat.inbound")

MAX_BODY = 64 * 1024
MAX_KEY = 191  # InboundMessage.dedupe_key
MAX_DEPTH = 8  # <xml> is level 1; SendPicsInfo/PicList/item/PicMd5Sum reaches 5
ENVELOPE_FIELDS = frozenset({"ToUserName", "Encrypt"})  # all a safe-mode (安全模式) body carries
WAIT_SECONDS = 4.0  # a copy waits this long for the first delivery's reply (5 s budget)
POLL_SECONDS = 0.05
REPLY_FLUSH_SECONDS = 0.05  # the reply writer's batching interval: far below WeChat's 5-s retry
#: Kinds the user *sent* (they open the 48-hour customer-message window); events do not.
MESSAGE_KINDS = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "unknown"})


class BadMessage(ValueError):
    """Not a WeChat push we can read: answered 400, nothing stored."""


class Interrupted(Exception):
    """The push was stored (claimed), then the database went away before it was acted on.
    ``received_at`` is the claim's time: the spool keeps it, and ``resume`` recognises the
    claim as this delivery's own when the push is replayed."""

    def __init__(self, received_at: dt.datetime):
        super().__init__(f"database lost after the claim of {received_at}")
        self.received_at = received_at


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
    """Parse with DTDs, entities and external references refused (billion laughs, XXE), and
    at most MAX_DEPTH levels deep. The parse itself does not recurse; the depth is checked
    level by level before anything walks the tree recursively."""
    try:
        root = safe_xml.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError) as exc:
        raise BadMessage(f"unreadable XML: {exc.__class__.__name__}") from None
    if root.tag != "xml":
        raise BadMessage("root element is not <xml>")
    level, depth = [root], 1
    while level:  # one list per level: a handful of steps for any real push
        if depth > MAX_DEPTH:
            raise BadMessage(f"XML nested deeper than {MAX_DEPTH} levels")
        level = [child for element in level for child in element]
        depth += 1
    return root


def envelope(body: bytes) -> tuple[str, bool]:
    """The ``Encrypt`` element of a safe- or compatible-mode push, and whether the body carries
    plaintext fields besides it (compatible mode, 兼容模式) — which safe mode refuses."""
    root = xml_root(body)
    node = root.find("Encrypt")
    if node is None or not (node.text or "").strip():
        raise BadMessage("no Encrypt element")
    return node.text.strip(), any(child.tag not in ENVELOPE_FIELDS for child in root)


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


def receive(parsed: Parsed, respond: Callable[[], str | None], nonce: tuple[int, str],
            received_at: dt.datetime | None = None, wait: bool = True) -> Answer:
    """Store ``parsed`` once and answer it once; copies get the first answer (``wait``) or
    none. ``nonce`` is the callback's (timestamp, nonce) pair: accepted once
    (``residents.NonceReused`` otherwise). ``received_at``: when a spooled push really
    arrived (default now)."""
    key = parsed.incoming.dedupe_key
    received_at = _record(parsed, nonce, received_at)  # the claim: a copy finds the row and inserts nothing
    if received_at is None:
        return _await_answer(key) if wait else Answer(None, 0, repeated=True)
    reply = _act(respond, received_at)
    REPLIES.keep(key, reply)
    return Answer(reply, _epoch(received_at), repeated=False)


def resume(parsed: Parsed, respond: Callable[[], str | None], received_at: dt.datetime) -> Answer | None:
    """Act on a push whose claim this delivery made at ``received_at`` but never answered (the
    database went away in between: ``Interrupted``); None when the row is someone else's or
    answered. The reply is kept at once — a replay does not wait for the writer thread."""
    row = residents.find_inbound(parsed.incoming.dedupe_key)
    if row is None or row.reply is not None or row.created_at != received_at:
        return None
    reply = _act(respond, received_at)
    residents.answer_inbounds([(row.dedupe_key, reply)])
    return Answer(reply, _epoch(received_at), repeated=False)


def _act(respond: Callable[[], str | None], received_at: dt.datetime) -> str | None:
    try:
        return respond()
    except DATABASE_DOWN as exc:
        raise Interrupted(received_at) from exc


class ReplyWriter:
    """Keeps replies in their ``InboundMessage`` rows from a background thread, many per
    statement. ``keep`` only queues; ``flush`` writes what is queued now (tests, shutdown).
    One writer per process: it starts on first use, and a forked child (a gunicorn worker)
    starts afresh — its parent's queue is its parent's to write."""

    def __init__(self, write: Callable[[list[tuple[str, str | None]]], None], interval: float = REPLY_FLUSH_SECONDS):
        self.write, self.interval = write, interval
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush)

    def _reset(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, str | None]] = queue.SimpleQueue()
        self._lock = threading.Lock()  # one batch written at a time (the thread and flush())
        self._queued = threading.Event()  # set by keep(): there is something to write
        self._started = False

    def keep(self, dedupe_key: str, reply: str | None) -> None:
        self._queue.put((dedupe_key, reply))
        self._queued.set()
        if not self._started:
            with self._lock:
                if not self._started:
                    threading.Thread(target=self._run, name="ejia-reply-writer", daemon=True).start()
                    self._started = True

    def flush(self) -> int:
        """Write every queued reply now; returns how many were written."""
        with self._lock:
            return self._write_queued()

    def _run(self) -> None:
        while True:
            self._queued.wait()
            time.sleep(self.interval)  # let the replies of concurrent pushes gather
            with self._lock:
                self._queued.clear()  # before draining: a reply queued after this sets it again
                self._write_queued()

    def _write_queued(self) -> int:
        batch = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if batch:
            self._write(batch)
        return len(batch)

    def _write(self, batch: list[tuple[str, str | None]]) -> None:
        for attempt in range(3):
            try:
                self.write(batch)
                return
            except DATABASE_DOWN as exc:
                log.warning("could not keep %d replies (attempt %d): database unavailable (%s)",
                            len(batch), attempt + 1, str(exc).strip().splitlines()[0][:200])
            except Exception:  # noqa: BLE001 — logged; the thread must outlive a database hiccup
                log.exception("could not keep %d replies (attempt %d)", len(batch), attempt + 1)
            time.sleep(0.5 * (attempt + 1))
        log.error("gave up keeping replies for %s; their copies will answer success",
                  ", ".join(key for key, _ in batch[:5]))


def _keep_in_rows(batch: list[tuple[str, str | None]]) -> None:
    with open_connection():
        residents.answer_inbounds(batch)


REPLIES = ReplyWriter(_keep_in_rows)


def _record(parsed: Parsed, nonce: tuple[int, str], received_at: dt.datetime | None) -> dt.datetime | None:
    """Store the push with its reply pending; None when its key is stored already (a copy)."""
    incoming = parsed.incoming
    payload = incoming.to_dict()
    if incoming.kind == "unknown":
        payload["raw"] = parsed.raw
    return residents.record_inbound(
        dedupe_key=incoming.dedupe_key, openid=incoming.openid, msg_type=parsed.msg_type,
        event_type=incoming.event, payload=payload, opens_window=incoming.kind in MESSAGE_KINDS,
        nonce=nonce, at=received_at)


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
