"""Redis behind Sentinel (issue 19, item 2): ``REDIS_URL=redis+sentinel://…/<service>/<db>``.

Each test runs its own Redis primary, replica and three Sentinels on free ports
(tests/private_servers.py) and kills the primary: the Sentinels promote the replica, and the
request client, the workers' client and a running worker process carry on against the new
primary without a restart. A service no Sentinel knows stops a process at start, naming it."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time

import pytest
import redis as redis_lib

from backend import config, geo
from backend.config import ConfigError
from backend.models import Event, Notification, OutboxMessage
from backend.redis_conn import CircuitBreaker, connect, connect_for_requests
from tests.factories import make_world
from tests.fixtures_web import another_live_server
from tests.private_servers import PrivateSentinels
from tests.workers_run import ROOT, start_worker, stop_process, wait_for, worker_env
from workers import jobs, relay
from workers.queues import MAINTENANCE, queue

NUMBER = re.compile(r"\d{8}-\d{4}")


@pytest.fixture
def sentinels(tmp_path):
    group = PrivateSentinels(tmp_path / "redis")
    group.start()
    yield group
    group.stop()


def test_an_unknown_sentinel_service_stops_a_worker_at_start_naming_it(sentinels, settings):
    env = worker_env(settings, REDIS_URL=sentinels.url(service="ejia-typo"))
    run = subprocess.run([sys.executable, "-m", "server", "worker", "--burst"], cwd=str(ROOT), env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "'ejia-typo'" in run.stderr and "ejia" in run.stderr.replace("'ejia-typo'", "")  # what they know
    assert "Traceback" not in run.stderr
    check = subprocess.run([sys.executable, "-m", "server", "check"], cwd=str(ROOT), env=env,
                           capture_output=True, text=True, timeout=60)  # the preflight says it as a line
    assert check.returncode == 1 and "✗" in check.stdout and "'ejia-typo'" in check.stdout
    assert "Traceback" not in check.stderr
    gunicorn = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0",
                               "server:create_app()"], cwd=str(ROOT), env=env, capture_output=True, text=True,
                              timeout=60)
    assert gunicorn.returncode == 2 and "'ejia-typo'" in gunicorn.stderr and "Traceback" not in gunicorn.stderr
    # the web app's factory refuses the same way (gunicorn would not start), and installs nothing
    before = config.current()
    with pytest.raises(ConfigError, match="ejia-typo"):
        from server import create_app

        create_app({"env": "test", "var_dir": settings.var_dir, "database_url": settings.database_url,
                    "redis_url": sentinels.url(service="ejia-typo")})
    assert config.current() is before


def test_the_request_client_and_the_worker_client_follow_a_failover(sentinels, settings):
    url = sentinels.url(db=2)
    request_client = connect_for_requests(settings.with_overrides(redis_url=url), CircuitBreaker(open_seconds=1))
    worker_client = connect(settings.with_overrides(redis_url=url))
    request_client.set("before", "1")
    assert worker_client.wait(1, 2000) == 1  # the replica has it
    old_primary = sentinels.primary.port
    sentinels.primary.kill()
    started = time.perf_counter()
    with pytest.raises(redis_lib.RedisError):  # the primary is gone: an error at once, never a hang
        request_client.get("before")
    assert time.perf_counter() - started < 1.0
    wait_for(lambda: sentinels.primary_port() not in (None, old_primary), timeout=30, interval=0.2)

    def request_path_answers():
        try:
            return request_client.set("after", "2")
        except redis_lib.RedisError:  # the breaker is open for a second after the failure
            time.sleep(0.2)
            return False

    wait_for(request_path_answers, timeout=10)
    assert request_client.get("before") == b"1" and request_client.get("after") == b"2"
    assert worker_client.get("after") == b"2"
    assert request_client.connection_pool.get_master_address()[1] == sentinels.replica.port


def _report(app, world, text: str) -> str:
    user = app.user()
    user.send_text(text)
    user.send_location(*geo.wgs84_to_gcj02(*world.in_a))
    match = NUMBER.search(user.send_text("1") or "")
    assert match, "no event number in the reply"
    return match.group(0)


def _recipients(sandbox, number: str) -> list[str]:
    return [c["body"]["touser"] for c in sandbox.calls("message/template/send")
            if c["errcode"] == 0 and number in str(c["body"])]


def _wait_until_notified(sandbox, number: str, worker_log, timeout: float = 60) -> None:
    """Wait for the grid's template for ``number``; on a timeout, say where it stopped."""
    try:
        wait_for(lambda: _recipients(sandbox, number), timeout=timeout, interval=0.2)
    except AssertionError:
        event = Event.get_or_none(Event.number == number)
        rows = [(r.id, r.topic, r.enqueued_at, r.attempts, r.processed_at, r.error)
                for r in OutboxMessage.select().where(OutboxMessage.event == event)] if event else []
        notices = [(n.channel, n.recipient, n.status, n.error) for n in
                   Notification.select().where(Notification.event == event)] if event else []
        calls = [(c["errcode"], c["body"].get("touser")) for c in sandbox.calls("message/template/send")
                 if number in str(c["body"])]
        raise AssertionError(f"{number} not notified in {timeout}s: event {event and event.status}, outbox {rows}, "
                             f"notifications {notices}, template calls {calls}\nworker log:\n"
                             + worker_log.read_text(errors="replace")[-4000:]) from None


