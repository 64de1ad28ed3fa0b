"""Replaying the /wechat spool once the database is back (wechat/spool.py, DESIGN §10).

Each web process that sees a non-empty spool runs one ``Replayer`` thread; the spool's
replay lock lets one of them work at a time. A spooled push goes through the normal path —
stored with its (timestamp, nonce) pair, claimed by its MsgId, answered by the dialog —
with the time it really arrived. The resident was told "收到了，系统正在维护，稍后回复您"; the
real answer is recorded as a ``wechat.reply`` fact, which a worker sends as a
customer-service message (the 48-hour window is open: they just wrote to us).

A push that was acted on already (a WeChat retry spooled twice, a replay interrupted and
started over) meets its claim or its pair and does nothing. A push stored just before the
database went away, but not acted on (``inbound.Interrupted``), is spooled with its claim's
time, and ``inbound.resume`` acts on it then. A replayed push may wait for a person's lease
as long as a lease lasts (``unhurried``): one left by a request the outage cut short lapses.
The database going away again stops the replay until the next attempt; anything else wrong
with one push is logged and that push skipped, so one bad line cannot hold up everyone
behind it.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from backend.db import DATABASE_DOWN, open_connection
from backend.services import residents
from wechat import dispatch, inbound
from wechat.dialog.store import unhurried
from wechat.spool import Spool, Spooled

log = logging.getLogger("ejia.wechat.replay")

RETRY_SECONDS = 0.5  # how often a replayer tries again while the database is still away
STOP_REPLAY = (*DATABASE_DOWN, inbound.Interrupted)  # the database went away (again): try later


def replay_push(record: Spooled, redis) -> str:
    """Act on one spooled push as if it had just arrived; what happened, for the log."""
    try:
        parsed = inbound.parse_message(record.xml)
    except inbound.BadMessage as exc:  # it was checked before it was spooled: a damaged line
        log.error("spool: a push that no longer parses was skipped (%s)", exc)
        return "unreadable"
    incoming = parsed.incoming

    def respond():
        return dispatch.respond(incoming, redis)

    try:
        with open_connection(), unhurried():
            try:
                answer = inbound.receive(parsed, respond, (record.timestamp, record.nonce),
                                         received_at=record.received_at, wait=False)
                inbound.REPLIES.flush()  # kept now: a replay started over must see it answered
            except residents.NonceReused:  # stored before: by this delivery, and never answered?
                answer = inbound.resume(parsed, respond, record.received_at)
            if answer is None or answer.repeated:
                return "acted on before"
            if answer.reply:
                residents.record_late_reply(incoming.openid, incoming.dedupe_key, answer.reply)
            return "replayed"
    except STOP_REPLAY:
        raise
    except Exception:  # noqa: BLE001 — logged with its traceback; the pushes behind it go on
        log.exception("spool: %s could not be replayed; skipped", incoming.dedupe_key)
        return "failed"


class Replayer:
    """One thread per process that drains the spool while it is not empty."""

    def __init__(self, spool: Spool, redis):
        self.spool, self.redis = spool, redis
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a forked worker starts its own

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Make sure a replayer runs here (cheap when one does)."""
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ejia-spool-replayer", daemon=True)
                self._thread.start()

    def replay_now(self) -> int | None:
        """One replay attempt in the calling thread (the CLI, tests): how many were handed over,
        None if another replayer holds the lock. Raises if the database is still away."""
        return self.spool.replay(self._handle)

    def _handle(self, record: Spooled) -> None:
        outcome = replay_push(record, self.redis)
        log.info("spool: push received %s UTC: %s", record.received_at.isoformat(timespec="seconds"), outcome)

    def _run(self) -> None:
        while self.spool.pending():
            try:
                if self.replay_now() is not None:
                    continue
            except STOP_REPLAY as exc:
                log.info("spool: database still unavailable (%s); trying again shortly", type(exc).__name__)
            except Exception:  # noqa: BLE001 — the thread must outlive a disk or lock error
                log.exception("spool: replay failed; trying again shortly")
            time.sleep(RETRY_SECONDS)
