"""Queue names (constants, STYLE §6) and the one place jobs are enqueued with their options.

Every enqueue states ``job_timeout``, ``ttl``, ``failure_ttl`` and ``Retry`` here, so the
behaviour of a job kind (how long it may run, how often it is retried) reads in one table.
The Redis connection is always passed in explicitly (RQ ≥ 2).

A worker serves the queues in ``ALL_QUEUES`` order: sends first (finish what is in flight,
so a report's first notification is not starved by new reports), then outbox processing.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

ROUTE = "route"  # outbox rows: route, notify planning, media and webhook fan-out
NOTIFY = "notify"  # stand-alone notify runs (CLI re-runs, digests, reminders)
SEND = "send"  # one delivery each: template / custom / subscribe / SMS
MEDIA = "media"  # WeChat media downloads
WEBHOOK = "webhook"  # department webhooks
MAINTENANCE = "maintenance"  # cron sweeps
ALL_QUEUES = (SEND, ROUTE, NOTIFY, MEDIA, WEBHOOK, MAINTENANCE)

DAY = 24 * 3600
ACTIVE = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


@dataclass(frozen=True)
class JobKind:
    func: str
    queue: str
    timeout: int
    retry: tuple[int, ...]  # back-off intervals in seconds; len = max retries
    ttl: int = DAY
    failure_ttl: int = 7 * DAY
    result_ttl: int = 600


KINDS = {
    "outbox": JobKind("workers.jobs.process_outbox", ROUTE, 60, (2, 10, 30, 120, 600)),
    # one lane's waiting outbox rows (workers/relay.py); it stops itself well inside its timeout
    "outbox_lane": JobKind("workers.jobs.drain_outbox", ROUTE, 120, (2, 10, 30), result_ttl=60),
    "notify": JobKind("workers.jobs.notify", NOTIFY, 60, (5, 30, 120)),
    "template": JobKind("workers.sending.send_template", SEND, 30, (5, 30, 120, 600, 1800)),
    "custom": JobKind("workers.sending.send_customer_message", SEND, 30, (5, 30, 120, 600)),
    "subscribe": JobKind("workers.sending.send_subscribe_message", SEND, 30, (5, 30, 120, 600)),
    "sms": JobKind("workers.sending.send_sms", SEND, 30, (10, 60, 300, 1200)),
    "media": JobKind("workers.jobs.download_media", MEDIA, 60, (5, 30, 120)),
    "webhook": JobKind("workers.webhooks.deliver_webhook", WEBHOOK, 30, (10, 30, 120, 600, 1800)),
}


def queue(name: str, connection) -> Queue:
    return Queue(name, connection=connection)


def enqueue(connection, kind: str, *args, job_id: str | None = None, at: dt.datetime | None = None,
            description: str | None = None) -> Job:
    """Enqueue one job of ``kind`` (a key of KINDS); ``at`` (aware or naive UTC) schedules it."""
    spec = KINDS[kind]
    options = dict(
        job_timeout=spec.timeout, ttl=spec.ttl, failure_ttl=spec.failure_ttl, result_ttl=spec.result_ttl,
        retry=Retry(max=len(spec.retry), interval=list(spec.retry)), job_id=job_id,
        description=description or f"{kind} {' '.join(map(str, args))}",
    )
    q = queue(spec.queue, connection)
    if at is not None:
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.timezone.utc)
        return q.enqueue_at(at, spec.func, *args, **options)
    return q.enqueue(spec.func, *args, **options)


def job_is_active(connection, job_id: str) -> bool:
    """A job with this id is queued, running, scheduled or waiting: do not enqueue it again."""
    try:
        return Job.fetch(job_id, connection=connection).get_status(refresh=False) in ACTIVE
    except NoSuchJobError:
        return False


def jobs_known(connection, job_ids: list[str]) -> list[bool]:
    """For each id, whether Redis knows a job of that id in any state, failed and finished
    included (one round trip)."""
    pipe = connection.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.exists(Job.key_for(job_id))
    return [bool(found) for found in pipe.execute()] if job_ids else []


def enqueue_once(connection, kind: str, *args, job_id: str, at: dt.datetime | None = None) -> Job | None:
    """Enqueue unless a job with ``job_id`` is already active (sweeps call this every minute)."""
    if job_is_active(connection, job_id):
        return None
    return enqueue(connection, kind, *args, job_id=job_id, at=at)
