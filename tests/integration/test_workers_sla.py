"""The scheduler's sweeps on a frozen clock: SLA across the National Day holiday, 督办 of
overdue tasks, escalation after the grace period, revisit sampling, the daily digest."""
from __future__ import annotations

import datetime as dt

import pytest

from backend import clock
from backend.db import db
from backend.models import Event, EventStep, Notification, Resident, Revisit
from backend.services import actions
from backend.services.context import resident_actor, staff_actor
from backend.services.events import Submission, submit_event
from backend.services.sla_sweep import sample_revisits, sampled
from tests.factories import make_world
from tests.worker_fixtures import env  # noqa: F401
from workers import scheduler, sweeps
from workers.queues import MAINTENANCE, queue
from tests.workers_run import drain


def local(*args) -> dt.datetime:
    return clock.from_local(dt.datetime(*args))


@pytest.fixture
def world(env):
    return make_world()


@pytest.fixture
def resident():
    return Resident.create(oa_openid="oa-resident-1")


def thing3(sandbox, openid):
    return [c["body"]["data"]["thing3"]["value"] for c in sandbox.calls("message/template/send")
            if c["errcode"] == 0 and c["body"]["touser"] == openid]


def run_sla_sweep(redis_conn, at: dt.datetime):
    """The scheduled job, run by a real worker with the clock frozen at ``at``."""
    with clock.frozen(at):
        job = queue(MAINTENANCE, redis_conn).enqueue("workers.sweeps.sla_sweep")
        drain(redis_conn)
        job.refresh()
        assert job.get_status() == "finished", job.latest_result().exc_string
        return job.return_value()


def test_sla_sweep_counts_working_time_across_national_day(env, world, resident, sandbox, redis_conn):
    # Tuesday 30 September 2025, 16:00: 1.5 office hours left that day, then eight days off
    with clock.frozen(local(2025, 9, 30, 16, 0)):
        event = submit_event(Submission(description="垃圾堆在路口", reporter=resident_actor(resident),
                                        lat=world.in_a[0], lng=world.in_a[1], category_code="0101")).event
        drain(redis_conn)
    assert event.accept_due_at == local(2025, 10, 9, 11, 0)  # 4 working hours: 1.5 + 2.5 on 9 October
    worker = world.worker_a.oa_openid
    assert thing3(sandbox, worker) == ["新任务，请受理"]

    assert run_sla_sweep(redis_conn, local(2025, 10, 3, 10, 0))["yellow"] == 0  # a holiday uses no time
    assert run_sla_sweep(redis_conn, local(2025, 10, 9, 9, 30)) == {"yellow": 0, "urged": 0, "escalated": 0,
                                                                   "lowered": 0}  # 62.5 %
    assert run_sla_sweep(redis_conn, local(2025, 10, 9, 10, 30))["yellow"] == 1  # 87.5 %
    assert Event.get_by_id(event.id).sla_level == "yellow"
    assert thing3(sandbox, worker)[-1] == "即将到期，请抓紧"
    assert run_sla_sweep(redis_conn, local(2025, 10, 9, 10, 45))["yellow"] == 0  # told once

    assert run_sla_sweep(redis_conn, local(2025, 10, 9, 11, 30))["urged"] == 1
    urge = EventStep.get((EventStep.event == event.id) & (EventStep.action == "urge"))
    assert (urge.actor_kind, urge.actor_label, urge.data["reason"]) == ("system", "系统", "overdue")
    assert thing3(sandbox, worker)[-1] == "已超期，督办"
    assert thing3(sandbox, world.head.oa_openid) == ["下属事件已超期"]  # the supervisor hears too
    assert run_sla_sweep(redis_conn, local(2025, 10, 9, 17, 0))["urged"] == 0  # urged once


def test_overdue_task_is_escalated_after_the_grace_period(env, world, resident, sandbox, redis_conn):
    grace = env.escalation_grace_hours
    with clock.frozen(local(2025, 11, 25, 9, 0)):
        event = submit_event(Submission(description="路口垃圾", reporter=resident_actor(resident),
                                        lat=world.in_a[0], lng=world.in_a[1], category_code="0101")).event
        drain(redis_conn)
    due = Event.get_by_id(event.id).accept_due_at
    assert run_sla_sweep(redis_conn, due + dt.timedelta(minutes=1))["urged"] == 1
    assert run_sla_sweep(redis_conn, due + dt.timedelta(hours=grace - 1))["escalated"] == 0
    assert run_sla_sweep(redis_conn, due + dt.timedelta(hours=grace, minutes=1))["escalated"] == 1
    event = Event.get_by_id(event.id)
    assert (event.status, event.holder_level, event.holder_area_id) == ("assigned", "community", world.community.id)
    step = EventStep.select().where(EventStep.event == event.id).order_by(EventStep.id.desc()).first()
    assert (step.action, step.actor_kind) == ("escalate", "system") and f"超期{grace}小时" in step.note
    assert thing3(sandbox, world.head.oa_openid)[-1] == "下级上报，请受理"
    # one level per grace period: not again at once, then on to the street centre
    assert run_sla_sweep(redis_conn, due + dt.timedelta(hours=grace, minutes=30))["escalated"] == 0
    assert run_sla_sweep(redis_conn, due + dt.timedelta(hours=2 * grace, minutes=2))["escalated"] == 1
    event = Event.get_by_id(event.id)
    assert (event.holder_level, event.holder_area_id) == ("centre", world.street.id)
    assert run_sla_sweep(redis_conn, due + dt.timedelta(hours=4 * grace))["escalated"] == 0  # no higher


