"""The dialog entry point: one parsed push in, the passive reply text (or None) out.

``respond`` hands every known message and event to ``wechat.dialog.respond(incoming, redis)``
(tests and the protocol benchmark put a stand-in in ``dispatch.dialog``). It runs inside
WeChat's 5-second budget and must not call out over the network: media download,
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

import logging

from backend.db import DATABASE_DOWN
from backend.errors import DomainError
from wechat import dialog
from wechat.messages import Incoming

log = logging.getLogger("ejia.wechat.dispatch")

UNKNOWN_HINT = "暂不支持这种消息。请发送文字、语音、位置或照片来上报身边的问题。"
APOLOGY = "抱歉，系统刚才出了点问题，这条消息没有处理成功，请稍后再发一次。"
SILENT_EVENTS = frozenset({"LOCATION", "TEMPLATESENDJOBFINISH", "unsubscribe"})


def respond(incoming: Incoming, redis) -> str | None:
    if incoming.kind == "unknown":
        return UNKNOWN_HINT
    try:
        reply = dialog.respond(incoming, redis)
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
