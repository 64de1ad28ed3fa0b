"""`python -m server scheduler`: periodic jobs through RQ's own cron scheduler (rq.cron).

RQ evaluates cron strings in UTC: "0 0 * * *" is 08:00 Asia/Shanghai. Running two
schedulers is harmless (every job is idempotent) but wasteful; run one.

RQ's ``CronScheduler.start`` returns by raising when it loses Redis; ``run_scheduler`` starts
it again (backing off up to ``MAX_WAIT_SECONDS``) with the same schedule, so a Redis restart
or a Sentinel failover (its client asks the Sentinels for the new primary) needs no restart
of this process.
"""
from __future__ import annotations

import logging
import time

import redis
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from backend.config import Settings
from backend.redis_conn import connect
from workers import jobs, media, sweeps
from workers.queues import MAINTENANCE, NOTIFY

log = logging.getLogger("ejia.scheduler")

SCHEDULE = (
    # (function, queue, interval seconds or None, cron (UTC) or None, job_timeout)
    (jobs.sweep_outbox, MAINTENANCE, 60, None, 120),
    (jobs.sweep_notifications, MAINTENANCE, 60, None, 120),
    (media.sweep, MAINTENANCE, 60, None, 120),
    (sweeps.sla_sweep, MAINTENANCE, 60, None, 300),
    (sweeps.compact_metric_sums, MAINTENANCE, 60, None, 120),
    (sweeps.remind_unaccepted, NOTIFY, 60, None, 120),
    (sweeps.sample_revisits, MAINTENANCE, 600, None, 300),
    (sweeps.forget_expired, MAINTENANCE, 600, None, 120),
    (sweeps.remind_rating, NOTIFY, 600, None, 300),
    (sweeps.daily_digest, NOTIFY, None, "0 0 * * *", 600),
    (sweeps.retention_sweep, MAINTENANCE, None, "0 19 * * *", 1800),  # 03:00 Asia/Shanghai
)


def build_scheduler(settings: Settings) -> CronScheduler:
    scheduler = CronScheduler(connection=connect(settings), name="ejia-scheduler")
    for func, queue_name, interval, cron, timeout in SCHEDULE:
        scheduler.register(func, queue_name, interval=interval, cron=cron, job_timeout=timeout,
                           ttl=max(interval or 3600, 60), failure_ttl=7 * 24 * 3600, result_ttl=600)
    return scheduler


MAX_WAIT_SECONDS = 30.0


def run_scheduler(settings: Settings, once: bool = False) -> int:
    scheduler = build_scheduler(settings)
    if once:
        scheduler.enqueue_jobs()
        return 0
    wait = 1.0
    while True:
        started = time.monotonic()
        try:
            scheduler.start()  # returns on SIGTERM/SIGINT
            return 0
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            if time.monotonic() - started > 2 * MAX_WAIT_SECONDS:
                wait = 1.0  # it had been running: a fresh outage
            log.warning("lost Redis (%s); starting the scheduler again in %.0f s", exc, wait)
            try:
                time.sleep(wait)
            except StopRequested:  # SIGTERM while waiting (RQ's handler is still installed)
                return 0
            wait = min(wait * 2, MAX_WAIT_SECONDS)
