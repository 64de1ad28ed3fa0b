"""`python -m server worker`: an RQ worker on every queue, with the Redis connection passed explicitly."""
from __future__ import annotations

from rq import Worker

from backend.config import Settings
from backend.redis_conn import connect
from workers.queues import ALL_QUEUES, queue


def run_worker(settings: Settings, burst: bool = False) -> int:
    connection = connect(settings)
    worker = Worker([queue(name, connection) for name in ALL_QUEUES], connection=connection)
    worker.work(burst=burst, with_scheduler=True)
    return 0
