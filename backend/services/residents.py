"""Residents as the official account sees them: an openid that writes to us.

Recording what someone sent (``InboundMessage``, kept once by its dedupe key) and noting
when they last wrote (``Resident.last_message_at``) happen in one transaction: the row is
the durable claim on a WeChat delivery, so a message retried four times acts once even when
Redis is away.

``last_message_at`` opens WeChat's 48-hour customer-message window, which only a message
the user *sent* opens. Follows, scans and menu clicks allow 3 customer messages within one
minute instead, and LOCATION / VIEW / template receipts allow none — so events create the
Resident row but leave ``last_message_at`` alone, and workers never count on a window that
is not there (they would get 45015).
"""
from __future__ import annotations

import datetime as dt

import peewee

from backend import clock
from backend.db import transaction
from backend.models import InboundMessage, Resident

#: Stored in ``InboundMessage.reply`` when the answer was "nothing to say" (WeChat ``success``).
#: NULL means "still being answered".
NO_REPLY = ""


def touch_resident(openid: str, *, opens_window: bool = True, at: dt.datetime | None = None) -> Resident:
    """The Resident for an official-account openid, created if missing.

    ``opens_window``: the user sent a message, so the 48-hour window starts now.
    """
    with transaction():
        _upsert_resident(openid, opens_window, at or clock.now())
    return Resident.get(Resident.oa_openid == openid)


def _upsert_resident(openid: str, opens_window: bool, at: dt.datetime) -> None:
    # One statement on both engines (INSERT … ON CONFLICT), so two first messages from one
    # new openid arriving together cannot both try to create the row.
    if opens_window:
        query = Resident.insert(oa_openid=openid, last_message_at=at, created_at=at).on_conflict(
            conflict_target=[Resident.oa_openid], update={Resident.last_message_at: at})
    else:
        query = Resident.insert(oa_openid=openid, created_at=at).on_conflict_ignore()
    query.execute()


def record_inbound(*, dedupe_key: str, openid: str, msg_type: str, event_type: str | None,
                   payload: dict, opens_window: bool) -> InboundMessage | None:
    """Store one pushed message and touch its sender; None when the key is already stored."""
    at = clock.now()
    try:
        with transaction():
            row = InboundMessage.create(dedupe_key=dedupe_key, openid=openid, msg_type=msg_type,
                                        event_type=event_type, payload=payload, created_at=at)
            _upsert_resident(openid, opens_window, at)
    except peewee.IntegrityError:
        if find_inbound(dedupe_key) is None:
            raise  # some other constraint: not a duplicate, let it surface
        return None
    return row


def answer_inbound(inbound_id: int, reply: str | None) -> None:
    """Keep the reply given to a stored message (None → ``NO_REPLY``) for its retries."""
    with transaction():
        (InboundMessage.update(reply=NO_REPLY if reply is None else reply)
         .where(InboundMessage.id == inbound_id).execute())


def find_inbound(dedupe_key: str) -> InboundMessage | None:
    return InboundMessage.get_or_none(InboundMessage.dedupe_key == dedupe_key)
