"""`python -m server worker`: an RQ worker on every queue, with the Redis connection passed explicitly.

The default worker class is RQ's ``SimpleWorker`` (jobs run in the worker process, no fork
per job): a report's notification path is three short jobs, and forking for each costs more
than the job itself (docs/benchmarks.md). Jobs open and close their own database connection
and keep no state between runs; the resident set stays flat (≤ 150 MB after 10 000 jobs,
measured by bench/bench_notify.py). ``EJIA_WORKER_CLASS=fork`` selects RQ's forking
``Worker`` (one child per job: isolation from a job that leaks, at a cost in latency).
The standard ``rq worker -u <url> --with-scheduler send route notify media webhook maintenance``
works as well: every job bootstraps what it needs (workers/context.py).

Draining on its own (issue 13): before taking jobs, and again whenever it gets Redis back
after losing it, the worker relays the outbox rows nobody enqueued (``relay.sweep``) — a
report filed while Redis was down reaches its grid worker as soon as a worker runs, with
``--burst`` too, instead of waiting for the scheduler's next sweep. Behind Sentinel the
worker's client is Sentinel-managed (backend/redis_conn.py): RQ's reconnect loop reaches the
new primary after a failover, and the worker restarts RQ's scheduler process, which exits
when Redis goes away (``revive_scheduler``).
"""
from __future__ import annotations

import logging
import os
import time

import redis
from rq import SimpleWorker, Worker

from backend.config import Settings
from backend.db import DATABASE_DOWN
from backend.redis_conn import connect
from workers import relay
from workers.context import db_session, keep_connection_open
from workers.queues import ALL_QUEUES, queue

log = logging.getLogger("ejia.worker")
REDIS_LOST = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
BOOKKEEPING_PATIENCE_SECONDS = 60.0  # a Sentinel failover takes seconds; past this, exit (systemd restarts)


class DrainsOutbox:
    """Mixed into RQ's worker classes: relay pending outbox rows on start and after Redis is back."""

    _redis_lost = False

    def relay_pending(self) -> int:
        try:
            with db_session():
                count = relay.sweep(self.connection)
        except (*DATABASE_DOWN, redis.exceptions.RedisError) as exc:
            log.warning("could not relay pending outbox rows now (%s); the sweep will", exc)
            return 0
        if count:
            log.info("relayed %d pending outbox row(s) before taking jobs", count)
        return count

    def bootstrap(self, *args, **kwargs):
        super().bootstrap(*args, **kwargs)
        self.relay_pending()

    def heartbeat(self, *args, **kwargs):
        """RQ's loop beats before every dequeue, and again after each failed reconnect."""
        try:
            result = super().heartbeat(*args, **kwargs)
        except redis.exceptions.ConnectionError:
            self._redis_lost = True
            raise
        if self._redis_lost:
            self._redis_lost = False
            log.info("Redis is back")
            self.relay_pending()
        self.revive_scheduler()
        return result

    def revive_scheduler(self) -> None:
        """RQ's scheduler process (``with_scheduler``: retries' backoff, deferred sends) exits
        when it loses Redis — a restart, a Sentinel failover — and RQ starts it again only at its
        next maintenance run, up to ten minutes later. Start it again now: its locks carry the
        same scheduler name, so RQ's ``acquire_locks`` refreshes them instead of waiting for
        them to expire. A worker whose scheduler never started (another worker holds the
        locks) has nothing to revive."""
        scheduler = getattr(self, "scheduler", None)
        process = getattr(scheduler, "_process", None)
        if process is None or process.is_alive():
            return
        try:
            scheduler.acquire_locks(auto_start=True)
        except redis.exceptions.RedisError as exc:
            log.warning("could not restart RQ's scheduler yet (%s)", exc)
            return
        if scheduler._process is not process:
            log.info("RQ's scheduler had stopped (Redis was lost); started it again")

    # RQ records a job's end, success or failure in Redis right after running it, and the
    # worker's state after that. When the primary dies under a running job (a Sentinel
    # failover), those writes fail and RQ's loop exits the worker (found by
    # tests/e2e/test_multi_host.py). Wait for Redis instead — Sentinel names a new primary
    # within seconds — and record it there; each is safe to run again (a heartbeat; one
    # MULTI/EXEC of registries and counters; one HSET).

    def _patiently(self, call, *args, **kwargs):
        deadline = time.monotonic() + BOOKKEEPING_PATIENCE_SECONDS
        delay = 0.25
        while True:
            try:
                return call(*args, **kwargs)
            except REDIS_LOST as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("Redis unreachable while recording a job's end (%s); again in %.2f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def set_state(self, state, pipeline=None):
        """The worker's own state (idle, busy): RQ writes it after every job, outside the loop's
        reconnect handling, so a primary that dies right after a job ended exited the worker
        too (found by tests/e2e/test_redis_sentinel.py under load). On a pipeline nothing is
        sent yet: the caller's ``execute`` is where Redis is met."""
        if pipeline is not None:
            return super().set_state(state, pipeline=pipeline)
        return self._patiently(super().set_state, state)

    def handle_execution_ended(self, job, queue, heartbeat_ttl):
        return self._patiently(super().handle_execution_ended, job, queue, heartbeat_ttl)

    def handle_job_success(self, job, queue, started_job_registry):
        return self._patiently(super().handle_job_success, job, queue, started_job_registry)

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string=""):
        return self._patiently(super().handle_job_failure, job, queue, started_job_registry=started_job_registry,
                               exc_string=exc_string)


class DrainingSimpleWorker(DrainsOutbox, SimpleWorker):
    pass


class DrainingWorker(DrainsOutbox, Worker):
    pass


def worker_class(name: str | None = None):
    name = (name or os.environ.get("EJIA_WORKER_CLASS") or "simple").lower()
    if name not in ("simple", "fork"):
        raise ValueError(f"EJIA_WORKER_CLASS: {name!r} is not simple or fork")
    return DrainingSimpleWorker if name == "simple" else DrainingWorker


def build_worker(settings: Settings, connection=None, queues=ALL_QUEUES, cls=None):
    connection = connection or connect(settings)
    cls = cls or worker_class()
    return cls([queue(name, connection) for name in queues], connection=connection)


def run_worker(settings: Settings, burst: bool = False) -> int:
    cls = worker_class()
    if issubclass(cls, SimpleWorker):
        keep_connection_open(True)  # one database connection for the worker's life (context.py)
    worker = build_worker(settings, cls=cls)
    worker.work(burst=burst, with_scheduler=True)
    return 0
