"""Outbox relay: enqueue freshly committed outbox rows, and sweep up any left behind."""
from __future__ import annotations

import datetime as dt
import logging

from rq import Retry

from backend import clock, outbox
from backend.config import Settings
from backend.models import OutboxMessage
from backend.redis_conn import connect
from workers.queues import ROUTE, queue

log = logging.getLogger("ejia.relay")
STALE_AFTER = dt.timedelta(minutes=2)


def enqueue_outbox(connection, ids: list[int]) -> None:
    q = queue(ROUTE, connection)
    for outbox_id in ids:
        q.enqueue(
            "workers.jobs.process_outbox", outbox_id,
            job_timeout=60, ttl=24 * 3600, failure_ttl=7 * 24 * 3600, result_ttl=600,
            retry=Retry(max=5, interval=[2, 10, 30, 120, 600]),
            description=f"outbox {outbox_id}",
        )
    (OutboxMessage.update(enqueued_at=clock.now(), attempts=OutboxMessage.attempts + 1)
     .where(OutboxMessage.id.in_(ids)).execute())


class Relay:
    """The listener the composition root installs: one Redis connection per process."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._connection = None

    @property
    def connection(self):
        if self._connection is None:
            self._connection = connect(self.settings)
        return self._connection

    def __call__(self, ids: list[int]) -> None:
        enqueue_outbox(self.connection, ids)


_relay: Relay | None = None


def install_relay(settings: Settings) -> Relay:
    global _relay
    if _relay is not None:
        outbox.remove_listener(_relay)
    _relay = Relay(settings)
    outbox.add_listener(_relay)
    return _relay


def sweep(connection) -> int:
    """Enqueue rows never enqueued (Redis was down) or enqueued long ago and still unprocessed."""
    cutoff = clock.now() - STALE_AFTER
    ids = [row.id for row in OutboxMessage.select(OutboxMessage.id).where(
        OutboxMessage.processed_at.is_null()
        & (OutboxMessage.enqueued_at.is_null() | (OutboxMessage.enqueued_at < cutoff))
    ).order_by(OutboxMessage.id).limit(5000)]
    if ids:
        enqueue_outbox(connection, ids)
        log.info("outbox sweep enqueued %d row(s)", len(ids))
    return len(ids)
