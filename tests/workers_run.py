"""Helpers for tests and benchmarks that run real workers (no pytest import here).

``drain()`` runs a real RQ ``SimpleWorker`` in burst mode until every queue is empty —
jobs that enqueue further jobs (outbox → route → notify → send) are followed through.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rq import SimpleWorker

from backend.crypto import FieldCipher
from backend.db import db
from workers.queues import ALL_QUEUES, queue

ROOT = Path(__file__).resolve().parent.parent


def drain(connection, queues=ALL_QUEUES, rounds: int = 5) -> int:
    """Work every queue to empty (burst) with a real SimpleWorker; returns jobs run."""
    total = 0
    for _ in range(rounds):
        worker = SimpleWorker([queue(name, connection) for name in queues], connection=connection)
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
        total += worker.successful_job_count + worker.failed_job_count
        if all(queue(name, connection).count == 0 for name in queues):
            break
    db.connect(reuse_if_open=True)  # jobs close the connection they found open
    return total


def promote_scheduled(connection, queues=ALL_QUEUES) -> int:
    """Make every scheduled job (RQ Retry backoff, deferrals) due now — what RQ's scheduler
    does when their time comes — so a burst worker can run them."""
    from rq.registry import ScheduledJobRegistry

    moved = 0
    for name in queues:
        q = queue(name, connection)
        registry = ScheduledJobRegistry(queue=q)
        for job_id in registry.get_job_ids():
            job = q.fetch_job(job_id)
            registry.remove(job_id)
            if job is not None:
                q.enqueue_job(job)
                moved += 1
    return moved


def set_staff_phone(staff, phone: str, field_key: str) -> None:
    from workers.sending import STAFF_PHONE_CONTEXT

    cipher = FieldCipher.from_key(field_key)
    staff.phone_enc = cipher.encrypt(phone, STAFF_PHONE_CONTEXT)
    staff.phone_index = cipher.blind_index(phone, STAFF_PHONE_CONTEXT)
    staff.save()


def worker_env(settings, **extra) -> dict:
    """Environment for a `python -m server worker` subprocess sharing the test's DB and Redis."""
    from backend.redis_conn import redis_url

    env = dict(os.environ, PYTHONPATH=str(ROOT), EJIA_ENV=settings.env, EJIA_VAR=str(settings.var_dir),
               DATABASE_URL=settings.database_url, REDIS_URL=redis_url(settings),
               WECHAT_API_BASE=settings.wechat_api_base, MEDIA_DIR=str(settings.media_dir),
               SMS_PROVIDER=settings.sms_provider, QUIET_HOURS=settings.quiet_hours or "off",
               LOG_LEVEL="INFO")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_worker(settings, *, log_path: Path | None = None, **extra) -> subprocess.Popen:
    """A real worker process (`python -m server worker`) on every queue."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "server", "worker"], cwd=str(ROOT),
                            env=worker_env(settings, **extra), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_process(process: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def wait_for(predicate, timeout: float = 10, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)
