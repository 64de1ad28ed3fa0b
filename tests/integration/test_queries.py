"""Task lists and trajectories as staff and residents see them."""
from __future__ import annotations

import pytest

from backend.errors import DomainError
from backend.models import Media, Resident
from backend.services import actions, queries
from backend.services.context import resident_actor, staff_actor
from backend.services.events import Submission, route_event, submit_event
from tests.factories import make_world


@pytest.fixture
def world():
    return make_world()


def report(resident, point, **kw):
    sub = Submission(description="楼道里堆满纸箱", reporter=resident_actor(resident), lat=point[0], lng=point[1], **kw)
    return route_event(submit_event(sub).event.id)


def test_todo_doing_done_for_grid_workers_share_the_grid(world):
    resident = Resident.create(oa_openid="r1")
    e1 = report(resident, world.in_a, category_code="0201")
    e2 = report(resident, world.in_a, category_code="0301")  # urgent: accept in 2 natural hours
    report(resident, world.in_b)
    todo = queries.staff_tasks(world.worker_a, "todo")
    assert todo.total == 2 and [e.id for e in todo.items] == [e2.id, e1.id]  # nearest deadline first
    assert queries.staff_tasks(world.worker_a2, "todo").total == 2  # a colleague in the same grid
    assert queries.staff_tasks(world.other_worker, "todo").total == 0
    actions.perform(e1.number, staff_actor(world.worker_a), "accept")
    assert [e.id for e in queries.staff_tasks(world.worker_a, "doing").items] == [e1.id]
    actions.perform(e1.number, staff_actor(world.worker_a), "resolve", {"note": "已调解"})
    assert [e.id for e in queries.staff_tasks(world.worker_a, "done").items] == [e1.id]
    assert [e.id for e in queries.staff_tasks(world.head, "done").items] == [e1.id]  # community scope
    with pytest.raises(DomainError):
        queries.staff_tasks(world.worker_a, "everything")
    with pytest.raises(DomainError):
        queries.staff_tasks(world.worker_a, "todo", page=0)


def test_reporter_sees_public_steps_with_staff_names_masked(world):
    resident = Resident.create(oa_openid="r1")
    event = report(resident, world.in_a, category_code="0101")
    worker = staff_actor(world.worker_a)
    actions.perform(event.number, worker, "accept")
    actions.perform(event.number, worker, "comment", {"note": "内部备注", "internal": True})
    photo = Media.create(sha256="c" * 64, mime="image/jpeg", size=3)
    actions.perform(event.number, worker, "resolve", {"note": "已清理", "media_ids": [photo.id], "photo_count": 1})
    public = queries.trajectory(event, for_reporter=True)
    assert [s["action"] for s in public] == ["submit", "route", "accept", "resolve"]
    assert all("张三" not in (s["actor"] or "") for s in public)
    assert public[2]["actor"] == "网格员 张*"
    assert public[-1]["media_ids"] == [photo.id]
    full = queries.trajectory(event, for_reporter=False)
    assert [s["action"] for s in full][3] == "comment"
    assert full[2]["actor"] == "网格员 张三"


def test_short_number_resolves_among_my_tasks(world):
    resident = Resident.create(oa_openid="r1")
    event = report(resident, world.in_a)
    seq = str(int(event.number.split("-")[1]))
    assert queries.find_task_by_short_number(world.worker_a, seq).id == event.id
    assert queries.find_task_by_short_number(world.other_worker, seq) is None
    assert queries.find_task_by_short_number(world.worker_a, "abc") is None


def test_access_check_for_other_residents(world):
    me, other = Resident.create(oa_openid="r1"), Resident.create(oa_openid="r2")
    event = report(me, world.in_a)
    queries.check_can_see(event, resident_actor(me))
    with pytest.raises(DomainError) as err:
        queries.check_can_see(event, resident_actor(other))
    assert err.value.status == 403
    with pytest.raises(DomainError):
        queries.check_can_see(event, staff_actor(world.other_worker))


@pytest.mark.parametrize("cap", [queries.DONE_COUNT_CAP, 4])
def test_the_done_list_pages_newest_closing_first_whichever_way_it_is_read(world, monkeypatch, cap):
    """已办 is read two ways (collected and sorted in memory under the count's cap, walked
    along closed_at above it): both give every visible closed case once, newest closing
    first, page by page; above the cap the total says "at least"."""
    import datetime as dt

    from backend.models import Event

    monkeypatch.setattr(queries, "DONE_COUNT_CAP", cap)
    resident = Resident.create(oa_openid="r-done")
    base = dt.datetime(2026, 11, 1, 8, 0)
    for i, point in enumerate([world.in_a] * 6 + [world.in_b] * 3):
        event = report(resident, point, category_code="0201")
        # Closed out of creation order, two at the same instant (the id breaks the tie).
        closed_at = base + dt.timedelta(hours=(i * 5) % 7)
        Event.update(status="closed", closed_at=closed_at).where(Event.id == event.id).execute()
    for staff in (world.worker_a, world.head):
        expected = [e.id for e in Event.select().where((Event.status == "closed") & queries.visible_clause(staff))
                    .order_by(Event.closed_at.desc(), Event.id.desc())]
        seen = []
        for page in range(1, 7):  # beyond the last page: empty
            result = queries.staff_tasks(staff, "done", page, 2)
            seen += [e.id for e in result.items]
            assert result.total == min(len(expected), cap)
            assert result.capped == (len(expected) > cap)
        assert seen == expected and expected  # every page in order, nothing twice, nothing missed
