"""The workflow table, property-based: any sequence of actions by any actors keeps the invariants."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from backend import workflow
from backend.errors import DomainError
from backend.workflow import SYSTEM, Actor, EventView, Holder, Place, Places

# city 1 → district 2 → street 3 → community 4 → grids 5, 6; street 7 → community 8 → grid 9
AREAS = {
    1: Place(1, "city", "/1/", None), 2: Place(2, "district", "/1/2/", 1),
    3: Place(3, "street", "/1/2/3/", 2), 4: Place(4, "community", "/1/2/3/4/", 3),
    5: Place(5, "grid", "/1/2/3/4/5/", 4), 6: Place(6, "grid", "/1/2/3/4/6/", 4),
    7: Place(7, "street", "/1/2/7/", 2), 8: Place(8, "community", "/1/2/7/8/", 7),
    9: Place(9, "grid", "/1/2/7/8/9/", 8),
}
PLACES = Places(areas=AREAS, department_areas={1: 3, 2: 7})


def staff(id, role, area, department=None):
    return Actor("staff", id, role, area, AREAS[area].path, department, label=f"{role} #{id}")


ACTORS = [
    staff(1, "grid_worker", 5), staff(2, "grid_worker", 6), staff(3, "grid_worker", 9),
    staff(4, "community_head", 4), staff(5, "community_head", 8), staff(6, "centre_operator", 3),
    staff(7, "centre_operator", 7), staff(8, "centre_operator", 1), staff(9, "department_staff", 3, 1),
    staff(10, "department_staff", 7, 2), staff(11, "admin", 1),
    Actor("resident", 100, label="居民"), Actor("resident", 101, label="居民"), SYSTEM,
]
ACTIONS = list(workflow.RULES)
PARAMS = st.fixed_dictionaries({}, optional={
    "note": st.sampled_from(["", "  ", "已处理", "不归我们管"]),
    "photo_count": st.integers(0, 2),
    "department_id": st.sampled_from([1, 2, 3]),
    "score": st.one_of(st.integers(-1, 7), st.booleans(), st.none()),
    "outcome": st.sampled_from(["satisfied", "unsatisfied", "unreachable", "meh"]),
    "duplicate_of": st.sampled_from([None, 42]),
    "holder": st.sampled_from([None, Holder("grid", 5), Holder("grid", 6, staff_id=2), Holder("centre", 1)]),
})


class EventMachine(RuleBasedStateMachine):
    """Mirrors what the service does with a Transition, without a database."""

    @initialize(grid=st.sampled_from([5, 6, 9, None]), photo=st.booleans())
    def submitted(self, grid, photo):
        self.event = EventView(status="reported", holder=None, area_path=AREAS[grid].path if grid else "/1/",
                               grid_id=grid, reporter_resident_id=100, photo_required=photo)
        self.history = [("submit", "居民")]

    @rule(actor=st.sampled_from(ACTORS), action=st.sampled_from(ACTIONS), params=PARAMS)
    def act(self, actor, action, params):
        before = self.event
        try:
            transition = workflow.decide(self.event, actor, action, params, PLACES)
        except DomainError as err:
            assert err.code and err.message  # a stable code and a plain message
            assert self.event == before  # a rejected action changes nothing
            return
        holder = self.event.holder if transition.holder is workflow.KEEP else transition.holder
        self.event = dataclasses.replace(
            self.event, status=transition.to_status, holder=holder,
            has_rating=self.event.has_rating or action == "rate",
        )
        self.history.append((action, actor.label))

    @invariant()
    def status_and_holder_agree(self):
        assert workflow.holder_agrees(self.event.status, self.event.holder)

    @invariant()
    def closed_means_resolved(self):
        if self.event.status == "closed":
            assert any(a in ("resolve", "quick_record") for a, _ in self.history)

    @invariant()
    def every_step_has_an_actor(self):
        assert all(label for _, label in self.history)


TestEventMachine = EventMachine.TestCase
TestEventMachine.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)


def view(status, holder, grid=5, **kw):
    return EventView(status=status, holder=holder, area_path=AREAS[grid].path, grid_id=grid,
                     reporter_resident_id=100, **kw)


def test_grid_worker_resolving_in_own_grid_closes_in_one_step():
    event = view("processing", Holder("grid", 5, staff_id=1), photo_required=False)
    t = workflow.decide(event, ACTORS[0], "resolve", {"note": "已清理"}, PLACES)
    assert t.to_status == "closed"


def test_department_resolution_waits_for_verification_by_the_grid():
    event = view("processing", Holder("department", 3, department_id=1), photo_required=False)
    t = workflow.decide(event, ACTORS[8], "resolve", {"note": "已拆除"}, PLACES)
    assert t.to_status == "resolved"
    resolved = dataclasses.replace(event, status="resolved")
    with pytest.raises(DomainError) as err:
        workflow.decide(resolved, ACTORS[1], "verify", {}, PLACES)  # grid worker of another grid
    assert err.value.code == "not_allowed"
    assert workflow.decide(resolved, ACTORS[0], "verify", {}, PLACES).to_status == "closed"


def test_escalation_climbs_grid_community_centre_then_stops():
    event = view("processing", Holder("grid", 5))
    t = workflow.decide(event, ACTORS[0], "escalate", {"note": "处理不了"}, PLACES)
    assert t.holder == Holder("community", 4)
    event = view("assigned", Holder("community", 4))
    t = workflow.decide(event, ACTORS[3], "escalate", {"note": "需要中心"}, PLACES)
    assert t.holder == Holder("centre", 3)
    event = view("assigned", Holder("centre", 3))
    with pytest.raises(DomainError) as err:
        workflow.decide(event, ACTORS[5], "escalate", {"note": "x"}, PLACES)
    assert err.value.code == "top_level"


def test_dispatch_only_by_centre_holding_it():
    event = view("assigned", Holder("centre", 3))
    t = workflow.decide(event, ACTORS[5], "dispatch", {"department_id": 1}, PLACES)
    assert t.holder == Holder("department", 3, department_id=1)
    with pytest.raises(DomainError):
        workflow.decide(event, ACTORS[6], "dispatch", {"department_id": 1}, PLACES)  # other street


def test_return_and_reject_need_a_reason():
    event = view("assigned", Holder("grid", 5))
    with pytest.raises(DomainError) as err:
        workflow.decide(event, ACTORS[0], "return", {"note": "  "}, PLACES)
    assert err.value.code == "note_required"
    assert workflow.decide(event, ACTORS[0], "return", {"note": "不是本网格"}, PLACES).holder is None


@given(actor=st.sampled_from(ACTORS), action=st.sampled_from(ACTIONS), params=PARAMS,
       status=st.sampled_from(["reported", "assigned", "processing", "resolved", "closed", "rejected",
                               "merged", "withdrawn"]))
@settings(max_examples=500, deadline=None)
def test_residents_only_withdraw_rate_comment_complain_or_locate_their_own(actor, action, params, status):
    holder = Holder("grid", 5) if status in workflow.HELD_STATUSES + ("resolved", "closed") else None
    event = view(status, holder)
    try:
        workflow.decide(event, actor, action, params, PLACES)
    except DomainError:
        return
    if actor.kind == "resident":
        assert actor.id == 100 and action in ("withdraw", "rate", "comment", "complain", "locate")
    if actor.kind == "system":
        assert action in ("route", "comment")


def test_accept_moves_to_processing_and_names_the_colleague_who_took_it():
    event = view("assigned", Holder("grid", 5, staff_id=99))
    t = workflow.decide(event, ACTORS[0], "accept", {}, PLACES)
    assert t.to_status == "processing" and t.holder == Holder("grid", 5, staff_id=1)
