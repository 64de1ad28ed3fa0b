"""Outbox rows wait in lanes and a drain job handles many of them (workers/relay.py): real
Redis, real RQ workers (SimpleWorker burst), the WeChat sandbox over HTTP.

The lane protocol is checked by a hypothesis state machine on real Redis that interleaves
relays adding ids with drain jobs taking and freeing the lane: no id is ever stranded, and a
lane is never left busy with no drain to empty it."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings as hsettings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from backend import clock, config
from backend.db import db
from backend.models import Notification, OutboxMessage, Resident
from backend.services.context import resident_actor
from backend.services.events import Submission, submit_event
from tests.factories import make_world
from tests.worker_fixtures import env  # noqa: F401,F811
from tests.workers_run import drain
from workers import jobs, relay
from workers.queues import ROUTE, queue


@pytest.fixture
def world(env):
    return make_world()


@pytest.fixture
def resident():
    return Resident.create(oa_openid="oa-resident-1")


def report(resident, point, text="楼下垃圾好几天没人清了", code="0101"):
    return submit_event(Submission(description=text, reporter=resident_actor(resident),
                                   lat=point[0], lng=point[1], category_code=code)).event


def template_keys(sandbox) -> list[str]:
    return [c["body"]["client_msg_id"] for c in sandbox.calls("message/template/send") if c["errcode"] == 0]


def lanes_idle(connection) -> bool:
    return all(not connection.exists(relay.LANE_KEY.format(lane), relay.LANE_BUSY_KEY.format(lane))
               for lane in range(relay.LANES))


def drains_run(connection) -> int:
    return FinishedJobRegistry(queue=queue(ROUTE, connection)).count


def sweep() -> int:
    swept = jobs.sweep_outbox()
    db.connect(reuse_if_open=True)  # the sweep closes the connection it found open
    return swept


def own_jobs(connection) -> list[bytes]:
    return connection.keys(f"rq:job:{relay.job_id(0)[:-1]}*")


def test_a_burst_of_reports_waits_in_lanes_and_a_few_jobs_notify_each_once(env, world, resident, sandbox,
                                                                          redis_conn):
    events = [report(resident, world.in_a if i % 2 else world.in_b) for i in range(30)]
    assert len(queue(ROUTE, redis_conn)) <= relay.LANES  # one drain per lane, not one job per report
    waiting = relay.waiting(redis_conn, [row.id for row in OutboxMessage.select()])
    assert len(waiting) == 30
    drain(redis_conn)
    assert drains_run(redis_conn) <= 2 * relay.LANES
    keys = template_keys(sandbox)
    assert len(keys) == 30 and len(set(keys)) == 30  # each report's grid worker told, once
    assert {n.event_id for n in Notification.select().where(Notification.status == "sent")} == {e.id for e in events}
    assert OutboxMessage.select().where(OutboxMessage.processed_at.is_null()).count() == 0
    assert [row.attempts for row in OutboxMessage.select()].count(1) == 30  # the reports' rows, once each
    assert lanes_idle(redis_conn) and own_jobs(redis_conn) == []


@pytest.mark.parametrize("threads", ["1", "4"])
def test_a_drain_handles_a_batch_side_by_side_or_one_by_one_each_once(env, world, resident, sandbox, redis_conn,
                                                                       threads, caplog):
    """OUTBOX_DRAIN_THREADS rows at a time (the default: 4 on PostgreSQL, 1 on SQLite), on
    either engine: every report notified once, and the threads' log lines name the drain job."""
    caplog.set_level("INFO", logger="ejia.jobs")
    config.install(env.with_overrides(extra={**env.extra, "OUTBOX_DRAIN_THREADS": threads}))
    events = [report(resident, world.in_a if i % 3 else world.in_b) for i in range(40)]
    drain(redis_conn)
    keys = template_keys(sandbox)
    assert len(keys) == 40 and len(set(keys)) == 40
    rows = Notification.select().where(Notification.channel == "template")
    assert sorted(n.event_id for n in rows) == sorted(e.id for e in events)
    assert {n.status for n in rows} == {"sent"}
    assert OutboxMessage.select().where(OutboxMessage.processed_at.is_null()).count() == 0
    assert lanes_idle(redis_conn) and own_jobs(redis_conn) == []
    planned = [r.getMessage() for r in caplog.records if "planned" in r.getMessage()]
    assert len(planned) >= 40 and not [line for line in planned if line.startswith("[job -]")]


