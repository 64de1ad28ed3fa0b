"""Outbox relay: enqueue freshly committed outbox rows, and sweep up any left behind.

The relay runs in whichever process commits (web, worker, CLI) as a listener of
``backend.outbox``. Redis being down must not slow reports down: a failed enqueue opens a
short circuit breaker (``BREAKER_SECONDS``) during which the relay does not even try, and
the rows simply wait — unenqueued — for the sweep, which the scheduler runs every minute.
Rows are never lost; at worst their notifications are a sweep late.
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
from workers.queues import enqueue

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


def enqueue_outbox(connection, ids: list[int]) -> None:
    for outbox_id in ids:
        enqueue(connection, "outbox", outbox_id, description=f"outbox {outbox_id}")
    (OutboxMessage.update(enqueued_at=clock.now(), attempts=OutboxMessage.attempts + 1)
     .where(OutboxMessage.id.in_(ids)).execute())


class Relay:
    """The listener the composition root installs: one Redis connection per process."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._connection = None
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


def install_relay(settings: Settings) -> Relay:
    global _relay
    if _relay is not None:
        outbox.remove_listener(_relay)
    _relay = Relay(settings)
    outbox.add_listener(_relay)
    return _relay


def uninstall_relay() -> None:
    global _relay
    if _relay is not None:
        outbox.remove_listener(_relay)
    _relay = None


def sweep(connection) -> int:
    """Enqueue rows never enqueued (Redis was down) or enqueued long ago and still unprocessed.

    Rows with an ``error`` (malformed, given up) or past MAX_ATTEMPTS are not swept: they
    sit in the failed registry with their reason instead of looping.
    """
    cutoff = clock.now() - STALE_AFTER
    ids = [row.id for row in OutboxMessage.select(OutboxMessage.id).where(
        OutboxMessage.processed_at.is_null() & OutboxMessage.error.is_null()
        & (OutboxMessage.attempts < MAX_ATTEMPTS)
        & (OutboxMessage.enqueued_at.is_null() | (OutboxMessage.enqueued_at < cutoff))
    ).order_by(OutboxMessage.id).limit(SWEEP_BATCH)]
    if ids:
        enqueue_outbox(connection, ids)
        log.info("outbox sweep enqueued %d row(s)", len(ids))
    return len(ids)
