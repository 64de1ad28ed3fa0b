"""backend.db.Statement: SQL built once per engine, run with new values — always the rows the
query itself would give. Every Statement the code uses is found and compared with its query,
on both engines (the suite runs on each)."""
from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from backend.db import Statement, db
from backend.models import (Department, DepartmentSubscription, EventStep, Notification, OutboxMessage,
                            Resident, Staff)
from backend.services.context import resident_actor
from backend.services.events import Submission, submit_event
from tests.factories import make_world
from tests.worker_fixtures import env  # noqa: F401
from workers import jobs

ROOT = Path(__file__).resolve().parents[2]


def statements_in_use() -> dict[str, Statement]:
    """Every module-level Statement of the code (any .py that constructs one), by name."""
    found = {}
    for path in sorted(p for package in ("backend", "workers", "wechat", "console", "miniprogram_api", "open311")
                       for p in (ROOT / package).rglob("*.py")):
        if "Statement(" not in path.read_text(encoding="utf-8"):
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, Statement):
                found[f"{name}.{attr}"] = value
    return found


def as_rows(rows) -> list:
    """Rows as comparable values: a model instance as its columns (and any extra selected
    value, such as a computed ``load``), anything else as it is."""
    out = []
    for row in rows:
        out.append(dict(row.__data__, **{k: v for k, v in vars(row).items() if not k.startswith("_")})
                   if hasattr(row, "__data__") else row)
    return out


@pytest.fixture
def routed_world(env, sandbox):  # noqa: F811
    """A world with a report routed and notified, a 退回 step and a later one on record, a
    subscription and an open notification: every statement has rows to find."""
    world = make_world()
    reporter = Resident.create(oa_openid="oa-resident-statement")
    event = submit_event(Submission(description="路灯坏了好几天", reporter=resident_actor(reporter),
                                    lat=world.in_a[0], lng=world.in_a[1], category_code="0101")).event
    [row] = OutboxMessage.select().where(OutboxMessage.event == event)
    assert jobs.process_outbox(row.id) == "done"
    db.connect(reuse_if_open=True)
    returned = EventStep.get(EventStep.event == event)  # a 退回 on record, and a later step after it
    for action in ("return", "note"):
        returned.id, returned.action = None, action
        returned.save(force_insert=True)
    department = Department.select().first() or Department.create(name="城管办", code="cgb-t", kind="cgb", area=world.street)
    DepartmentSubscription.create(department=department, url="https://example.invalid/hook", secret="s" * 32)
    Notification.create(key="still-open", event=event, recipient="staff:1", channel="template", status="pending",
                        payload={"kind": "task"})
    return world, event


def test_the_code_uses_statements_on_its_hot_paths():
    names = statements_in_use()
    assert {"workers.jobs.OUTBOX_ROW", "backend.services.events._EVENT_FOR_ROUTE",
            "workers.delivery._OPEN_ROW_BY_KEY", "backend.services.context._CATEGORY"} <= set(names)


def _values_for(statement: Statement, world, event) -> list[tuple]:
    """Arguments that find rows, and arguments that find none."""
    ids = [event.id, event.category_id or 0, world.grid_a.id, world.grid_b.id, 1, 0, -1, 999_999]
    steps = [s.id for s in EventStep.select()] + [0]
    staff = [s.id for s in Staff.select()] + [0]
    keys = [n.key for n in Notification.select()] + ["no-such-key"]
    pools = {int: sorted(set(ids + steps + staff + [o.id for o in OutboxMessage.select()])), str: keys}
    if len(statement.kinds) == 0:
        return [()]
    if len(statement.kinds) == 1:
        return [(v,) for v in pools[statement.kinds[0]]]
    first, second = (pools[k] for k in statement.kinds[:2])
    return [(a, b) for a in first for b in second[:8]]


def test_every_statement_gives_what_its_query_gives(routed_world):
    world, event = routed_world
    for name, statement in statements_in_use().items():
        found = 0
        for args in _values_for(statement, world, event):
            expected = as_rows(statement.build(*args))
            got = as_rows(statement.rows(*args))
            assert got == expected, f"{name}{args}"
            found += bool(expected)
        assert found, f"{name}: no argument found a row, so nothing was compared"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_least_loaded_worker_for_any_grid_and_returner(routed_world, data):
    from backend.services import events

    world, _event = routed_world
    grids = [world.grid_a.id, world.grid_b.id, world.community.id, 0, 999_999]
    people = [s.id for s in Staff.select()] + [0, -1]
    grid, exclude = data.draw(st.sampled_from(grids)), data.draw(st.sampled_from(people))
    statement = events._LEAST_LOADED_WORKER
    assert as_rows(statement.rows(grid, exclude)) == as_rows(statement.build(grid, exclude))
    assert events.choose_grid_worker(grid, exclude or None) == (
        statement.build(grid, exclude).first().id if statement.build(grid, exclude).first() else None)


def test_a_statement_is_built_once_per_engine_and_sent_with_new_values(routed_world):
    world, event = routed_world
    calls = []
    statement = Statement(lambda event_id: (calls.append(event_id),
                                            EventStep.select().where(EventStep.event == event_id).limit(1))[1])
    assert statement.first(event.id).event_id == event.id
    assert statement.first(event.id + 1000) is None
    assert statement.first(event.id).event_id == event.id
    assert len(calls) == 1 and calls[0] < 0  # built once, with a marker, not with an id


def test_arguments_of_the_wrong_kind_are_refused_before_any_sql(routed_world):
    statement = Statement(lambda key: Notification.select().where(Notification.key == key), str)
    with pytest.raises(TypeError):
        statement.first(1)
    with pytest.raises(TypeError):
        jobs.OUTBOX_ROW.first("1")
    with pytest.raises(TypeError):
        jobs.OUTBOX_ROW.first(True)
    with pytest.raises(TypeError):
        jobs.OUTBOX_ROW.first(1, 2)
    with pytest.raises(TypeError):
        Statement(lambda when: OutboxMessage.select(), dt.datetime)


def test_an_argument_peewee_would_convert_is_refused_when_built(routed_world):
    """A JSON field dumps its value: the marker never reaches the SQL as given, so compiling
    refuses instead of sending the caller's raw value."""
    statement = Statement(lambda key: OutboxMessage.select().where(OutboxMessage.payload == key), str)
    with pytest.raises(ValueError, match="do not reach the SQL"):
        statement.first("x")
    unused = Statement(lambda event_id: OutboxMessage.select().where(OutboxMessage.id == 1))
    with pytest.raises(ValueError, match="do not reach the SQL"):
        unused.first(1)
