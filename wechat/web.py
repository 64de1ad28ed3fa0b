"""``GET/POST /wechat``: the official account's callback (DESIGN §4, §10; docs/wechat-protocol.md).

Order of checks, cheapest and least trusting first: the push format the account accepts
(``WECHAT_ENCRYPT_MODE``: plaintext pushes are refused unless it is ``plain``; 403), signature
over the query (403), timestamp window (403), content type (415), body size — refused from
Content-Length before reading, and never read past 64 KB (400), the safe-mode envelope (400;
a compatible-mode body is refused in ``safe``, 403) and its ``msg_signature`` and AppId (403),
then the message itself (400). Only then is anything stored — the message together with the
callback's (timestamp, nonce) pair, which is accepted once (403 for a second push under it).

The database connection is opened here, after those checks, not by the app's hook: if the
database cannot be reached the push goes to the local spool (wechat/spool.py) and the
resident is told it was received; it is replayed when the database is back. Replies: an XML
text message (encrypted with the key that opened the push in safe/compatible mode), or
``success`` when there is nothing to say.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import time

from flask import Blueprint, Response, current_app, request

from backend import clock
from backend.db import DATABASE_DOWN
from backend.db import connect as connect_db
from backend.services.residents import NonceReused
from wechat import dispatch, inbound
from wechat.crypto import CallbackCrypto, DecryptError, SignatureError
from wechat.replay import Replayer
from wechat.spool import REPLY as SPOOLED_REPLY
from wechat.spool import PairSpooled, Spool, SpoolFull

log = logging.getLogger("ejia.wechat.web")

bp = Blueprint("wechat", __name__)

#: What WeChat sends (text/xml) and harmless relatives; JSON, forms and multipart are refused.
XML_MIMETYPES = frozenset({"", "text/xml", "application/xml", "text/plain", "application/octet-stream"})
SLOW_SECONDS = 3.0  # log answers that eat most of WeChat's 5-second budget
MAX_NONCE = 64  # InboundMessage.callback_nonce; WeChat's are about ten digits
#: Pushes nobody reads a reply to: a spooled one is answered ``success`` like any other time.
QUIET_EVENTS = dispatch.SILENT_EVENTS | {"VIEW", "location_select"}
SPOOL_RETRY_AFTER = "30"
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class Reject(Exception):
    """A refused push: the status and a short reason (logged, and sent as plain text)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def register(app) -> None:
    settings = app.extensions["ejia.settings"]
    app.extensions["ejia.wechat.crypto"] = CallbackCrypto.from_settings(settings)
    spool = Spool(settings.var_dir / "wechat-spool", settings.wechat_spool_max_mb * 1024 * 1024)
    app.extensions["ejia.wechat.spool"] = spool
    app.extensions["ejia.wechat.replayer"] = Replayer(spool, app.extensions["ejia.redis"])
    app.register_blueprint(bp)
    # receive_push opens its connection itself (unprobed, after every check), so a database
    # outage reaches the spool; verify_url never touches the database.


@bp.errorhandler(Reject)
def _rejected(err: Reject):
    log.info("/wechat %s: %s", err.status, err.reason)
    response = _plain(err.reason, err.status)
    response.headers["Connection"] = "close"  # the body may be unread; do not reuse the connection
    if err.status == 503:
        response.headers["Retry-After"] = SPOOL_RETRY_AFTER
    return response


@bp.get("/wechat")
def verify_url():
    """The URL check when the callback is configured: answer ``echostr`` unchanged."""
    crypto, settings = _crypto(), current_app.extensions["ejia.settings"]
    args = request.args
    _authenticate(crypto, args.get("signature"), args.get("timestamp", ""), args.get("nonce", ""),
                  settings.wechat_timestamp_window)
    echostr = args.get("echostr")
    if echostr is None:
        raise Reject(400, "missing echostr")
    return _plain(echostr)