@pytest.mark.parametrize("threads", ["1", "4"])
def test_an_events_rows_are_handled_in_the_order_they_were_written(env, world, sandbox, redis_conn, threads):
    """A backlog of 受理 and 办结 for many events, drained side by side: every resident hears of
    their own case in the order it happened (an event's rows share a lane and a thread)."""
    from backend.services import actions
    from backend.services.context import staff_actor
    from backend.services.events import route_event

    config.install(env.with_overrides(extra={**env.extra, "OUTBOX_DRAIN_THREADS": threads}))
    people = [Resident.create(oa_openid=f"oa-r{i}", last_message_at=clock.now()) for i in range(8)]
    events = [report(who, world.in_a, "邻居吵架", code="0201") for who in people]  # no photo needed to resolve
    for event in events:  # everything written before any worker runs: one backlog
        route_event(event.id)
        actions.perform(event.number, staff_actor(world.worker_a), "accept")
        actions.perform(event.number, staff_actor(world.worker_a), "resolve", {"note": "已处理"})
    drain(redis_conn)
    for who, event in zip(people, events):
        told = [c["body"]["text"]["content"] for c in sandbox.calls("message/custom/send")
                if c["errcode"] == 0 and c["body"]["touser"] == who.oa_openid]
        assert len(told) >= 2 and event.number in told[-1] and "满意吗" in told[-1], told
        rows = list(Notification.select().where((Notification.event == event.id) & (Notification.status == "sent")
                                                 & (Notification.recipient == f"resident:{who.id}")))
        by_time = [r.step_id for r in sorted(rows, key=lambda r: (r.sent_at, r.id))]
        assert by_time == sorted(by_time), "a resident heard of a later step first"


def test_jobs_lanes_shows_what_waits_where_for_an_operator(env, world, resident, redis_conn):
    import io

    from workers import cli

    events = [report(resident, world.in_a) for _ in range(5)]
    ids = sorted(row.id for row in OutboxMessage.select().where(OutboxMessage.event.in_([e.id for e in events])))
    out = io.StringIO()
    assert cli.run(env, "lanes", out=out) == 0
    text = out.getvalue()
    assert text.endswith("5 outbox row(s) waiting\n"), text
    first = relay.lane_of(ids[0])
    assert f"lane {first}: " in text and f"oldest outbox {ids[0]}; drain busy" in text
    drain(redis_conn)
    out = io.StringIO()
    cli.run(env, "lanes", out=out)
    assert out.getvalue().endswith("0 outbox row(s) waiting\n") and "drain busy" not in out.getvalue()


def test_a_drain_past_its_time_hands_on_to_a_fresh_job(env, world, resident, sandbox, redis_conn, monkeypatch):
    monkeypatch.setattr(relay, "LANES", 1)
    monkeypatch.setattr(jobs, "DRAIN_BATCH", 2)
    monkeypatch.setattr(jobs, "DRAIN_SECONDS", 0.0)  # every batch is past the time
    for _ in range(7):
        report(resident, world.in_a)
    assert len(queue(ROUTE, redis_conn)) == 1
    drain(redis_conn, rounds=10)
    assert drains_run(redis_conn) >= 4  # 7 reports, 2 a batch: at least four drains one after the other
    keys = template_keys(sandbox)
    assert len(keys) == 7 and len(set(keys)) == 7
    assert lanes_idle(redis_conn)


def test_a_row_that_fails_in_its_lane_gets_a_job_of_its_own_and_the_lane_goes_on(env, world, resident, sandbox,
                                                                                 redis_conn, monkeypatch):
    first = report(resident, world.in_a)
    bad = OutboxMessage.create(topic="event.submitted", payload={"event_id": "not-a-number"})
    relay.enqueue_outbox(redis_conn, [bad.id])
    flaky_id = OutboxMessage.select().where(OutboxMessage.event == first).get().id
    real_validate, failed_once = jobs.validate, []

    def validate(message):
        if message.id == flaky_id and not failed_once:
            failed_once.append(message.id)
            raise ConnectionError("the database went away for a moment")
        return real_validate(message)

    monkeypatch.setattr(jobs, "validate", validate)
    second = report(resident, world.in_b)
    drain(redis_conn)
    assert failed_once == [flaky_id]
    keys = template_keys(sandbox)
    assert len(keys) == 2 and len(set(keys)) == 2  # both reports told, each once
    assert {n.event_id for n in Notification.select()} == {first.id, second.id}
    # the malformed row failed once, in a job of its own, with its reason — never retried
    [failed] = FailedJobRegistry(queue=queue(ROUTE, redis_conn)).get_job_ids()
    assert failed == relay.job_id(bad.id)
    assert OutboxMessage.get_by_id(bad.id).error == "malformed: payload has no integer event_id"
    assert sweep() == 0 and lanes_idle(redis_conn)


