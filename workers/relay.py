"""Outbox relay: enqueue freshly committed outbox rows, and sweep up any left behind.

The relay runs in whichever process commits (web, worker, CLI) as a listener of
``backend.outbox``. Redis being down must not slow reports down: a failed enqueue opens a
short circuit breaker (``BREAKER_SECONDS``) during which the relay does not even try, and
the rows simply wait — unenqueued — for the sweep. Workers sweep when they start and
whenever they get Redis back (workers/runner.py); the scheduler sweeps every minute. Rows
are never lost; at worst their notifications wait for a worker to see Redis again.

A web process has no sweep of its own, so its relay retries the rows it left behind
(``retry_left``): a few seconds after the failure, then at growing intervals for about a
minute, then it leaves them to the scheduler. A report filed in the seconds of a Redis
restart or a Sentinel failover — an emergency among them — reaches its grid worker seconds
after Redis is back, not at the scheduler's next minute (found when the Sentinel failover
test filed its report after the worker had already swept).

Rows wait in lanes, not one RQ job each (issue 18, item 2). ``enqueue_outbox`` adds a row's
id to its lane — a Redis sorted set, oldest first, ``LANES`` of them — and enqueues a drain job
for the lane only when none is queued or running (the lane's busy key, taken with ``SET NX``).
The drain job (``workers.jobs.drain_outbox``) takes the lane's ids in batches and handles each
row as its own job would; it frees the lane only after a last look finds it empty, so an id
added at that moment either is taken by that look or sees the lane free and enqueues the next
drain. Under load one RQ job handles many reports instead of one; lanes let several workers
share a burst. A row that fails in a lane gets a job of its own, ``outbox-<id>``, with the
retries and the failed registry as before. The sweep can still tell a row that is waiting (in
its lane, or its own job active) from one a Redis restart lost; a drain job that died with its
lane busy frees it after ``LANE_BUSY_SECONDS``, and the sweep enqueues drains for lanes left
with ids and no drain.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import os
import threading
import time

from backend import clock, outbox
from backend.config import Settings
from backend.db import open_connection
from backend.models import OutboxMessage
from backend.redis_conn import connect
from workers.queues import enqueue, job_is_active

log = logging.getLogger("ejia.relay")
STALE_AFTER = dt.timedelta(minutes=2)  # enqueued this long ago and still unprocessed → again
MAX_ATTEMPTS = 10  # enqueues per row; a row past this is left for an operator (docs/workers.md)
LANES = 4  # drain jobs that may run side by side, so several workers share a burst
LANE_KEY = "ejia:outbox:lane:{}"  # sorted set of waiting outbox ids (score = id: oldest first)
LANE_BUSY_KEY = "ejia:outbox:lane-busy:{}"  # set while the lane's drain job is queued or running
LANE_BUSY_SECONDS = 60  # a drain refreshes it every batch; a dead worker's lane frees itself
SWEEP_BATCH = 5000
BREAKER_SECONDS = 5.0
RETRY_LEFT_AFTER = (BREAKER_SECONDS + 0.5, 10.0, 20.0, 30.0)  # seconds; past these, the scheduler's sweep
MAX_LEFT = 10_000  # ids a web process remembers to retry; the rest wait for the sweep
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


def lane_of(outbox_id: int, event_id: int | None = None) -> int:
    """An event's rows share a lane, so they are handled in the order they were written (a
    resident hears 受理 before 办结, and 办结 before the 回访 question); rows of no event
    (a chat reply, a media deletion) spread by their own id."""
    if event_id is None:
        event_id = outbox.event_of(outbox_id)
    return (outbox_id if event_id is None else event_id) % LANES


def _by_lane(ids: list[int], events: dict[int, int | None] | None) -> dict[int, list[int]]:
    lanes: dict[int, list[int]] = {}
    for outbox_id in ids:
        lanes.setdefault(lane_of(outbox_id, (events or {}).get(outbox_id)), []).append(outbox_id)
    return lanes


def enqueue_outbox(connection, ids: list[int], events: dict[int, int | None] | None = None) -> None:
    """Add the rows to their lanes and start a drain for each lane that has none (one round
    trip to Redis, two when a lane was idle), then stamp them enqueued. ``events``: outbox id →
    event id where the caller knows it (else ``outbox.event_of``: rows this process wrote)."""
    lanes = _by_lane(ids, events)
    pipe = connection.pipeline(transaction=False)
    for lane, members in lanes.items():
        pipe.zadd(LANE_KEY.format(lane), {str(i): i for i in members})
        pipe.set(LANE_BUSY_KEY.format(lane), "1", nx=True, ex=LANE_BUSY_SECONDS)
    answers = pipe.execute()
    for lane, took in zip(lanes, answers[1::2]):
        if took:
            start_drain(connection, lane)
    (OutboxMessage.update(enqueued_at=clock.now(), attempts=OutboxMessage.attempts + 1)
     .where(OutboxMessage.id.in_(ids)).execute())


def start_drain(connection, lane: int) -> None:
    """Enqueue a drain job for ``lane`` (its caller holds the lane's busy key)."""
    enqueue(connection, "outbox_lane", lane, description=f"outbox lane {lane}")


def take(connection, lane: int, count: int) -> list[int]:
    """Up to ``count`` waiting ids of the lane, oldest first; the lane stays busy."""
    pipe = connection.pipeline(transaction=False)
    pipe.set(LANE_BUSY_KEY.format(lane), "1", ex=LANE_BUSY_SECONDS)
    pipe.zpopmin(LANE_KEY.format(lane), count)
    return [int(member) for member, _score in pipe.execute()[1]]


def release(connection, lane: int, count: int) -> list[int]:
    """Free the lane, then look once more: ids added before the lane was freed are returned
    (the caller goes on with them), ids added after it start a drain of their own."""
    pipe = connection.pipeline(transaction=False)
    pipe.delete(LANE_BUSY_KEY.format(lane))
    pipe.zpopmin(LANE_KEY.format(lane), count)
    return [int(member) for member, _score in pipe.execute()[1]]


def next_batch(connection, lane: int, count: int) -> list[int]:
    """A drain's next ids: taken while the lane has some; else the lane is freed after a last
    look, and an empty answer means the drain is done."""
    return take(connection, lane, count) or release(connection, lane, count)


def put_back(connection, lane: int, ids: list[int]) -> None:
    """Ids a drain took from ``lane`` but did not handle (it is stopping): back where they were."""
    if ids:
        connection.zadd(LANE_KEY.format(lane), {str(i): i for i in ids})


def waiting(connection, ids: list[int], events: dict[int, int | None] | None = None) -> set[int]:
    """The ids among ``ids`` that wait in a lane."""
    lanes = _by_lane(ids, events)
    found: set[int] = set()
    for lane, members in lanes.items():
        for start in range(0, len(members), 1000):
            chunk = members[start:start + 1000]
            scores = connection.zmscore(LANE_KEY.format(lane), [str(i) for i in chunk])
            found.update(i for i, score in zip(chunk, scores) if score is not None)
    return found


def kick(connection) -> int:
    """Start a drain for every lane that has ids waiting and no drain (its job was lost, or
    its worker died with the lane busy and the busy key has expired since)."""
    started = 0
    for lane in range(LANES):
        if connection.zcard(LANE_KEY.format(lane)) and \
                connection.set(LANE_BUSY_KEY.format(lane), "1", nx=True, ex=LANE_BUSY_SECONDS):
            start_drain(connection, lane)
            started += 1
    return started


class Relay:
    """The listener the composition root installs: one Redis connection per process — in a
    web process the app's request client (short timeouts, circuit breaker), so a report never
    waits on a sick Redis (backend/redis_conn.py). ``retry_left``: retry the rows this
    process could not enqueue on a timer thread (web processes; workers and the scheduler
    sweep)."""

    def __init__(self, settings: Settings, connection=None, retry_left: bool = False):
        self.settings = settings
        self._connection = connection
        self._down_until = 0.0
        self.retry_left = retry_left
        self._left: set[int] = set()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

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
            self._leave(ids)
            return
        try:
            enqueue_outbox(self.connection, ids)
        except Exception:
            # Redis (or the stamp) failed: stay quiet for a few seconds so a burst of reports
            # during an outage does not each wait for a connect timeout. backend.outbox logs it.
            self._down_until = time.monotonic() + BREAKER_SECONDS
            self._leave(ids)
            raise
        self._down_until = 0.0

    # ------------------------------------------------------------ rows left behind (web)
    def _leave(self, ids: list[int]) -> None:
        if not self.retry_left:
            return
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's timer is not ours
                self._pid, self._left, self._timer = os.getpid(), set(), None
            self._left.update(ids[:max(0, MAX_LEFT - len(self._left))])
            if self._timer is None and self._left:
                self._arm(0)

    def _arm(self, attempt: int) -> None:
        self._timer = threading.Timer(RETRY_LEFT_AFTER[attempt], self._retry_left, args=(attempt,))
        self._timer.daemon = True
        self._timer.name = "ejia-relay-retry"
        self._timer.start()

    def pending_retry(self) -> set[int]:
        with self._lock:
            return set(self._left)

    def close(self) -> None:
        """Stop retrying (the relay is being replaced); its rows wait for the sweep."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._left = None, set()

    def _retry_left(self, attempt: int) -> None:
        with self._lock:
            if self._timer is None or threading.current_thread() is not self._timer:
                return  # closed, or replaced
            ids = sorted(self._left)
        try:
            with open_connection():
                pending = [row.id for row in OutboxMessage.select(OutboxMessage.id).where(
                    OutboxMessage.id.in_(ids) & OutboxMessage.enqueued_at.is_null()
                    & OutboxMessage.processed_at.is_null())]  # a worker's sweep may have taken some
                pending = [i for i in pending if not job_is_active(self.connection, job_id(i))]
                if pending:
                    enqueue_outbox(self.connection, pending)
        except Exception as exc:  # noqa: BLE001 — Redis or the database still away: later, or the sweep
            with self._lock:
                if self._timer is not threading.current_thread():
                    return
                if attempt + 1 < len(RETRY_LEFT_AFTER):
                    log.info("outbox %d row(s) still not enqueued (%s); again in %.0f s", len(ids), exc,
                             RETRY_LEFT_AFTER[attempt + 1])
                    self._arm(attempt + 1)
                else:
                    log.warning("outbox %d row(s) left for the scheduler's sweep (%s)", len(ids), exc)
                    self._timer, self._left = None, set()
            return
        self._down_until = 0.0
        if pending:
            log.info("outbox: enqueued %d row(s) left behind while Redis was away", len(pending))
        with self._lock:
            if self._timer is not threading.current_thread():
                return
            self._left.difference_update(ids)
            self._timer = None
            if self._left:  # left while this retry ran
                self._arm(0)


_relay: Relay | None = None


def installed() -> Relay | None:
    return _relay


def install_relay(settings: Settings, connection=None, retry_left: bool = False) -> Relay:
    global _relay
    if _relay is not None:
        outbox.remove_listener(_relay)
        _relay.close()
    _relay = Relay(settings, connection, retry_left)
    outbox.add_listener(_relay)
    return _relay


def uninstall_relay() -> None:
    global _relay
    if _relay is not None:
        outbox.remove_listener(_relay)
        _relay.close()
    _relay = None


def sweep(connection) -> int:
    """Enqueue every unprocessed row that is not waiting in Redis (in its lane, or as a job of
    its own): rows never enqueued (Redis was down at commit), rows a Redis restart lost, rows
    a dead drain had taken, and rows enqueued long ago and still unprocessed. Then start a
    drain for any lane left with ids and none.

    Rows with an ``error`` (malformed, given up) or past MAX_ATTEMPTS are not swept: they
    sit in the failed registry with their reason instead of looping.
    """
    cutoff = clock.now() - STALE_AFTER
    rows = (OutboxMessage.select(OutboxMessage.id, OutboxMessage.enqueued_at, OutboxMessage.event).where(
        OutboxMessage.processed_at.is_null() & OutboxMessage.error.is_null()
        & (OutboxMessage.attempts < MAX_ATTEMPTS)
    ).order_by(OutboxMessage.id).limit(SWEEP_BATCH))
    rows = list(rows)
    events = {row.id: row.event_id for row in rows}
    in_lanes = waiting(connection, [row.id for row in rows if row.enqueued_at is not None], events)
    ids = [row.id for row in rows if row.enqueued_at is None or row.enqueued_at < cutoff
           or (row.id not in in_lanes and not job_is_active(connection, job_id(row.id)))]
    if ids:
        enqueue_outbox(connection, ids, events)
        log.info("outbox sweep enqueued %d row(s)", len(ids))
    kick(connection)
    return len(ids)
