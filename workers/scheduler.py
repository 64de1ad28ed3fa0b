"""`python -m server scheduler`: periodic jobs through RQ's own cron scheduler."""
from __future__ import annotations

import logging

from rq.cron import CronScheduler

from backend.config import Settings
from backend.redis_conn import connect
from workers import jobs
from workers.queues import MAINTENANCE

log = logging.getLogger("ejia.scheduler")


def build_scheduler(settings: Settings) -> CronScheduler:
    scheduler = CronScheduler(connection=connect(settings), name="ejia-scheduler")
    scheduler.register(jobs.sweep_outbox, MAINTENANCE, interval=60, job_timeout=120)
    return scheduler


def run_scheduler(settings: Settings, once: bool = False) -> int:
    scheduler = build_scheduler(settings)
    if once:
        scheduler.enqueue_jobs()
        return 0
    scheduler.start()
    return 0
