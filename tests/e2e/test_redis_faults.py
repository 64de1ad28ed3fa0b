"""Redis killed, restarted empty or hung (SIGSTOP) while residents chat (issue 13): nothing a
resident sent is lost, every answer stays inside WeChat's budget, and the notifications go
out once Redis is back — with `python -m server worker --burst` alone.

The app under test runs against a private redis-server (no persistence) that the test kills,
restarts and pauses; the shared Redis stays up for everyone else."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import redis as redis_lib
import requests

from backend import config, geo
from backend.models import DialogDraft, Event, OutboxMessage
from backend.redis_conn import CircuitBreaker, connect_for_requests
from tests.mp_client import MpClient, image_bytes
from tests.factories import make_world
from tests.fixtures_web import another_live_server
from tests.workers_run import ROOT, worker_env

NUMBER = re.compile(r"\d{8}-\d{4}")
ANSWER_BUDGET_S = 1.0  # the bound for a chat answer with Redis hung (WeChat allows 5)


@pytest.fixture
def app(private_redis, live_app, sandbox):
    """The app on a real port, its Redis the private one."""
    with another_live_server(sandbox.settings.with_overrides(redis_url=private_redis.url, quiet_hours="off")) as server:
        yield server


@pytest.fixture
def world(app):
    return make_world()


def gcj(point):
    return geo.wgs84_to_gcj02(*point)


def number_in(reply: str) -> str:
    match = NUMBER.search(reply or "")
    assert match, f"no event number in {reply!r}"
    return match.group(0)


def timed(send, *args):
    started = time.perf_counter()
    reply = send(*args)
    return reply, time.perf_counter() - started


def test_redis_restarted_empty_between_the_place_and_the_1_loses_no_draft(app, world, private_redis):
    user = app.user()
    user.send_text("楼道里堆满了纸箱，很危险")
    user.send_location(*gcj(world.in_a), "金源社区3号楼")
    private_redis.kill()
    private_redis.start()  # back, empty: no persistence
    event = Event.get(Event.number == number_in(user.send_text("1")))
    assert event.description == "楼道里堆满了纸箱，很危险" and event.grid_id == world.grid_a.id
    assert event.source == "wechat"


def test_redis_down_during_the_1_files_the_event_and_a_burst_worker_alone_notifies_once(
        app, world, private_redis, sandbox):
    user = app.user()
    user.send_text("路灯坏了好几天")
    user.send_location(*gcj(world.in_a))
    private_redis.kill()
    reply, elapsed = timed(user.send_text, "1")
    event = Event.get(Event.number == number_in(reply))
    assert elapsed < ANSWER_BUDGET_S
    assert OutboxMessage.select().where(OutboxMessage.enqueued_at.is_null()).count() >= 1  # for later
    private_redis.start()
    sandbox.clear_calls()
    burst = subprocess.run([sys.executable, "-m", "server", "worker", "--burst"], cwd=str(ROOT), timeout=120,
                           env=worker_env(config.current(), REDIS_URL=private_redis.url),
                           capture_output=True, text=True)
    assert burst.returncode == 0, burst.stderr[-2000:]
    sent = [c for c in sandbox.calls("message/template/send") if c["errcode"] == 0
            and event.number in str(c["body"])]
    recipients = [c["body"]["touser"] for c in sent]
    assert recipients and sorted(recipients) == sorted(set(recipients))  # each grid worker, once
    assert set(recipients) <= {world.worker_a.oa_openid, world.worker_a2.oa_openid}
    assert Event.get_by_id(event.id).status == "assigned"
    assert OutboxMessage.select().where(OutboxMessage.processed_at.is_null()).count() == 0


def test_redis_hung_costs_a_chat_answer_well_under_a_second_and_keeps_what_was_sent(
        app, world, private_redis, sandbox):
    resident_mp = MpClient(requests.Session(), app.url)
    resident_mp.login("paused-redis-resident")  # before the pause: the login needs WeChat's token
    photo = resident_mp.upload(image_bytes()).json["id"]
    user = app.user()
    private_redis.pause()
    try:
        timings = []
        for send, args in ((user.send_text, ("小区门口的井盖丢了",)), (user.send_location, gcj(world.in_a)),
                           (user.send_text, ("1",))):
            reply, elapsed = timed(send, *args)
            timings.append(elapsed)
        number = number_in(reply)
        started = time.perf_counter()
        filed = resident_mp.post("/events", {"description": "路灯一直不亮", "lat": world.in_b[0],
                                             "lng": world.in_b[1], "datum": "wgs84", "client_key": "paused-1",
                                             "media_ids": [photo]})
        mp_elapsed = time.perf_counter() - started
    finally:
        private_redis.resume()
    assert max(timings) < ANSWER_BUDGET_S, timings
    assert filed.status == 201 and mp_elapsed < ANSWER_BUDGET_S, (filed, mp_elapsed)
    assert Event.get(Event.number == number).description == "小区门口的井盖丢了"
    assert Event.get(Event.number == filed.json["number"]).description == "路灯一直不亮"
    assert filed.json["media_ids"] == [photo]  # the upload receipt is in the database
    assert DialogDraft.get(DialogDraft.openid == user.openid).flow is None  # the report was finished


def test_a_hung_redis_fails_fast_behind_the_breaker(private_redis, settings):
    client = connect_for_requests(settings.with_overrides(redis_url=private_redis.url, redis_request_timeout_ms=200),
                                  CircuitBreaker(open_seconds=60))
    client.set("k", "v")
    private_redis.pause()
    try:
        durations = []
        for _ in range(5):
            started = time.perf_counter()
            with pytest.raises(redis_lib.RedisError):
                client.get("k")
            durations.append(time.perf_counter() - started)
    finally:
        private_redis.resume()
    assert 0.15 < durations[0] < 1.0  # the first call waits for its timeout …
    assert max(durations[1:]) < 0.05  # … the rest are refused at once while the breaker is open


def test_the_scheduler_process_waits_out_a_redis_outage_instead_of_exiting(private_redis, settings, tmp_path):
    """RQ's CronScheduler raises out of ``start`` when Redis goes away (a restart, a Sentinel
    failover): ``python -m server scheduler`` starts it again once Redis answers."""
    from rq.cron import CronScheduler

    from tests.workers_run import stop_process, wait_for

    private_redis.stop()
    log_path = tmp_path / "scheduler.log"
    with open(log_path, "wb") as out:
        scheduler = subprocess.Popen([sys.executable, "-m", "server", "scheduler"], cwd=str(ROOT),
                                     env=worker_env(config.current(), REDIS_URL=private_redis.url),
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "lost Redis" in log_path.read_text(errors="replace"), timeout=30)
        assert scheduler.poll() is None
        private_redis.start()
        client = redis_lib.Redis.from_url(private_redis.url)
        wait_for(lambda: [s.name for s in CronScheduler.all(client)] == ["ejia-scheduler"], timeout=30, interval=0.2)
        assert scheduler.poll() is None
    finally:
        stop_process(scheduler)
    assert scheduler.returncode == 0, log_path.read_text(errors="replace")[-2000:]
