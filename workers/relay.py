"""Outbox relay: enqueue freshly committed outbox rows, and sweep up any left behind.

The relay runs in whichever process commits (web, worker, CLI) as a listener of
``backend.outbox``. Redis being down must not slow reports down: a failed enqueue opens a
short circuit breaker (``BREAKER_SECONDS``) during which the relay does not even try, and
the rows simply wait — unenqueued — for the sweep. Workers sweep when they start and
whenever they get Redis back (workers/runner.py); the scheduler sweeps every minute. Rows
are never lost; at worst their notifications wait for a worker to see Redis again.

An outbox row's job id is ``outbox-<id>``, so the sweep can tell a row whose job is still
waiting from one whose job a Redis restart lost.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import time

from backend import clock, outbox
from backend.config import Settings
from backend.models import OutboxMessage
from backend.redis_conn import connect
from workers.queues import enqueue, job_is_active

log = logging.getLogger("ejia.relay")
STALE_AFTER = dt.timedelta(minutes=2)  # enqueued this long ago and still unprocessed → again
MAX_ATTEMPTS = 10  # enqueues per row; a row past this is left for an operator (docs/workers.md)
SWEEP_BATCH = 5000
BREAKER_SECONDS = 5.0
_captured: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("ejia_outbox_captured", default=None)


@contextlib.contextmanager
def capture():
    """Collect the ids committed inside this block instead of enqueueing them: the outbox
    job handles its own follow-ups (the route step of a new report) in the same job.
    Whatever it does not finish stays unprocessed for the sweep — nothing is lost."""
    token = _captured.set([])
    try:
        yield _captured.get()
    finally:
        _captured.reset(token)


def job_id(outbox_id: int) -> str:
    return f"outbox-{outbox_id}"


def enqueue_outbox(connection, ids: list[int]) -> None:
    for outbox_id in ids:
        enqueue(connection, "outbox", outbox_id, job_id=job_id(outbox_id), description=f"outbox {outbox_id}")
    (OutboxMessage.update(enqueued_at=clock.now(), attempts=OutboxMessage.attempts + 1)
     .where(OutboxMessage.id.in_(ids)).execute())


class Relay:
    """The listener the composition root installs: one Redis connection per process — in a
    web process the app's request client (short timeouts, circuit breaker), so a report never
    waits on a sick Redis (backend/redis_conn.py)."""

    def __init__(self, settings: Settings, connection=None):
        self.settings = settings
        self._connection = connection
        self._down_until = 0.0

    @property
    def connection(self):
        if self._connection is None:
            self._connection = connect(self.settings)
        return self._connection

    def reachable(self) -> None:
        """Redis evidently works (a worker just dequeued a job): close the breaker."""
        self._down_until = 0.0

    def __call__(self, ids: list[int]) -> None:
        captured = _captured.get()
        if captured is not None:
            captured.extend(ids)
            return
        if time.monotonic() < self._down_until:
            log.info("outbox %s left for the sweep (Redis was unreachable moments ago)", ids)
            return
        try:
            enqueue_outbox(self.connection, ids)
        except Exception:
            # Redis (or the stamp) failed: stay quiet for a few seconds so a burst of reports
            # during an outage does not each wait for a connect timeout. backend.outbox logs it.
            self._down_until = time.monotonic() + BREAKER_SECONDS
            raise
        self._down_until = 0.0


_relay: Relay | None = None


def installed() -> Relay | None:
    return _relay


def install_relay(settings: Settings, connection=None) -> Relay:
    global _relay
    if _relay is not None:
        outbox.remove_listener(_relay)
    _relay = Relay(settings, connection)
    outbox.add_listener(_relay)
    return _relay


def uninstall_relay() -> None:
    global _relay
    if _relay is not None:
        outbox.remove_listener(_relay)
    _relay = None


def sweep(connection) -> int:
    """Enqueue every unprocessed row whose job is not waiting in Redis: rows never enqueued
    (Redis was down at commit), rows whose job a Redis restart lost, and rows enqueued long
    ago and still unprocessed.

    Rows with an ``error`` (malformed, given up) or past MAX_ATTEMPTS are not swept: they
    sit in the failed registry with their reason instead of looping.
    """
    cutoff = clock.now() - STALE_AFTER
    rows = (OutboxMessage.select(OutboxMessage.id, OutboxMessage.enqueued_at).where(
        OutboxMessage.processed_at.is_null() & OutboxMessage.error.is_null()
        & (OutboxMessage.attempts < MAX_ATTEMPTS)
    ).order_by(OutboxMessage.id).limit(SWEEP_BATCH))
    ids = [row.id for row in rows if row.enqueued_at is None or row.enqueued_at < cutoff
           or not job_is_active(connection, job_id(row.id))]
    if ids:
        enqueue_outbox(connection, ids)
        log.info("outbox sweep enqueued %d row(s)", len(ids))
    return len(ids)