def test_a_running_app_and_worker_carry_on_after_a_failover_and_notify_once(sentinels, live_app, sandbox, tmp_path):
    url = sentinels.url(db=0)
    with another_live_server(sandbox.settings.with_overrides(redis_url=url, quiet_hours="off")) as app:
        world = make_world()
        grid = {world.worker_a.oa_openid, world.worker_a2.oa_openid}
        worker = start_worker(config.current(), log_path=tmp_path / "worker.log")
        try:
            first = _report(app, world, "路灯坏了好几天")
            _wait_until_notified(sandbox, first, tmp_path / "worker.log")
            sentinels.kill_primary_and_wait_for_failover()
            second = _report(app, world, "小区门口的井盖丢了")  # filed on the new primary's watch
            _wait_until_notified(sandbox, second, tmp_path / "worker.log")
            # RQ's scheduler (retry backoff, deferred sends) runs again too: a job due in 1 s runs
            redis = connect(config.current())
            later = queue(MAINTENANCE, redis).enqueue_in(dt.timedelta(seconds=1), jobs.sweep_outbox,
                                                         job_id="after-failover")
            wait_for(lambda: later.get_status(refresh=True) == "finished", timeout=20, interval=0.2)
            time.sleep(2)  # room for a duplicate to show itself
        finally:
            stop_process(worker)
        log = (tmp_path / "worker.log").read_text(errors="replace")
        for number in (first, second):
            recipients = _recipients(sandbox, number)
            assert recipients and set(recipients) <= grid, log[-3000:]
            assert sorted(recipients) == sorted(set(recipients)), log[-3000:]  # each of them once
            event = Event.get(Event.number == number)
            assert event.status == "assigned"
            rows = Notification.select().where((Notification.event == event) & (Notification.channel == "template"))
            assert sorted(r.recipient for r in rows) == sorted({r.recipient for r in rows})
            assert {r.status for r in rows} == {"sent"}
        assert OutboxMessage.select().where(OutboxMessage.processed_at.is_null()).count() == 0
        # the second report's outbox rows went through their lane on the new primary, once:
        # no row needed a job of its own, and none waits in a lane
        rows = list(OutboxMessage.select().where(
            (OutboxMessage.event == Event.get(Event.number == second)) & OutboxMessage.enqueued_at.is_null(False)))
        enqueued = [row.id for row in rows]
        assert enqueued
        assert relay.waiting(redis, enqueued, {row.id: row.event_id for row in rows}) == set()
        assert [i for i in enqueued if redis.exists(f"rq:job:{relay.job_id(i)}")] == []
        assert redis.connection_pool.get_master_address()[1] == sentinels.replica.port


def test_a_worker_busy_when_the_primary_dies_finishes_its_job_and_stays_up(sentinels, settings, tmp_path):
    """A job still running when the primary is killed: RQ records its success on the dead
    connection; the worker waits for the new primary and records it there instead of exiting
    (found by the multi-host rehearsal, tests/e2e/test_multi_host.py)."""
    worker_settings = settings.with_overrides(redis_url=sentinels.url(db=3))
    redis = connect(worker_settings)
    worker = start_worker(worker_settings, log_path=tmp_path / "worker.log")
    try:
        busy = queue(MAINTENANCE, redis).enqueue("time.sleep", 1, job_id="busy-across-failover")
        wait_for(lambda: busy.get_status(refresh=True) == "started", timeout=30, interval=0.05)
        sentinels.kill_primary_and_wait_for_failover()  # the job ends while no primary answers
        wait_for(lambda: busy.get_status(refresh=True) == "finished", timeout=60, interval=0.3)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
        after = queue(MAINTENANCE, redis).enqueue("time.sleep", 0, job_id="after-failover-too")
        wait_for(lambda: after.get_status(refresh=True) == "finished", timeout=30, interval=0.2)
        assert worker.poll() is None
    finally:
        stop_process(worker)
