"""End to end with real worker processes: `python -m server worker` SIGKILLed in the middle
of a send and restarted sends nothing twice; the standard `rq worker` and `rq info`
commands work on our queues. The WeChat sandbox is reached over HTTP."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from backend.models import Event, Notification, Resident
from backend.redis_conn import redis_url
from backend.services.context import resident_actor
from backend.services.events import Submission, submit_event
from tests.factories import make_world
from tests.worker_fixtures import worker_settings_installed
from workers import delivery
from workers.queues import ALL_QUEUES
from workers.testing import ROOT, start_worker, stop_process, wait_for, worker_env


@pytest.fixture
def env(clean_db, sandbox, redis_conn, settings):
    with worker_settings_installed(sandbox.settings.with_overrides(quiet_hours="off"), settings) as installed:
        yield installed


@pytest.fixture
def world(env):
    return make_world()


@pytest.fixture
def processes():
    started = []
    yield started
    for process in started:
        stop_process(process, signal.SIGKILL)


def report(world):
    resident = Resident.create(oa_openid="oa-resident-e2e")
    return submit_event(Submission(description="小区门口的路灯坏了", reporter=resident_actor(resident),
                                   lat=world.in_a[0], lng=world.in_a[1], category_code="0101")).event


def in_flight(sandbox):
    """Template requests the sandbox has received but not yet answered."""
    return [c for c in sandbox.calls("message/template/send") if c["errcode"] is None]


def test_worker_killed_mid_send_is_restarted_and_nothing_is_sent_twice(env, world, sandbox, redis_conn,
                                                                         processes, tmp_path):
    sandbox.inject(latency_ms=4000, count=1, api="message/template/send")  # the first send hangs
    event = report(world)
    log = tmp_path / "worker.log"
    first = start_worker(env, log_path=log)
    processes.append(first)
    wait_for(lambda: in_flight(sandbox), timeout=30)
    os.killpg(first.pid, signal.SIGKILL)  # the whole worker, in the middle of the HTTP call
    first.wait(timeout=10)

    [row] = Notification.select()
    assert row.status == "claimed" and row.channel == "template"  # claimed, outcome unknown
    wait_for(lambda: not in_flight(sandbox), timeout=10)  # WeChat did receive and deliver it

    second = start_worker(env, log_path=log)
    processes.append(second)
    # the scheduler's sweep finds the orphaned claim (a minute later in production)
    result = delivery.recover_stale(redis_conn, stale_after=delivery.dt.timedelta(0))
    assert result == {"resent": 1, "unknown": 0}
    wait_for(lambda: Notification.get_by_id(row.id).status == "sent", timeout=30)

    calls = sandbox.calls("message/template/send")
    assert len(calls) == 2  # the resend reached WeChat …
    assert {c["body"]["client_msg_id"] for c in calls} == {row.key}  # … with the same client_msg_id
    state = sandbox.app.extensions["sandbox.state"]
    assert list(state.sent_client_msg_ids) == [(world.worker_a.oa_openid, row.key)]  # delivered once
    row = Notification.get_by_id(row.id)
    assert row.payload["result"]["msgid"] == state.sent_client_msg_ids[(world.worker_a.oa_openid, row.key)][0]
    assert Event.get_by_id(event.id).status == "assigned"


def test_standard_rq_worker_and_rq_info_work_on_our_queues(env, world, sandbox, redis_conn):
    event = report(world)
    url = redis_url(env)
    environment = worker_env(env)
    rq = [sys.executable, "-m", "rq.cli"]
    info = subprocess.run([*rq, "info", "-u", url, *ALL_QUEUES], env=environment, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, info.stderr
    assert "route" in info.stdout and "1" in info.stdout
    burst = subprocess.run([*rq, "worker", "-u", url, "--burst", *ALL_QUEUES], env=environment, cwd=str(ROOT),
                           capture_output=True, text=True, timeout=120)
    assert burst.returncode == 0, burst.stderr
    [call] = [c for c in sandbox.calls("message/template/send") if c["errcode"] == 0]
    assert call["body"]["data"]["character_string2"]["value"] == event.number
    assert f"[event {event.number}]" in burst.stderr + burst.stdout  # job log lines name the event


def test_a_residents_notice_survives_a_killed_worker_and_is_delivered_once(env, world, sandbox, redis_conn,
                                                                          processes, tmp_path):
    """Issue 14: exactly once per notice for residents too — a follower outside the 48-hour window
    gets the 已受理 template; the worker dies in the middle of sending it."""
    from backend.services import actions
    from backend.services.context import staff_actor
    from backend.services.events import route_event

    event = report(world)
    route_event(event.id)
    Notification.delete().execute()  # the staff notice of the route is not this test's subject
    sandbox.inject(latency_ms=4000, count=1, api="message/template/send", openid="oa-resident-e2e")
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    first = start_worker(env, log_path=tmp_path / "worker.log")
    processes.append(first)
    wait_for(lambda: in_flight(sandbox), timeout=30)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    [row] = Notification.select().where(Notification.recipient.startswith("resident:"))
    assert (row.status, row.channel) == ("claimed", "template")
    wait_for(lambda: not in_flight(sandbox), timeout=10)
    second = start_worker(env, log_path=tmp_path / "worker.log")
    processes.append(second)
    assert delivery.recover_stale(redis_conn, stale_after=delivery.dt.timedelta(0)) == {"resent": 1, "unknown": 0}
    wait_for(lambda: Notification.get_by_id(row.id).status == "sent", timeout=30)
    state = sandbox.app.extensions["sandbox.state"]
    delivered = [k for k in state.sent_client_msg_ids if k[0] == "oa-resident-e2e"]
    assert delivered == [("oa-resident-e2e", row.key)]  # sent twice to WeChat, delivered once
    assert Notification.select().where(Notification.recipient.startswith("resident:")).count() == 1