@bp.post("/wechat")
def receive_push():
    started = time.monotonic()
    extensions = current_app.extensions
    crypto, settings = extensions["ejia.wechat.crypto"], extensions["ejia.settings"]
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    safe = args.get("encrypt_type", "raw").lower() == "aes"
    mode = settings.wechat_encrypt_mode
    if not safe and mode != "plain":
        raise Reject(403, f"plaintext pushes are refused (WECHAT_ENCRYPT_MODE={mode})")
    msg_signature = args.get("msg_signature")
    if safe and not msg_signature:
        raise Reject(403, "missing msg_signature")
    # WeChat always sends the plain signature; safe mode is covered by msg_signature too.
    plain_signature = args.get("signature")
    if plain_signature is not None or not safe:
        _authenticate(crypto, plain_signature, timestamp, nonce, settings.wechat_timestamp_window)
    else:
        _check_fresh(timestamp, settings.wechat_timestamp_window)
    if not 0 < len(nonce) <= MAX_NONCE:
        raise Reject(403, "bad nonce")
    pair = (int(timestamp), nonce)
    if request.mimetype not in XML_MIMETYPES:
        raise Reject(415, "expected text/xml")
    body = _read_body()
    cipher = None
    try:
        if safe:
            encrypted, compatible = inbound.envelope(body)
            if compatible and mode == "safe":
                raise Reject(403, "compatible-mode pushes are refused (WECHAT_ENCRYPT_MODE=safe)")
            try:
                xml, cipher = crypto.open(encrypted, msg_signature, timestamp, nonce)
            except (SignatureError, DecryptError) as exc:
                raise Reject(403, str(exc)) from None
        else:
            xml = body
        parsed = inbound.parse_message(xml)
    except inbound.BadMessage as exc:
        raise Reject(400, str(exc)) from None

    spool, replayer = extensions["ejia.wechat.spool"], extensions["ejia.wechat.replayer"]
    if spool.holds(parsed.incoming.openid):  # this person's earlier pushes wait there: keep the order
        return _spool(spool, replayer, parsed, xml, pair, crypto, cipher)
    redis = extensions["ejia.redis"]
    try:
        connect_db(probe=False)  # the first statement stores the push: it is the connection check
        answer = inbound.receive(parsed, lambda: dispatch.respond(parsed.incoming, redis), pair)
    except NonceReused as exc:
        raise Reject(403, str(exc)) from None
    except inbound.Interrupted as exc:  # stored, then the database went away: act on it later
        log.warning("/wechat: database lost while answering %s (%s); spooling it",
                    parsed.incoming.dedupe_key, exc.__cause__)
        return _spool(spool, replayer, parsed, xml, pair, crypto, cipher, exc.received_at)
    except DATABASE_DOWN as exc:
        log.warning("/wechat: database unavailable (%s: %s); spooling %s", type(exc).__name__,
                    str(exc).strip()[:200], parsed.incoming.dedupe_key)
        return _spool(spool, replayer, parsed, xml, pair, crypto, cipher)
    elapsed = time.monotonic() - started
    if elapsed > SLOW_SECONDS:
        log.warning("/wechat answered %s after %.1f s (budget 5 s)", parsed.incoming.dedupe_key, elapsed)
    return _reply(parsed, answer.reply, answer.at, crypto, cipher)


def _spool(spool: Spool, replayer: Replayer, parsed: inbound.Parsed, xml: bytes, pair: tuple[int, str],
           crypto: CallbackCrypto, cipher, received_at: dt.datetime | None = None) -> Response:
    """Keep a verified push for later (fsynced) and tell the resident so; refuse when full.
    ``received_at``: the claim's time when the push was stored before the database went away."""
    try:
        spool.append(xml, *pair, received_at=received_at or clock.now(), openid=parsed.incoming.openid)
    except PairSpooled as exc:
        raise Reject(403, str(exc)) from None
    except SpoolFull as exc:
        log.error("/wechat: %s; refusing %s", exc, parsed.incoming.dedupe_key)
        raise Reject(503, "temporarily unavailable") from None
    except OSError as exc:
        log.error("/wechat: could not spool %s (%s)", parsed.incoming.dedupe_key, exc)
        raise Reject(503, "temporarily unavailable") from None
    replayer.wake()
    incoming = parsed.incoming
    quiet = incoming.event in QUIET_EVENTS or incoming.kind == "unknown"
    return _reply(parsed, None if quiet else SPOOLED_REPLY, int(time.time()), crypto, cipher)


def _reply(parsed: inbound.Parsed, text: str | None, at: int, crypto: CallbackCrypto, cipher) -> Response:
    if text is None:
        return _plain("success")
    reply = text_reply_xml(parsed.incoming.openid, parsed.account, at, text)
    if cipher is not None:
        reply = crypto.seal(reply, cipher)
    return Response(reply, 200, content_type="application/xml; charset=utf-8")


def text_reply_xml(openid: str, account: str, create_time: int, content: str) -> str:
    """A passive text reply; CDATA split around any ``]]>`` so no content can break the XML."""
    return (f"<xml><ToUserName>{_cdata(openid)}</ToUserName><FromUserName>{_cdata(account)}</FromUserName>"
            f"<CreateTime>{int(create_time)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{_cdata(content)}</Content></xml>")


def _cdata(text: str) -> str:
    text = _XML_ILLEGAL.sub("", text)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _crypto() -> CallbackCrypto:
    return current_app.extensions["ejia.wechat.crypto"]


def _authenticate(crypto: CallbackCrypto, signature: str | None, timestamp: str, nonce: str,
                  window: int) -> None:
    try:
        crypto.check_signature(signature, timestamp, nonce)
    except SignatureError as exc:
        raise Reject(403, str(exc)) from None
    _check_fresh(timestamp, window)


def _check_fresh(timestamp: str, window: int) -> None:
    """±``window`` seconds around our clock: an old signed request cannot be replayed later."""
    try:
        sent = int(timestamp)
    except ValueError:
        raise Reject(403, "bad timestamp") from None
    if abs(time.time() - sent) > window:
        raise Reject(403, "timestamp outside the accepted window")


def _read_body() -> bytes:
    """At most MAX_BODY bytes: refused from Content-Length, else counted while reading
    (chunked uploads), so an oversized body is never held in memory."""
    limit, length = inbound.MAX_BODY, request.content_length
    if length is not None and length > limit:
        raise Reject(400, "body larger than 64 KB")
    stream, chunks, size = request.stream, [], 0
    while size <= limit:  # a read may return less than asked: loop to the end or past the limit
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise Reject(400, "body larger than 64 KB")
    body = b"".join(chunks)
    if not body.strip():
        raise Reject(400, "empty body")
    return body


def _plain(text: str, status: int = 200) -> Response:
    return Response(text, status, content_type="text/plain; charset=utf-8")
