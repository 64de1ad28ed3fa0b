"""The workflow through the real services and database: random action sequences keep the
invariants, and a refused action leaves every row as it was."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from backend.errors import DomainError
from backend.models import Event, EventStep, Media, OutboxMessage, Rating, Resident, Revisit
from backend.services import actions
from backend.services.context import holder_of, resident_actor, staff_actor
from backend.services.events import Submission, route_event, submit_event
from backend.workflow import holder_agrees
from tests.conftest import truncate_all
from tests.factories import make_world

ROLES = ["worker_a", "worker_a2", "worker_b", "head", "centre", "city_centre", "dept_staff", "other_worker"]
ACTIONS = ["accept", "return", "escalate", "dispatch", "resolve", "verify", "reopen", "reject", "urge",
           "comment", "withdraw", "rate", "revisit", "merge"]
PARAMS = st.fixed_dictionaries({}, optional={
    "note": st.sampled_from(["", "处理中", "不是本网格"]),
    "photo": st.booleans(),
    "score": st.integers(0, 6),
    "outcome": st.sampled_from(["satisfied", "unsatisfied", "unreachable"]),
    "department": st.booleans(),
})


def rows_snapshot(event_id):
    event = Event.get_by_id(event_id).__data__.copy()
    event.pop("updated_at")
    return (event, EventStep.select().count(), OutboxMessage.select().count(), Rating.select().count(),
            Revisit.select().count())


@pytest.mark.usefixtures("clean_db")
class WorkflowOnDatabase(RuleBasedStateMachine):
    database = None

    @initialize(category=st.sampled_from(["0101", "0201"]))
    def report(self, category):
        truncate_all(WorkflowOnDatabase.database)
        self.world = make_world()
        self.resident = Resident.create(oa_openid="r")
        sub = Submission(description="楼下有问题", reporter=resident_actor(self.resident),
                         lat=self.world.in_a[0], lng=self.world.in_a[1], category_code=category)
        self.event_id = route_event(submit_event(sub).event.id).id
        other = submit_event(Submission(description="另一件", reporter=resident_actor(self.resident),
                                        lat=self.world.in_a[0], lng=self.world.in_a[1]))
        self.other_number = route_event(other.event.id).number
        self.photo = Media.create(sha256="d" * 64, mime="image/jpeg", size=1)

    @rule(who=st.sampled_from(ROLES + ["resident"]), action=st.sampled_from(ACTIONS), p=PARAMS)
    def act(self, who, action, p):
        actor = resident_actor(self.resident) if who == "resident" else staff_actor(getattr(self.world, who))
        params = {"note": p.get("note"), "score": p.get("score"), "outcome": p.get("outcome")}
        if p.get("photo"):
            params.update(media_ids=[self.photo.id], photo_count=1)
        if p.get("department"):
            params["department_id"] = self.world.dept.id
        if action == "merge":
            params["duplicate_of"] = self.other_number
        before = rows_snapshot(self.event_id)
        try:
            actions.perform(self.event_id, actor, action, params)
        except DomainError as err:
            assert err.code and err.message
            assert rows_snapshot(self.event_id) == before

    @invariant()
    def holder_matches_status(self):
        event = Event.get_by_id(self.event_id)
        assert holder_agrees(event.status, holder_of(event))

    @invariant()
    def closed_has_resolution(self):
        event = Event.get_by_id(self.event_id)
        if event.status == "closed":
            assert EventStep.select().where((EventStep.event == event)
                                            & EventStep.action.in_(("resolve", "quick_record"))).exists()

    @invariant()
    def steps_have_actors_and_one_outbox_row_each(self):
        steps = list(EventStep.select().where(EventStep.event == self.event_id))
        assert all(s.actor_label and s.actor_kind for s in steps)
        assert OutboxMessage.select().where(OutboxMessage.event == self.event_id).count() == len(steps)


@pytest.fixture(autouse=True)
def _bind_database(database):
    WorkflowOnDatabase.database = database


TestWorkflowOnDatabase = WorkflowOnDatabase.TestCase
TestWorkflowOnDatabase.settings = settings(max_examples=12, stateful_step_count=25, deadline=None,
                                           suppress_health_check=list(HealthCheck))