def test_accepting_lowers_the_level_so_the_next_stage_warns_afresh(env, world, resident, sandbox, redis_conn):
    with clock.frozen(local(2025, 11, 25, 9, 0)):
        event = submit_event(Submission(description="邻居吵架", reporter=resident_actor(resident),
                                        lat=world.in_a[0], lng=world.in_a[1], category_code="0201")).event
        drain(redis_conn)
    run_sla_sweep(redis_conn, local(2025, 11, 25, 11, 45))  # 2.75 of 4 working hours → 68 %, still ok
    assert run_sla_sweep(redis_conn, local(2025, 11, 25, 14, 0))["yellow"] == 1
    with clock.frozen(local(2025, 11, 25, 14, 5)):
        actions.perform(event.number, staff_actor(world.worker_a), "accept")
    assert run_sla_sweep(redis_conn, local(2025, 11, 25, 14, 10))["lowered"] == 1  # resolve stage: 5 days


def test_revisit_sampling_takes_a_share_and_every_low_rating(env, world, resident, redis_conn):
    numbers = []
    for i in range(12):
        event = submit_event(Submission(description=f"邻居吵架{i}", reporter=resident_actor(resident),
                                        lat=world.in_a[0], lng=world.in_a[1], category_code="0201")).event
        drain(redis_conn)
        actor = staff_actor(Event.get_by_id(event.id).holder_staff)
        actions.perform(event.number, actor, "accept")
        actions.perform(event.number, actor, "resolve", {"note": "已调解"})  # own grid: closed
        numbers.append(event.number)
    actions.perform(numbers[0], resident_actor(resident), "rate", {"score": 1})
    counts = sample_revisits(percent=50)
    expected = sum(1 for n in numbers if sampled(n, 50))
    assert counts == {"sample": expected, "low_rating": 0}  # the rating's revisit already exists
    assert Revisit.select().where(Revisit.reason == "sample").count() == expected
    assert Revisit.select().where(Revisit.reason == "low_rating").count() == 1
    assert sample_revisits(percent=50) == {"sample": 0, "low_rating": 0}  # idempotent
    assert sample_revisits(percent=100)["sample"] == 12 - expected


def test_daily_digest_one_message_per_community_head(env, world, resident, sandbox, redis_conn):
    day = dt.date(2025, 11, 24)
    with clock.frozen(local(2025, 11, 24, 9, 0)):
        events = [submit_event(Submission(description=f"垃圾{i}", reporter=resident_actor(resident),
                                          lat=world.in_a[0], lng=world.in_a[1], category_code="0101")).event
                  for i in range(4)]
        drain(redis_conn)
        actor = staff_actor(Event.get_by_id(events[0].id).holder_staff)
        actions.perform(events[0].number, actor, "accept")
    with clock.frozen(local(2025, 11, 24, 10, 0)):
        actions.perform(events[0].number, actor, "resolve", {"note": "已清理", "waive_photo": True})
    other_grid = submit_event(Submission(description="别处的垃圾", reporter=resident_actor(resident),
                                         lat=world.in_other[0], lng=world.in_other[1], category_code="0101"))
    drain(redis_conn)
    sandbox.clear_calls()
    with clock.frozen(local(2025, 11, 25, 8, 0)):
        Event.update(sla_level="yellow").where(Event.id == events[1].id).execute()
        assert sweeps.daily_digest() == 1
        drain(redis_conn)
        assert sweeps.daily_digest() == 0  # one a day
    db.connect(reuse_if_open=True)  # the job closed the connection it found open
    [call] = sandbox.calls("message/template/send")
    data = {k: v["value"] for k, v in call["body"]["data"].items()}
    assert call["body"]["touser"] == world.head.oa_openid
    assert data == {"thing1": "金源社区每日汇总", "time2": "2025年11月24日",
                    "thing3": "待受理3 处置中0 超期3", "thing4": "昨日新增4 办结1 临期1"}
    row = Notification.get(Notification.key == f"digest{day:%Y%m%d}:staff:{world.head.id}:template")
    assert row.payload["content"]["counts"]["new"] == 4
    assert other_grid.event.number not in str(call)


def test_scheduler_registers_every_sweep_and_they_run(env, world, redis_conn):
    built = scheduler.build_scheduler(env)
    names = {job.func_name for job in built.get_jobs()}
    assert names == {"workers.jobs.sweep_outbox", "workers.jobs.sweep_notifications", "workers.media.sweep",
                     "workers.sweeps.sla_sweep", "workers.sweeps.compact_metric_sums",
                     "workers.sweeps.remind_unaccepted", "workers.sweeps.sample_revisits",
                     "workers.sweeps.forget_expired", "workers.sweeps.daily_digest",
                     "workers.sweeps.retention_sweep", "workers.sweeps.remind_rating"}
    built.connection = redis_conn
    enqueued = built.enqueue_jobs()
    assert len(enqueued) == 9  # interval jobs run at once; the digest and retention wait for their cron time
    drain(redis_conn)
    from rq.registry import FailedJobRegistry

    assert all(FailedJobRegistry(name, connection=redis_conn).count == 0 for name in ("maintenance", "notify"))
