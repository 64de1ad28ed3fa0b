"""`python -m server jobs failed|retry`: RQ's failed registry, readable and re-runnable.

    python -m server jobs failed                 # every failed job, all queues, newest first
    python -m server jobs failed --queue send
    python -m server jobs retry <job id> …       # requeue these
    python -m server jobs retry --all [--queue route]
    python -m server jobs lanes                  # outbox rows waiting in each lane, and its drain

Outbox rows wait in lanes, not as RQ jobs (workers/relay.py), so ``rq info`` does not count a
backlog of reports: ``jobs lanes`` does.

The same registry is what ``rq info`` counts and what ``rq requeue`` acts on; this command
adds the reason (the last line of the exception) and the job's arguments.
"""
from __future__ import annotations

import sys
from typing import TextIO

from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from backend.config import Settings
from backend.redis_conn import connect
from workers.queues import ALL_QUEUES, queue


def _registries(connection, queue_name: str | None):
    names = [queue_name] if queue_name else list(ALL_QUEUES)
    for name in names:
        yield name, FailedJobRegistry(queue=queue(name, connection))


def reason(job: Job) -> str:
    text = ""
    try:
        result = job.latest_result()
        text = (result.exc_string if result is not None else "") or ""
    except Exception:  # noqa: BLE001 — an old or foreign job without results: fall back
        text = ""
    text = text or job.exc_info or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no reason recorded)"


def failed_jobs(connection, queue_name: str | None = None) -> list[dict]:
    """[{id, queue, func, args, ended_at, reason}] across queues, newest first."""
    out = []
    for name, registry in _registries(connection, queue_name):
        for job_id in registry.get_job_ids():
            try:
                job = Job.fetch(job_id, connection=connection)
            except NoSuchJobError:
                continue
            out.append({"id": job.id, "queue": name, "func": job.func_name, "args": list(job.args or ()),
                        "ended_at": job.ended_at.isoformat() if job.ended_at else None,
                        "description": job.description, "reason": reason(job)})
    out.sort(key=lambda item: item["ended_at"] or "", reverse=True)
    return out


def retry_failed(connection, job_ids=(), *, queue_name: str | None = None, all_jobs: bool = False) -> list[str]:
    """Requeue the named failed jobs (or all of them); returns the ids requeued."""
    wanted = set(job_ids)
    done = []
    for _name, registry in _registries(connection, queue_name):
        for job_id in registry.get_job_ids():
            if all_jobs or job_id in wanted:
                registry.requeue(job_id)
                done.append(job_id)
    return done


def lanes(connection) -> list[dict]:
    """[{lane, waiting, oldest, busy_seconds}]: ids waiting per lane, the oldest id, and how long
    the lane's drain keeps it busy (None: no drain queued or running)."""
    from workers import relay

    out = []
    for lane in range(relay.LANES):
        key = relay.LANE_KEY.format(lane)
        oldest = connection.zrange(key, 0, 0)
        ttl = connection.ttl(relay.LANE_BUSY_KEY.format(lane))
        out.append({"lane": lane, "waiting": connection.zcard(key), "oldest": int(oldest[0]) if oldest else None,
                    "busy_seconds": ttl if ttl >= 0 else None})
    return out


def run(settings: Settings, action: str, job_ids=(), *, queue_name: str | None = None, all_jobs: bool = False,
        out: TextIO | None = None) -> int:
    out = out or sys.stdout
    connection = connect(settings)
    if action == "failed":
        jobs = failed_jobs(connection, queue_name)
        for item in jobs:
            args = ", ".join(map(str, item["args"]))
            out.write(f"{item['id']}  {item['queue']:<11} {item['func']}({args})  {item['ended_at'] or '-'}\n"
                      f"    {item['reason']}\n")
        out.write(f"{len(jobs)} failed job(s)\n")
        return 0
    if action == "retry":
        if not job_ids and not all_jobs:
            out.write("name job ids to retry, or --all\n")
            return 2
        done = retry_failed(connection, job_ids, queue_name=queue_name, all_jobs=all_jobs)
        missing = sorted(set(job_ids) - set(done))
        for job_id in done:
            out.write(f"requeued {job_id}\n")
        for job_id in missing:
            out.write(f"not in the failed registry: {job_id}\n")
        return 1 if missing else 0
    if action == "lanes":
        rows = lanes(connection)
        for row in rows:
            busy = f"drain busy {row['busy_seconds']} s more" if row["busy_seconds"] is not None else "no drain"
            oldest = f", oldest outbox {row['oldest']}" if row["oldest"] is not None else ""
            out.write(f"lane {row['lane']}: {row['waiting']} waiting{oldest}; {busy}\n")
        out.write(f"{sum(row['waiting'] for row in rows)} outbox row(s) waiting\n")
        return 0
    out.write(f"unknown action {action!r} (use failed, retry or lanes)\n")
    return 2
