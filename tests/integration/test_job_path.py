"""One report's job path, counted (issue 18, item 2): the statements and HTTP calls a worker
spends to route a new report and notify its grid worker. A budget, so a change that adds a
round trip to every report shows here; the table in docs/benchmarks.md says why each is needed."""
from __future__ import annotations

import logging

import pytest

from backend.db import db
from backend.models import Notification, OutboxMessage, Resident
from backend.services.context import resident_actor
from backend.services.events import Submission, submit_event
from tests.factories import make_world
from tests.worker_fixtures import env  # noqa: F401
from workers import jobs


class Statements(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.sql: list[str] = []

    def emit(self, record):
        if record.name != "peewee":  # the pool's own lines ("Returning … to pool") are not statements
            return
        sql = record.msg[0] if isinstance(record.msg, tuple) else str(record.msg)
        self.sql.append(" ".join(str(sql).split())[:160])


@pytest.fixture
def statements():
    handler, logger = Statements(), logging.getLogger("peewee")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_new_report_is_routed_and_notified_in_one_job_within_its_budget(env, sandbox, statements):  # noqa: F811
    world = make_world()
    reporter = Resident.create(oa_openid="oa-resident-1")
    event = submit_event(Submission(description="路灯坏了好几天", reporter=resident_actor(reporter),
                                    lat=world.in_a[0], lng=world.in_a[1], category_code="0101")).event
    [outbox_id] = [row.id for row in OutboxMessage.select().where(OutboxMessage.event == event)]
    sandbox.clear_calls()
    statements.sql.clear()
    assert jobs.process_outbox(outbox_id) == "done"
    spent = list(statements.sql)
    db.connect(reuse_if_open=True)  # the job closed the connection it found open
    sent = [c for c in sandbox.calls() if "token" not in c["api"]]
    assert [c["api"] for c in sent] == ["message/template/send"]
    assert Notification.select().where(Notification.status == "sent").count() == 1
    assert OutboxMessage.select().where(OutboxMessage.processed_at.is_null()).count() == 0
    assert len(spent) <= 19, "\n".join(spent)  # 28 before the job reused what it had read (docs/benchmarks.md)


def test_a_follow_up_that_fails_inline_gets_a_job_of_its_own_and_its_report_row_is_done(
        env, sandbox, redis_conn, monkeypatch):  # noqa: F811
    """The route row is handled inline and stamped with the report's row in one statement; when
    it fails there, the report's row is still stamped and the route row is enqueued on its own."""
    from tests.workers_run import drain
    from workers import audience

    world = make_world()
    reporter = Resident.create(oa_openid="oa-resident-1")
    event = submit_event(Submission(description="路灯坏了好几天", reporter=resident_actor(reporter),
                                    lat=world.in_a[0], lng=world.in_a[1], category_code="0101")).event
    [report_row] = OutboxMessage.select().where(OutboxMessage.event == event)
    plan = audience.plan

    def failing_for_the_route(settings, message, *args):
        if message.topic == "event.route":
            raise RuntimeError("planning failed")
        return plan(settings, message, *args)

    monkeypatch.setattr(audience, "plan", failing_for_the_route)
    sandbox.clear_calls()
    assert jobs.process_outbox(report_row.id) == "done"
    db.connect(reuse_if_open=True)
    rows = {row.topic: row for row in OutboxMessage.select().where(OutboxMessage.event == event)}
    assert rows["event.submitted"].processed_at is not None
    assert rows["event.route"].processed_at is None and rows["event.route"].enqueued_at is not None
    assert not [c for c in sandbox.calls("message/template/send") if c["errcode"] == 0]
    monkeypatch.setattr(audience, "plan", plan)
    drain(redis_conn)
    route_row = OutboxMessage.get_by_id(rows["event.route"].id)
    assert route_row.processed_at is not None
    sent = [c for c in sandbox.calls("message/template/send") if c["errcode"] == 0]
    assert len(sent) == 1 and Notification.select().where(Notification.status == "sent").count() == 1


def test_reports_drained_from_their_lanes_cost_fewer_statements_each(env, sandbox, redis_conn,
                                                                           statements):  # noqa: F811
    """A drain reads its batch's rows and the subscriptions once, and stamps the batch in one
    statement: 15 statements a report, plus 3–4 a batch (docs/workers.md, "Lanes")."""
    from workers import relay

    world = make_world()
    reporter = Resident.create(oa_openid="oa-resident-1")
    count = 12
    for _ in range(count):
        submit_event(Submission(description="路灯坏了好几天", reporter=resident_actor(reporter),
                                lat=world.in_a[0], lng=world.in_a[1], category_code="0101"))
    sandbox.clear_calls()
    statements.sql.clear()
    for lane in range(relay.LANES):  # one batch each: every lane holds three
        assert jobs.drain_outbox(lane) == "3 row(s)"
    spent = [sql for sql in statements.sql if sql not in ("BEGIN", "COMMIT")]
    db.connect(reuse_if_open=True)
    assert len([c for c in sandbox.calls() if c["api"] == "message/template/send"]) == count
    assert Notification.select().where(Notification.status == "sent").count() == count
    assert OutboxMessage.select().where(OutboxMessage.processed_at.is_null()).count() == 0
    assert len(spent) <= 15 * count + 4 * relay.LANES, len(spent)  # 193 here: 19 a report in a job of its own
