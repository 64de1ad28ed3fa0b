"""The dialog entry point: one parsed push in, the passive reply text (or None) out.

``respond`` hands every known message and event to ``wechat.dialog.respond(incoming, redis)``
when that package exists, and answers with a short fixed reply until it does. It runs
inside WeChat's 5-second budget and must not call out over the network: media download,
routing and notifications are jobs.

Protocol rules applied here, whatever the dialog says:
- LOCATION events (the account's periodic position report) accept only ``success``; so do
  template-send receipts and unsubscribes (nobody is there to read a reply).
- Message types we do not model are answered with a hint, not handed to the dialog.
- A ``DomainError`` becomes its plain-language message; any other failure is logged and
  answered with an apology. The message is already stored as the claim on this delivery,
  so letting WeChat retry would not act again — it would only leave the user without answer.
  Except the database going away: that is no fault of this message, so it propagates, and
  the callback keeps the push for replay (wechat/spool.py) instead of apologising.
"""
from __future__ import annotations

import functools
import importlib
import logging

from backend.db import DATABASE_DOWN
from backend.errors import DomainError
from wechat.messages import Incoming

log = logging.getLogger("ejia.wechat.dispatch")

FALLBACK_REPLY = "您好，这里是e家。发送文字、位置或照片即可上报身边的问题。"
UNKNOWN_HINT = "暂不支持这种消息。请发送文字、语音、位置或照片来上报身边的问题。"
APOLOGY = "抱歉，系统刚才出了点问题，这条消息没有处理成功，请稍后再发一次。"
SILENT_EVENTS = frozenset({"LOCATION", "TEMPLATESENDJOBFINISH", "unsubscribe"})
#: Events a person just did on purpose: worth a greeting from the fixed fallback.
GREETED_EVENTS = frozenset({"subscribe", "subscribe_scan", "SCAN", "CLICK", "scancode_waitmsg"})


def dialog_module():
    """The chat engine (``wechat.dialog``) if it is installed, else None. Tests patch this."""
    return _import_dialog()


@functools.cache
def _import_dialog():
    try:
        module = importlib.import_module("wechat.dialog")
    except ModuleNotFoundError as exc:
        if exc.name != "wechat.dialog":
            raise  # the dialog exists but one of its own imports is missing: a real error
        return None
    if not callable(getattr(module, "respond", None)):  # e.g. a bare directory, no __init__ yet
        log.warning("wechat.dialog has no respond(); answering with the fixed reply")
        return None
    return module


def respond(incoming: Incoming, redis) -> str | None:
    if incoming.kind == "unknown":
        return UNKNOWN_HINT
    dialog = dialog_module()
    try:
        reply = dialog.respond(incoming, redis) if dialog is not None else fallback_reply(incoming)
    except DomainError as err:
        reply = err.message
    except DATABASE_DOWN:
        raise
    except Exception:  # noqa: BLE001 — logged with traceback and answered; see module docstring
        log.exception("dialog failed on %s", incoming.dedupe_key)
        reply = APOLOGY
    if incoming.event in SILENT_EVENTS:
        return None
    return str(reply) if reply else None


def fallback_reply(incoming: Incoming) -> str | None:
    """Until the dialog exists: greet messages and deliberate events, ignore the rest."""
    if incoming.kind == "event" and incoming.event not in GREETED_EVENTS:
        return None
    return FALLBACK_REPLY
