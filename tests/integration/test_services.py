"""Services on a real database (SQLite or PostgreSQL, see tests/conftest.py)."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from backend import clock, outbox
from backend.errors import DomainError
from backend.models import Event, EventStep, Media, OutboxMessage, Rating, Resident, Revisit
from backend.services import actions
from backend.services.context import resident_actor, staff_actor
from backend.services.events import Submission, quick_record, route_event, submit_event
from tests.factories import make_world


@pytest.fixture
def world():
    return make_world()


@pytest.fixture
def resident():
    return Resident.create(oa_openid="oa-resident-1")


def submit(resident, point=None, **kw):
    lat, lng = point if point else (None, None)
    params = dict(description="楼下垃圾好几天没人清了", reporter=resident_actor(resident), lat=lat, lng=lng)
    params.update(kw)
    return submit_event(Submission(**params))


def snapshot(event_id):
    event = Event.get_by_id(event_id)
    return (event.__data__.copy(), EventStep.select().count(), OutboxMessage.select().count(),
            Rating.select().count())


def test_submit_finds_grid_numbers_event_and_records_step_and_outbox(world, resident):
    result = submit(resident, world.in_a, category_code="0101")
    event = result.event
    assert result.created
    assert re.fullmatch(r"\d{8}-\d{4}", event.number)
    assert event.number.startswith(clock.local_today().strftime("%Y%m%d"))
    assert event.grid_id == world.grid_a.id and event.status == "reported"
    assert event.resolve_due_at > event.created_at
    steps = list(EventStep.select().where(EventStep.event == event))
    assert [s.action for s in steps] == ["submit"]
    [message] = OutboxMessage.select().where(OutboxMessage.event == event)
    assert message.topic == "event.submitted" and message.payload["event_id"] == event.id


def test_gcj02_point_is_converted_before_the_grid_lookup(world, resident):
    from backend.geo import wgs84_to_gcj02

    lat, lng = wgs84_to_gcj02(*world.in_b)
    event = submit(resident, (lat, lng), datum="gcj02").event
    assert event.grid_id == world.grid_b.id
    assert (event.raw_lat, event.raw_lng, event.raw_datum) == (lat, lng, "gcj02")
    assert abs(event.lat - world.in_b[0]) < 1e-5 and abs(event.lng - world.in_b[1]) < 1e-5


def test_repeated_client_key_returns_the_earlier_event_and_writes_nothing(world, resident):
    first = submit(resident, world.in_a, client_key="k-1").event
    counts = (Event.select().count(), EventStep.select().count(), OutboxMessage.select().count())
    again = submit(resident, world.in_b, client_key="k-1", description="另一件")
    assert not again.created and again.event.id == first.id
    assert (Event.select().count(), EventStep.select().count(), OutboxMessage.select().count()) == counts


@pytest.mark.parametrize("kwargs, code", [
    ({"lat": 91.0, "lng": 117.0}, "bad_coordinates"),
    ({"lat": float("nan"), "lng": 117.0}, "bad_coordinates"),
    ({"lat": 24.5, "lng": None}, "bad_coordinates"),
    ({"category_code": "7777"}, "unknown_category"),
    ({"category_code": "01"}, "unknown_category"),  # a 大类 is not a reportable category
    ({"description": "   "}, "description_required"),
    ({"description": "长" * 4001}, "description_too_long"),
    ({"media_ids": [999]}, "unknown_media"),
    ({"datum": "bd09", "lat": 24.5, "lng": 117.6}, "bad_datum"),
])
def test_bad_input_is_refused_with_a_code_and_nothing_is_written(world, resident, kwargs, code):
    with pytest.raises(DomainError) as err:
        submit(resident, **kwargs)
    assert err.value.code == code and err.value.message
    assert Event.select().count() == 0 and OutboxMessage.select().count() == 0


def test_route_assigns_least_loaded_grid_worker_and_unknown_place_goes_to_city_centre(world, resident):
    e1 = route_event(submit(resident, world.in_a).event.id)
    e2 = route_event(submit(resident, world.in_a).event.id)
    assert e1.status == e2.status == "assigned" and e1.holder_level == "grid"
    assert {e1.holder_staff_id, e2.holder_staff_id} == {world.worker_a.id, world.worker_a2.id}
    lost = route_event(submit(resident, world.nowhere).event.id)
    assert lost.grid_id is None
    assert (lost.holder_level, lost.holder_area_id) == ("centre", world.city.id)
    again = route_event(e1.id)  # idempotent: a second run changes nothing
    assert again.holder_staff_id == e1.holder_staff_id
    assert EventStep.select().where((EventStep.event == e1.id) & (EventStep.action == "route")).count() == 1


def test_full_loop_grid_community_centre_department_verify(world, resident):
    event = route_event(submit(resident, world.in_a, category_code="0101").event.id)
    worker = staff_actor(world.worker_a)
    actions.perform(event.number, worker, "accept")
    actions.perform(event.number, worker, "escalate", {"note": "需要社区协调"})
    head = staff_actor(world.head)
    actions.perform(event.number, head, "escalate", {"note": "需要中心派遣"})
    centre = staff_actor(world.centre)
    actions.perform(event.number, centre, "dispatch", {"department_id": world.dept.id})
    dept = staff_actor(world.dept_staff)
    actions.perform(event.number, dept, "accept")
    media = Media.create(sha256="a" * 64, mime="image/jpeg", size=10)
    actions.perform(event.number, dept, "resolve", {"note": "已清运", "media_ids": [media.id], "photo_count": 1})
    assert Event.get_by_id(event.id).status == "resolved"
    actions.perform(event.number, worker, "verify")
    event = Event.get_by_id(event.id)
    assert event.status == "closed" and event.closed_at is not None and event.accepted_at is not None
    trail = [s.action for s in EventStep.select().where(EventStep.event == event).order_by(EventStep.id)]
    assert trail == ["submit", "route", "accept", "escalate", "escalate", "dispatch", "accept", "resolve", "verify"]
    topics = [m.topic for m in OutboxMessage.select().where(OutboxMessage.event == event).order_by(OutboxMessage.id)]
    assert topics == ["event." + a for a in ["submitted"] + trail[1:]]


@pytest.mark.parametrize("point", ["nowhere", "in_other"])
def test_a_case_a_department_hands_back_is_the_holding_centres_to_act_on(world, resident, point):
    """A department hands a case back (上报) to its own street centre, 通北 — also a case from
    another street (芝山) the city sent it, or one with no place at all. The holding centre and
    the city above it act on it; the centre of the street where it happened does not hold it."""
    from backend.models import Staff
    from backend.services import queries

    event = route_event(submit(resident, getattr(world, point), category_code="0201",
                               description="邻居吵架").event.id)
    city = staff_actor(world.city_centre)
    zhishan = Staff.create(name="吴十", role="centre_operator", area=world.other_street)
    if point == "in_other":  # 芝山's grid → its community → its centre, which sends 通北's department
        actions.perform(event.number, staff_actor(world.other_worker), "escalate", {"note": "社区协调"})
        head = Staff.create(name="郑十一", role="community_head", area=Event.get_by_id(event.id).holder_area_id)
        actions.perform(event.number, staff_actor(head), "escalate", {"note": "需要中心派遣"})
        actions.perform(event.number, staff_actor(zhishan), "dispatch", {"department_id": world.dept.id})
    else:  # unlocated: the city's
        actions.perform(event.number, city, "dispatch", {"department_id": world.dept.id})
    actions.perform(event.number, staff_actor(world.dept_staff), "escalate", {"note": "不归我们管"})
    event = Event.get_by_id(event.id)
    assert (event.holder_level, event.holder_area_id) == ("centre", world.street.id)  # 通北, the department's
    refused = snapshot(event.id)
    with pytest.raises(DomainError):
        actions.perform(event.number, staff_actor(zhishan), "accept")
    assert snapshot(event.id) == refused
    assert event.id in {e.id for e in queries.staff_tasks(world.centre, "todo").items}
    actions.perform(event.number, staff_actor(world.centre), "accept")  # 通北's 待办 is 通北's to take
    event = Event.get_by_id(event.id)
    assert event.status == "processing"
    actions.perform(event.number, city, "dispatch", {"department_id": world.dept.id})  # and the city above it


def test_grid_worker_closes_own_grid_event_in_two_actions(world, resident):
    event = route_event(submit(resident, world.in_a, category_code="0201", description="楼上装修太吵").event.id)
    worker = staff_actor(world.worker_a)
    actions.perform(event.number, worker, "accept")
    actions.perform(event.number, worker, "resolve", {"note": "已调解"})
    assert Event.get_by_id(event.id).status == "closed"


@pytest.mark.parametrize("who, action, params, code", [
    ("other_worker", "accept", {}, "not_allowed"),            # another street's grid worker
    ("worker_b", "accept", {}, "not_allowed"),                # same community, other grid
    ("worker_a", "verify", {}, "wrong_status"),
    ("worker_a", "return", {}, "note_required"),
    ("worker_a", "resolve", {"note": "好了"}, "wrong_status"),  # not accepted yet
    ("centre", "dispatch", {"department_id": 1}, "not_allowed"),  # held by the grid, not the centre
])
def test_illegal_actions_change_nothing(world, resident, who, action, params, code):
    event = route_event(submit(resident, world.in_a, category_code="0101").event.id)
    before = snapshot(event.id)
    with pytest.raises(DomainError) as err:
        actions.perform(event.number, staff_actor(getattr(world, who)), action, params)
    assert err.value.code == code
    assert snapshot(event.id) == before


def test_photo_required_for_resolution_unless_category_waives(world, resident):
    event = route_event(submit(resident, world.in_a, category_code="0101").event.id)
    worker = staff_actor(world.worker_a)
    actions.perform(event.number, worker, "accept")
    before = snapshot(event.id)
    with pytest.raises(DomainError) as err:
        actions.perform(event.number, worker, "resolve", {"note": "已清理"})
    assert err.value.code == "photo_required" and snapshot(event.id) == before


def test_rating_once_and_low_score_queues_a_revisit_then_unsatisfied_reopens(world, resident):
    event = route_event(submit(resident, world.in_a, category_code="0201", description="邻居吵架").event.id)
    worker = staff_actor(world.worker_a)
    actions.perform(event.number, worker, "accept")
    actions.perform(event.number, worker, "resolve", {"note": "已调解"})
    me = resident_actor(resident)
    stranger = resident_actor(Resident.create(oa_openid="oa-other"))
    with pytest.raises(DomainError):
        actions.perform(event.number, stranger, "rate", {"score": 5})
    actions.perform(event.number, me, "rate", {"score": 2, "comment": "还是吵"})
    with pytest.raises(DomainError) as err:
        actions.perform(event.number, me, "rate", {"score": 5})
    assert err.value.code == "already_rated"
    assert Revisit.get(Revisit.event == event.id).reason == "low_rating"
    actions.perform(event.number, staff_actor(world.centre), "revisit", {"outcome": "unsatisfied", "note": "仍有噪音"})
    event = Event.get_by_id(event.id)
    assert event.status == "processing" and event.reopen_count == 1
    assert Revisit.get(Revisit.event == event.id).status == "done"


def test_withdraw_only_by_reporter_before_acceptance(world, resident):
    event = route_event(submit(resident, world.in_a).event.id)
    actions.perform(event.number, resident_actor(resident), "withdraw")
    event = Event.get_by_id(event.id)
    assert event.status == "withdrawn" and event.holder_level is None


def test_merge_makes_the_reporter_follow_the_original(world, resident):
    original = route_event(submit(resident, world.in_a).event.id)
    other = Resident.create(oa_openid="oa-r2")
    dup = route_event(submit(other, world.in_a).event.id)
    actions.perform(dup.number, staff_actor(world.worker_a), "merge", {"duplicate_of": original.number})
    dup = Event.get_by_id(dup.id)
    assert dup.status == "merged" and dup.duplicate_of_id == original.id
    assert [f.resident_id for f in original.followers] == [other.id]
    with pytest.raises(DomainError) as err:
        actions.perform(original.number, staff_actor(world.worker_a), "merge", {"duplicate_of": original.number})
    assert err.value.code == "merge_self"


def test_quick_record_is_one_closed_event_marked_apart(world):
    media = Media.create(sha256="b" * 64, mime="image/jpeg", size=10)
    event = quick_record(world.worker_a, "路边小广告已清除", *world.in_a, category_code="0101", media_ids=[media.id])
    assert event.status == "closed" and event.quick_record and event.grid_id == world.grid_a.id
    assert [s.action for s in event.steps] == ["quick_record"]
    with pytest.raises(DomainError) as err:
        quick_record(world.worker_a, "别的网格的事", *world.in_other, category_code="0201")
    assert err.value.code == "out_of_area"


def test_outbox_listener_failure_never_loses_the_report(world, resident):
    def broken(ids):
        raise ConnectionError("redis down")

    outbox.add_listener(broken)
    try:
        event = submit(resident, world.in_a).event
    finally:
        outbox.remove_listener(broken)
    assert Event.get_by_id(event.id)
    assert OutboxMessage.get(OutboxMessage.event == event.id).processed_at is None


def test_deadlines_follow_the_working_calendar(world, resident):
    # Friday 2026-10-09 16:00 local; 0201 resolves in 5 working days; 10-10 (Sat) is a make-up workday.
    start = dt.datetime(2026, 10, 9, 8, 0)  # naive UTC = 16:00 Asia/Shanghai
    with clock.frozen(start):
        event = submit(resident, world.in_a, category_code="0201", description="邻居吵架").event
    # The 5th working day after Fri 10-09 is 10-15 (10-10 Sat, 10-12, 10-13, 10-14, 10-15): due 16:00 local.
    assert event.resolve_due_at == dt.datetime(2026, 10, 15, 8, 0)


def test_nearby_open_event_of_the_same_category_is_offered_nearest_first(world, resident):
    first = submit(resident, world.in_a, category_code="0101").event
    far = submit(resident, (world.in_a[0] + 0.0005, world.in_a[1]), category_code="0101").event  # ~55 m
    other_kind = submit(resident, world.in_a, category_code="0201", description="吵架").event
    result = submit(resident, world.in_a, category_code="0101")
    assert [e.id for e in result.nearby] == [first.id, far.id]
    assert result.nearby[0].distance_m < 1 < result.nearby[1].distance_m <= 100
    assert other_kind.id not in [e.id for e in result.nearby]
    # Closed events are not offered.
    Event.update(status="closed").where(Event.id == first.id).execute()
    assert [e.id for e in submit(resident, world.in_a, category_code="0101").nearby] == [result.event.id, far.id]
