"""`python -m server worker`: an RQ worker on every queue, with the Redis connection passed explicitly.

The default worker class is RQ's ``SimpleWorker`` (jobs run in the worker process, no fork
per job): a report's notification path is three short jobs, and forking for each costs more
than the job itself (docs/benchmarks.md). Jobs open and close their own database connection
and keep no state between runs; the resident set stays flat (≤ 150 MB after 10 000 jobs,
measured by bench/bench_notify.py). ``EJIA_WORKER_CLASS=fork`` selects RQ's forking
``Worker`` (one child per job: isolation from a job that leaks, at a cost in latency).
The standard ``rq worker -u <url> --with-scheduler send route notify media webhook maintenance``
works as well: every job bootstraps what it needs (workers/context.py).
"""
from __future__ import annotations

import os

from rq import SimpleWorker, Worker

from backend.config import Settings
from backend.redis_conn import connect
from workers.context import keep_connection_open
from workers.queues import ALL_QUEUES, queue


def worker_class(name: str | None = None):
    name = (name or os.environ.get("EJIA_WORKER_CLASS") or "simple").lower()
    if name not in ("simple", "fork"):
        raise ValueError(f"EJIA_WORKER_CLASS: {name!r} is not simple or fork")
    return SimpleWorker if name == "simple" else Worker


def build_worker(settings: Settings, connection=None, queues=ALL_QUEUES, cls=None):
    connection = connection or connect(settings)
    cls = cls or worker_class()
    return cls([queue(name, connection) for name in queues], connection=connection)


def run_worker(settings: Settings, burst: bool = False) -> int:
    cls = worker_class()
    if cls is SimpleWorker:
        keep_connection_open(True)  # one database connection for the worker's life (context.py)
    worker = build_worker(settings, cls=cls)
    worker.work(burst=burst, with_scheduler=True)
    return 0