def test_the_sweep_takes_back_what_a_dead_drain_had_taken_and_restarts_its_lane(env, world, resident, sandbox,
                                                                               redis_conn):
    events = [report(resident, world.in_a) for _ in range(6)]
    assert sweep() == 0  # waiting in their lanes: not enqueued again
    assert [row.attempts for row in OutboxMessage.select()] == [1] * 6
    # a worker took the lanes' ids and died: its jobs are gone, its lanes still busy
    taken = [i for lane in range(relay.LANES) for i in relay.take(redis_conn, lane, 100)]
    assert len(taken) == 6
    queue(ROUTE, redis_conn).empty()
    assert sweep() == 6  # neither waiting nor done: added again
    assert len(queue(ROUTE, redis_conn)) == 0  # the lanes are still busy: no second drain yet
    for lane in range(relay.LANES):
        redis_conn.delete(relay.LANE_BUSY_KEY.format(lane))  # the busy keys expire
    assert sweep() == 0 and len(queue(ROUTE, redis_conn)) >= 1  # lanes with ids get a drain
    drain(redis_conn)
    keys = template_keys(sandbox)
    assert len(keys) == 6 and len(set(keys)) == 6
    assert {n.event_id for n in Notification.select()} == {e.id for e in events}
    assert lanes_idle(redis_conn)


# ------------------------------------------------------------------ the protocol, interleaved
class LaneProtocol(RuleBasedStateMachine):
    """Relays add ids (``enqueue_outbox``: add, then take the busy key if free and enqueue a
    drain); drain jobs start when a worker is free and go batch by batch (``take`` while
    there are ids, else ``release`` and one last look). Any interleaving, one lane."""

    connection = None

    def __init__(self):
        super().__init__()
        relay.LANES = 1
        self.connection.delete(relay.LANE_KEY.format(0), relay.LANE_BUSY_KEY.format(0))
        queue(ROUTE, self.connection).empty()
        self.next_id, self.added, self.taken = 0, set(), []
        self.running: list[bool] = []  # running drains: False once finished

    @rule(count=st.integers(1, 3))
    def relay_adds(self, count):
        ids = [self.next_id + i for i in range(count)]
        self.next_id += count
        relay.enqueue_outbox(self.connection, ids)
        self.added.update(ids)

    @precondition(lambda self: len(queue(ROUTE, self.connection)) > 0)
    @rule()
    def a_worker_starts_a_drain(self):
        assert queue(ROUTE, self.connection).pop_job_id()
        self.running.append(True)

    @precondition(lambda self: any(self.running))
    @rule(which=st.integers(0, 10), batch=st.integers(1, 3))
    def a_drain_goes_one_step(self, which, batch):
        live = [i for i, on in enumerate(self.running) if on]
        index = live[which % len(live)]
        ids = relay.next_batch(self.connection, 0, batch)  # what drain_outbox does
        self.taken.extend(ids)
        if not ids:
            self.running[index] = False

    @invariant()
    def nothing_is_stranded(self):
        """Ids waiting while no drain is queued or running: only if the lane is busy and one is."""
        waiting = self.connection.zcard(relay.LANE_KEY.format(0))
        drains = len(queue(ROUTE, self.connection)) + sum(self.running)
        if waiting:
            assert drains > 0, "ids wait in the lane and no drain will take them"
        if self.connection.exists(relay.LANE_BUSY_KEY.format(0)):
            assert drains > 0, "the lane is busy with no drain"

    def teardown(self):
        while len(queue(ROUTE, self.connection)) or any(self.running):  # quiesce: every drain runs out
            if len(queue(ROUTE, self.connection)):
                self.a_worker_starts_a_drain()
            self.a_drain_goes_one_step(0, 3)
        assert set(self.taken) == self.added and len(self.taken) == len(self.added)  # each id once
        assert not self.connection.exists(relay.LANE_BUSY_KEY.format(0))


def test_no_interleaving_of_relays_and_drains_strands_an_id(env, redis_conn, monkeypatch):
    monkeypatch.setattr(relay, "LANES", 1)
    monkeypatch.setattr(LaneProtocol, "connection", redis_conn)
    run_state_machine_as_test(LaneProtocol, settings=hsettings(
        max_examples=60, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
