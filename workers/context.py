"""What every job needs, whoever started the worker: settings, database, relay, log lines.

``python -m server worker`` bootstraps before working; the standard ``rq worker -u <url>``
does not, so each job calls ``ensure_ready()`` first (cheap after the first call).

Log lines from jobs carry the RQ job id and the event number (``[job …] [event …]``) so one
grep follows a report through routing, sends and retries (issue 5, item 8).
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import sys

from rq import get_current_job

from backend import config
from backend.config import Settings
from backend.db import db, init_database

_event_number: contextvars.ContextVar[str] = contextvars.ContextVar("ejia_event_number", default="-")
_lane_job: contextvars.ContextVar = contextvars.ContextVar("ejia_lane_job", default=None)
_keep_open = False


def ensure_ready() -> Settings:
    """Settings, the database proxy and the outbox relay, initialised once per process."""
    from workers import relay

    settings = config.current()
    if db.obj is None:
        init_database(settings.database_url)
    current = relay.installed() or relay.install_relay(settings)
    if get_current_job() is not None:
        current.reachable()  # a job was just dequeued, so Redis is up again
    root = logging.getLogger()
    if not root.handlers:  # `rq worker` configures only its own logger
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


def keep_connection_open(flag: bool = True) -> None:
    """A long-lived worker process (``python -m server worker``) keeps one database
    connection across jobs instead of opening one per job (~10 ms on PostgreSQL under load,
    more than the job itself). Forking workers (``rq worker``) must not: they stay per job."""
    global _keep_open
    _keep_open = flag


@contextlib.contextmanager
def db_session():
    """The database for one job: per job by default, or the worker's kept connection —
    checked before each job and reopened when it died (PostgreSQL restart)."""
    if not _keep_open:
        with db.connection_context():
            yield
        return
    if not db.is_closed() and not db.is_connection_usable():
        try:
            db.close()
        except Exception:  # noqa: BLE001 — the connection is already broken; drop it
            db._state.reset()
    if db.is_closed():
        db.connect()
    try:
        yield
    except Exception:
        if not db.is_connection_usable():
            try:
                db.close()
            except Exception:  # noqa: BLE001
                db._state.reset()
        raise


def current_job():
    """The running RQ job — also in a drain's helper threads (``in_job``), where RQ's own
    thread-local stack has none."""
    return get_current_job() or _lane_job.get()


def in_job(job, call, *args):
    """Run ``call`` in a helper thread as part of ``job`` (its log lines name the job)."""
    token = _lane_job.set(job)
    try:
        return call(*args)
    finally:
        _lane_job.reset(token)


def redis_connection():
    """The connection of the running job, else the relay's (direct calls, sweeps from tests)."""
    job = current_job()
    if job is not None:
        return job.connection
    from workers import relay

    current = relay.installed() or relay.install_relay(config.current())
    return current.connection


@contextlib.contextmanager
def event_scope(number: str | None):
    token = _event_number.set(number or "-")
    try:
        yield
    finally:
        _event_number.reset(token)


def set_event(number: str | None) -> None:
    """Name the event the rest of this job is about (inside an ``event_scope``)."""
    _event_number.set(number or "-")


class JobLog(logging.LoggerAdapter):
    def process(self, msg, kwargs):
        job = current_job()
        return f"[job {job.id if job else '-'}] [event {_event_number.get()}] {msg}", kwargs


def job_logger(name: str) -> JobLog:
    return JobLog(logging.getLogger(name), {})


def fail_without_retry(exc: Exception) -> Exception:
    """Make the running job's failure final: RQ puts it in the failed registry, no Retry.

    Used for inputs that can never succeed (malformed outbox payload, a fake image), so a
    poison job is visible with its reason instead of looping through the retry schedule.
    """
    job = get_current_job()
    if job is not None:
        job.retries_left = 0
    return exc


def option(settings: Settings, name: str, default):
    """A setting that may not exist in backend.config yet (see docs/workers.md, "Settings").

    Looks at the typed attribute first, then ``settings.extra[NAME]``, then the default.
    """
    value = getattr(settings, name, None)
    if value in (None, "") and settings.extra:
        value = settings.extra.get(name.upper())
    if value in (None, ""):
        return default
    if isinstance(default, bool) and isinstance(value, str):
        return config.parse_bool(name.upper(), value)
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, str):
        return config.parse_int(name.upper(), value)
    return value
