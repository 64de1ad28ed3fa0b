"""Regression examples for the ladder's holes found by hand and by the model test (issue 15)."""
from __future__ import annotations

import pytest

from backend.errors import DomainError
from backend.models import Department, Event, Resident, Staff
from backend.services import actions
from backend.services.context import event_view, resident_actor, staff_actor
from backend.services.events import Submission, route_event, submit_event
from backend.workflow import can_see, is_holder
from console.event_actions import dispatch_departments
from tests.factories import make_world


@pytest.fixture
def world():
    return make_world()


def routed(world, point=None):
    point = point or world.in_a
    reporter = resident_actor(Resident.get_or_create(oa_openid="r")[0])
    sub = Submission(description="楼下垃圾好几天没人清了", reporter=reporter, lat=point[0], lng=point[1],
                     category_code="0101")
    return route_event(submit_event(sub).event.id)


def test_a_grid_workers_return_without_a_grid_goes_up_not_back(world):
    event = routed(world)
    assert event.holder_staff_id == world.worker_a.id
    actions.perform(event.number, staff_actor(world.worker_a), "return", {"note": "不是我们网格的"})
    event = route_event(event.id)
    assert (event.holder_level, event.holder_area_id) == ("community", world.community.id)
    assert not is_holder(event_view(event), staff_actor(world.worker_a))  # still sees it (public, in area)


def test_a_named_grid_gets_it_and_never_the_returner(world):
    event = routed(world)
    actions.perform(event.number, staff_actor(world.worker_a), "return",
                    {"note": "应该是第二网格", "suggested_grid_id": world.grid_b.id})
    event = route_event(event.id)
    assert (event.holder_level, event.holder_area_id, event.holder_staff_id) == ("grid", world.grid_b.id,
                                                                                 world.worker_b.id)
    with pytest.raises(DomainError, match="自己的网格"):
        actions.perform(event.number, staff_actor(world.worker_b), "return",
                        {"note": "x", "suggested_grid_id": world.grid_b.id})


def test_the_centre_can_transfer_and_the_new_chain_sees_it(world):
    event = routed(world)
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    with pytest.raises(DomainError, match="选择要转给的网格"):
        actions.perform(event.number, staff_actor(world.centre), "return", {"note": "转办"})
    actions.perform(event.number, staff_actor(world.city_centre), "return",
                    {"note": "转至联三", "suggested_grid_id": world.other_grid.id})
    event = route_event(event.id)
    assert event.holder_area_id == world.other_grid.id
    assert can_see(event_view(event), staff_actor(world.other_worker))
    other_centre = type(world.centre).create(name="芝山中心", role="centre_operator", area=world.other_street)
    assert can_see(event_view(event), staff_actor(other_centre))  # the new holder's street centre


def test_the_city_centre_can_dispatch_to_the_departments_below_it(world):
    unlocated = route_event(submit_event(Submission(description="路口有个大坑", category_code="0101",
                                                    reporter=resident_actor(Resident.create(oa_openid="r")))).event.id)
    assert unlocated.holder_area_id == world.city.id
    departments, _ = dispatch_departments(unlocated)
    assert world.dept.id in {d.id for d in departments}
    actions.perform(unlocated.number, staff_actor(world.city_centre), "dispatch", {"department_id": world.dept.id})
    assert Event.get_by_id(unlocated.id).holder_level == "department"


def test_an_empty_department_list_is_explained(world):
    Staff.update(department=None).execute()
    Department.delete().execute()
    event = routed(world)
    actions.perform(event.number, staff_actor(world.worker_a), "escalate", {"note": "上报"})
    actions.perform(event.number, staff_actor(world.head), "escalate", {"note": "上报"})
    assert dispatch_departments(Event.get_by_id(event.id))[0] == []


def test_a_note_between_the_return_and_the_routing_does_not_send_it_back(world):
    """Found by the model test: the route job looked only at the last step, so a 留言 written
    before it ran (a delayed job, a re-route by the sweep) made it forget the 退回 and hand the
    case back to the grid worker who had just returned it."""
    event = routed(world)
    actions.perform(event.number, staff_actor(world.worker_a), "return",
                    {"note": "应该是第二网格", "suggested_grid_id": world.grid_b.id})
    actions.perform(event.number, staff_actor(world.centre), "comment", {"note": "请尽快处理"})
    event = route_event(event.id)
    assert (event.holder_area_id, event.holder_staff_id) == (world.grid_b.id, world.worker_b.id)
    unnamed = routed(world)
    actions.perform(unnamed.number, staff_actor(world.worker_a), "return", {"note": "不是我们网格的"})
    actions.perform(unnamed.number, staff_actor(world.head), "comment", {"note": "谁的网格？"})
    unnamed = route_event(unnamed.id)
    assert (unnamed.holder_level, unnamed.holder_area_id) == ("community", world.community.id)
