"""Report reads from a PostgreSQL streaming replica (``DATABASE_REPLICA_URL``, issue 19 item 3).

Only the reads that may be a few seconds stale go there: the console's metrics, exports and
map, and Open311's GET of requests and services. They run inside ``reading_replica()``;
everything else — every write, and every read a write depends on (a login, an API key's
check, a token just issued, the audit rows those reads write) — stays on the primary.

The replica is read only while it is *usable*: it answers, and it is no further behind the
primary than ``DATABASE_REPLICA_MAX_LAG_SECONDS``. Otherwise the block reads from the primary.
The answer is cached for ``CHECK_SECONDS`` per process.

How far behind, measured without a heartbeat table: each check first reads the primary's
``pg_current_wal_lsn()`` and remembers it with the time, then asks the replica how far it has
replayed (``pg_last_wal_replay_lsn()``). If the replica has replayed the position just read,
it is not behind at all; otherwise it is at most as old as the newest remembered position it
has replayed. ``now() - pg_last_xact_replay_timestamp()`` was not used: on a quiet primary no
transaction commits, so that figure grows for ever while the replica is fully caught up (and
comparing the replica's received and replayed positions misses a replica whose connection to
the primary is broken). The price: the measure is exact to the check interval, and a
replica already behind when a process starts is not read until a check has seen it catch up
to a remembered position.

A URL whose server is not in recovery (the primary's own URL, or a promoted replica) is
accepted and used: it is never behind. The primary's very URL is not even opened twice.
"""
from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from dataclasses import dataclass

import peewee

from backend.db import DATABASE_DOWN, db, make_database, open_connection, routed, routed_to

log = logging.getLogger("ejia.replica")
CHECK_SECONDS = 2.0


def lsn_value(text: str) -> int:
    """PostgreSQL's ``16/B374D848`` as a number."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(frozen=True)
class Status:
    usable: bool
    lag_seconds: float | None  # None: unknown (down, or behind every remembered position)
    reason: str  # "caught up", "not in recovery", "lagging", "down", "primary down"


class Replica:
    def __init__(self, url: str, max_lag_seconds: float, same_as_primary: bool = False):
        self.url = url
        self.max_lag_seconds = max_lag_seconds
        self.database: peewee.Database | None = None if same_as_primary else make_database(url)
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._status = Status(False, None, "not checked")
        self._positions: collections.deque[tuple[float, int]] = collections.deque()

    # ------------------------------------------------------------------ health

    def status(self) -> Status:
        """Usable or not, checked at most every CHECK_SECONDS (one thread checks, others wait)."""
        if self.database is None:
            return Status(True, 0.0, "the primary itself")
        if time.monotonic() - self._checked_at < CHECK_SECONDS:
            return self._status
        with self._lock:
            if time.monotonic() - self._checked_at >= CHECK_SECONDS:
                self._status = self._check()
                self._checked_at = time.monotonic()
                if not self._status.usable:
                    log.info("replica not read (%s, lag %s s): reports read from the primary",
                             self._status.reason, self._status.lag_seconds)
        return self._status

    def mark_down(self, exc: Exception) -> None:
        log.warning("replica failed under a read (%s: %s); reading from the primary for %.0f s",
                    type(exc).__name__, str(exc).strip()[:200], CHECK_SECONDS)
        with self._lock:
            self._status = Status(False, None, "down")
            self._checked_at = time.monotonic()

    def _check(self) -> Status:
        now = time.monotonic()
        try:
            with open_connection(db.primary):
                primary_lsn = lsn_value(db.primary.execute_sql("SELECT pg_current_wal_lsn()::text").fetchone()[0])
        except DATABASE_DOWN:
            return Status(False, None, "primary down")  # nothing to compare with; the primary's 503 follows
        self._positions.append((now, primary_lsn))
        keep_after = now - self.max_lag_seconds - 2 * CHECK_SECONDS
        while len(self._positions) > 1 and self._positions[0][0] < keep_after:
            self._positions.popleft()
        try:
            with open_connection(self.database):
                in_recovery, replayed = self.database.execute_sql(
                    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text").fetchone()
        except DATABASE_DOWN as exc:
            log.warning("replica does not answer: %s", str(exc).strip()[:200])
            return Status(False, None, "down")
        if not in_recovery:
            return Status(True, 0.0, "not in recovery")
        replayed_lsn = lsn_value(replayed) if replayed else -1
        if replayed_lsn >= primary_lsn:
            return Status(True, 0.0, "caught up")
        reached = [at for at, lsn in self._positions if lsn <= replayed_lsn]
        lag = (time.monotonic() - max(reached)) if reached else None
        usable = lag is not None and lag <= self.max_lag_seconds
        return Status(usable, None if lag is None else round(lag, 3), "caught up" if usable else "lagging")

    # ------------------------------------------------------------------ routing

    @contextlib.contextmanager
    def reading(self):
        if self.database is None or routed() is not None or not self.status().usable:
            yield
            return
        try:
            self.database.connect(reuse_if_open=True)
        except DATABASE_DOWN as exc:
            self.mark_down(exc)
            yield
            return
        try:
            with routed_to(self.database):
                yield
        except DATABASE_DOWN as exc:
            self.mark_down(exc)  # this request fails (503); the next ones read from the primary
            raise
        finally:
            if not self.database.is_closed():
                try:
                    self.database.close()
                except DATABASE_DOWN:
                    self.database._state.reset()


_replica: Replica | None = None


def install(settings) -> Replica | None:
    """Point report reads at ``settings.database_replica_url`` (None: no replica)."""
    global _replica
    _replica = None
    url = settings.database_replica_url
    if url:
        _replica = Replica(url, settings.database_replica_max_lag_seconds,
                           same_as_primary=(url == settings.database_url))
    return _replica


def installed() -> Replica | None:
    return _replica


@contextlib.contextmanager
def reading_replica():
    """Reads inside the block go to the replica when it is usable, else to the primary. Only
    for reads a few seconds stale may serve (see the module's docstring); never around a write."""
    if _replica is None:
        yield
        return
    with _replica.reading():
        yield
