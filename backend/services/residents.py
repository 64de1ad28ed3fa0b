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

The callback's ``(timestamp, nonce)`` pair is stored in the message's row, unique: a pair is
accepted once (``NonceReused`` otherwise, and nothing is stored), so a signed URL taken from a
log cannot carry a second, forged body (docs/wechat-protocol.md).

Every pushed message passes through here inside WeChat's 5-second budget, so these
statements are written out as SQL (the same text on SQLite and PostgreSQL, ``INSERT … ON
CONFLICT``) instead of being built by peewee per call — building them cost more than
running them (docs/benchmarks.md, "/wechat callback").
"""
from __future__ import annotations

import datetime as dt
import functools
from typing import Sequence

from backend import clock, outbox
from backend.db import db, execute_prepared, is_postgres, run_on_live_connection, transaction
from backend.models import InboundMessage, Resident

#: Stored in ``InboundMessage.reply`` when the answer was "nothing to say" (WeChat ``success``).
#: NULL means "still being answered".
NO_REPLY = ""
LATE_REPLY_TOPIC = "wechat.reply"


class NonceReused(Exception):
    """This (timestamp, nonce) pair was accepted before: a replayed or forged push."""


def touch_resident(openid: str, *, opens_window: bool = True, at: dt.datetime | None = None) -> Resident:
    """The Resident for an official-account openid, created if missing.

    ``opens_window``: the user sent a message, so the 48-hour window starts now.
    """
    with transaction():
        _upsert_resident(openid, opens_window, at or clock.now())
    return Resident.get(Resident.oa_openid == openid)


def record_inbound(*, dedupe_key: str, openid: str, msg_type: str, event_type: str | None,
                   payload: dict, opens_window: bool, nonce: tuple[int, str],
                   at: dt.datetime | None = None) -> dt.datetime | None:
    """Store one pushed message with its callback's (timestamp, nonce) pair, its reply pending
    (``answer_inbounds`` keeps it), and touch its sender; returns when it was stored (``at``,
    default now), or None when the key is already stored (a copy). Raises NonceReused, storing
    nothing, when the pair was accepted before."""
    at = at or clock.now()
    values = (dedupe_key, openid, msg_type, event_type, InboundMessage.payload.db_value(payload), None,
              InboundMessage.created_at.db_value(at), int(nonce[0]), nonce[1])
    if is_postgres():
        # One statement (atomic on its own): the row, and the sender touched only if the row is
        # new — one round trip instead of five (docs/benchmarks.md, "/wechat callback").
        # /wechat takes its connection unprobed: this statement is the probe.
        statement = "ejia_record_touching" if opens_window else "ejia_record_ensuring"
        attempts = []

        def store():
            attempts.append(1)
            return execute_prepared(statement, _pg_record_sql()[statement], values).fetchone()

        if run_on_live_connection(store) is not None:
            return at
        if len(attempts) > 1 and _stored_at(dedupe_key) == at:
            return at  # the first attempt went through before its connection died: ours
    else:
        with transaction():
            if db.execute_sql(_sql(db.param)["insert_inbound"], values).rowcount:
                _upsert_resident(openid, opens_window, at)
                return at
    # Nothing stored: the key (a copy of a stored message) or the pair (a replay) was taken.
    if InboundMessage.select().where((InboundMessage.callback_timestamp == int(nonce[0]))
                                     & (InboundMessage.callback_nonce == nonce[1])).exists():
        raise NonceReused(f"timestamp {nonce[0]} and nonce {nonce[1]!r} were used before")
    return None


def record_late_reply(openid: str, dedupe_key: str, text: str) -> None:
    """The answer to a push that could not be answered in time (it was spooled while the
    database was down): a fact for the workers, who send it as a customer-service message."""
    with transaction():
        row = outbox.record(LATE_REPLY_TOPIC, payload={"openid": openid, "dedupe_key": dedupe_key, "text": text})
    outbox.publish([row.id])


def answer_inbounds(answers: Sequence[tuple[str, str | None]]) -> None:
    """Keep the replies given to stored messages (None → ``NO_REPLY``) for their retries,
    many at once: one statement on PostgreSQL, one transaction on SQLite."""
    pairs = [(key, NO_REPLY if reply is None else reply) for key, reply in answers]
    if not pairs:
        return
    if is_postgres():
        rows = ", ".join(["(%s, %s)"] * len(pairs))
        db.execute_sql(f"UPDATE {_table(InboundMessage)} AS m SET {_cols(InboundMessage, 'reply')} = v.reply "
                       f"FROM (VALUES {rows}) AS v(dedupe_key, reply) "
                       f"WHERE m.{_cols(InboundMessage, 'dedupe_key')} = v.dedupe_key",
                       [value for pair in pairs for value in pair])
        return
    with transaction():
        cursor = db.cursor()
        cursor.executemany(_sql(db.param)["answer_inbound"], [(reply, key) for key, reply in pairs])


def find_inbound(dedupe_key: str) -> InboundMessage | None:
    return InboundMessage.get_or_none(InboundMessage.dedupe_key == dedupe_key)


def _stored_at(dedupe_key: str) -> dt.datetime | None:
    row = InboundMessage.select(InboundMessage.created_at).where(InboundMessage.dedupe_key == dedupe_key).first()
    return row.created_at if row is not None else None


def _upsert_resident(openid: str, opens_window: bool, at: dt.datetime) -> None:
    # One statement, so two first messages from one new openid cannot both create the row.
    when = Resident.created_at.db_value(at)
    if opens_window:
        db.execute_sql(_sql(db.param)["touch_resident"], (openid, when, when))
    else:
        db.execute_sql(_sql(db.param)["ensure_resident"], (openid, when))


#: The InboundMessage columns every insert writes, in this order (``values`` in record_inbound).
_INBOUND_COLUMNS = ("dedupe_key", "openid", "msg_type", "event_type", "payload", "reply", "created_at",
                    "callback_timestamp", "callback_nonce")


def _table(model) -> str:
    return f'"{model._meta.table_name}"'


def _cols(model, *names) -> str:
    return ", ".join(f'"{model._meta.fields[n].column_name}"' for n in names)


@functools.cache
def _sql(param: str) -> dict[str, str]:
    """The statements for one placeholder style ('?' SQLite, '%s' psycopg2)."""
    inbound = _cols(InboundMessage, *_INBOUND_COLUMNS)
    key = _cols(Resident, "oa_openid")
    seen = _cols(Resident, "last_message_at")
    return {
        # No conflict target: the dedupe key (a copy) and the callback pair (a replay) both stop it.
        "insert_inbound": f"INSERT INTO {_table(InboundMessage)} ({inbound}) "
                          f"VALUES ({', '.join([param] * len(_INBOUND_COLUMNS))}) ON CONFLICT DO NOTHING",
        "answer_inbound": f"UPDATE {_table(InboundMessage)} SET {_cols(InboundMessage, 'reply')} = {param} "
                          f"WHERE {_cols(InboundMessage, 'dedupe_key')} = {param}",
        "touch_resident": f"INSERT INTO {_table(Resident)} ({key}, {seen}, {_cols(Resident, 'created_at')}, "
                          f"{_cols(Resident, 'subscribe_opt_ins')}) VALUES ({param}, {param}, {param}, 0) "
                          f"ON CONFLICT ({key}) DO UPDATE SET {seen} = excluded.{seen}",
        "ensure_resident": f"INSERT INTO {_table(Resident)} ({key}, {_cols(Resident, 'created_at')}, "
                           f"{_cols(Resident, 'subscribe_opt_ins')}) VALUES ({param}, {param}, 0) "
                           f"ON CONFLICT ({key}) DO NOTHING",
    }


@functools.cache
def _pg_record_sql() -> dict[str, str]:
    """PostgreSQL only (data-modifying CTEs), prepared once per connection: store the message
    and, if it is new, touch its sender. $1–$9 are the InboundMessage columns in order."""
    stored = (f"WITH stored AS (INSERT INTO {_table(InboundMessage)} ({_cols(InboundMessage, *_INBOUND_COLUMNS)}) "
              f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING "
              f"RETURNING 1 AS new), sender AS (INSERT INTO {_table(Resident)} ")
    key, seen, created = _cols(Resident, "oa_openid"), _cols(Resident, "last_message_at"), _cols(Resident, "created_at")
    opt_ins = _cols(Resident, "subscribe_opt_ins")
    return {
        "ejia_record_touching": f"{stored}({key}, {seen}, {created}, {opt_ins}) SELECT $2, $7, $7, 0 FROM stored "
                                f"ON CONFLICT ({key}) DO UPDATE SET {seen} = excluded.{seen}) SELECT new FROM stored",
        "ejia_record_ensuring": f"{stored}({key}, {created}, {opt_ins}) SELECT $2, $7, 0 FROM stored "
                                f"ON CONFLICT ({key}) DO NOTHING) SELECT new FROM stored",
    }
