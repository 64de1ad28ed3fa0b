"""metrics_for on a real database, with a data set built through the services and worked by hand."""
from __future__ import annotations

import datetime as dt

import pytest

from backend import clock, metrics
from backend.models import Event, Resident
from backend.services import actions
from backend.services.context import resident_actor, staff_actor
from backend.services.events import Submission, quick_record, route_event, submit_event
from tests.factories import make_world

MONDAY = dt.datetime(2026, 11, 2, 1, 0)  # 09:00 Asia/Shanghai, a working Monday


@pytest.fixture
def world():
    return make_world()


def report(world, resident, point, at, code="0201"):
    with clock.frozen(at):
        sub = Submission(description="邻居装修太吵", reporter=resident_actor(resident), lat=point[0],
                         lng=point[1], category_code=code)
        return route_event(submit_event(sub).event.id)


def handle(event, worker, at, close=True):
    with clock.frozen(at):
        actions.perform(event.number, worker, "accept")
    if close:
        with clock.frozen(at + dt.timedelta(hours=1)):
            actions.perform(event.number, worker, "resolve", {"note": "已调解"})


def test_metrics_by_area_on_a_hand_worked_set(world):
    r = Resident.create(oa_openid="r")
    wa, wb = staff_actor(world.worker_a), staff_actor(world.worker_b)
    # Grid A: three reports on Monday (0201 resolves in 5 working days → due Monday 11-09 09:00).
    a1 = report(world, r, world.in_a, MONDAY)
    a2 = report(world, r, world.in_a, MONDAY)
    a3 = report(world, r, world.in_a, MONDAY)
    handle(a1, wa, MONDAY + dt.timedelta(hours=2))            # closed on time, accepted after 2 h
    handle(a2, wa, MONDAY + dt.timedelta(days=10))            # closed late, accepted after 240 h
    handle(a3, wa, MONDAY + dt.timedelta(hours=4), close=False)  # never closed
    # Grid B: one report, closed on time, rated 5; then the resident rates a1 with 2.
    b1 = report(world, r, world.in_b, MONDAY)
    handle(b1, wb, MONDAY + dt.timedelta(hours=1))
    with clock.frozen(MONDAY + dt.timedelta(days=1)):
        actions.perform(b1.number, resident_actor(r), "rate", {"score": 5})
        actions.perform(a1.number, resident_actor(r), "rate", {"score": 2})
    # A quick record in grid A: counted apart, never in the rates.
    with clock.frozen(MONDAY):
        quick_record(world.worker_a, "邻居吵架已当场调解", *world.in_a, category_code="0201")

    start, end = dt.datetime(2026, 11, 1), dt.datetime(2026, 12, 1)
    [total] = metrics.metrics_for(start, end)
    # 应结案 4 (a1 a2 a3 b1), 结案 3 (a1 a2 b1), 按期 2 (a1 b1) → 75 % and 50 %.
    assert (total["due"], total["closed"], total["closed_on_time"]) == (4, 3, 2)
    assert total["close_rate"] == pytest.approx(0.75) and total["on_time_rate"] == pytest.approx(0.5)
    # Ratings 5 and 2 → 满意率 1/2. Quick record counted apart.
    assert total["satisfaction_rate"] == pytest.approx(0.5)
    assert total["quick_record_count"] == 1
    # Mean time to accept: (2 + 240 + 4 + 1) / 4 h.
    assert total["mean_hours_to_accept"] == pytest.approx((2 + 240 + 4 + 1) / 4)

    rows = metrics.metrics_for(start, end, area_path_prefix=world.community.path, group_by="area")
    assert [row["name"] for row in rows] == ["金源第一网格", "金源第二网格"]  # administrative order
    assert [(row["due"], row["closed"]) for row in rows] == [(3, 2), (1, 1)]
    assert Event.select().where(Event.quick_record == True).count() == 1  # noqa: E712
