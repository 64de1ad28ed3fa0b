"""A model-based test of the whole workflow (issue 15): any sequence of actions, by any actor,
allowed or not, through the real services on the real database of the stack under test.

hypothesis drives a ``RuleBasedStateMachine``: residents submit on any channel; the system
routes; staff of every role and residents try every action with good and bad parameters; the
SLA sweep runs at a moved clock. After every step the invariants of DESIGN §3 and §11 hold:

* an open event has exactly one holder; waiting or ended ones have none;
* the holder and the holder's chain can see it and find it in their lists, and the holding unit
  itself (not the centres above, which may also act on it) finds it in 待办 and may act on it;
* a refused action changes nothing (no step, no outbox row, same status and holder);
* a returned event never goes back to the person who returned it;
* rejected / merged / withdrawn are final;
* every step has exactly one outbox row, and every change of status left a step;
* ``reopen_count`` equals the 返工 steps; the SQL metrics equal their definitions computed in
  Python from the same rows.

The suite runs a bounded number of examples; ``EJIA_MODEL_EXAMPLES`` / ``EJIA_MODEL_STEPS``
give the nightly profile (e.g. 300 × 60).
"""
from __future__ import annotations

import datetime as dt
import os

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from backend import clock, metrics
from backend.db import db
from backend.errors import DomainError
from backend.models import Department, Event, EventStep, OutboxMessage, Resident, Staff
from backend.services import actions, admin_metrics, queries, sla_sweep
from backend.services.context import event_view, resident_actor, staff_actor
from backend.services.events import Submission, route_event, submit_event
from backend.workflow import HELD_STATUSES, can_see, holder_agrees, in_chain, is_holder
from tests.conftest import truncate_all
from tests.factories import make_world

EXAMPLES = int(os.environ.get("EJIA_MODEL_EXAMPLES", "12"))
STEPS = int(os.environ.get("EJIA_MODEL_STEPS", "30"))
START = dt.datetime(2026, 11, 2, 1, 0)  # a working Monday, 09:00 Asia/Shanghai
FINAL = ("rejected", "merged", "withdrawn")
ACTIONS = ("accept", "return", "escalate", "dispatch", "resolve", "verify", "reopen", "reject", "merge",
           "withdraw", "urge", "comment", "rate", "revisit", "complain")
STAFF = ("worker_a", "worker_a2", "worker_b", "head", "centre", "city_centre", "dept_staff", "other_worker",
         "other_head", "other_centre", "district_centre", "other_dept_staff")
TEXTS = ("楼下垃圾好几天没人清了", "邻居装修太吵", "楼道里堆满了纸箱", "有人拿刀在小区里追人")
POINTS = ("in_a", "in_b", "in_other", "nowhere", None)
UNIT_ROLE = {"grid": "grid_worker", "community": "community_head", "centre": "centre_operator",
             "department": "department_staff"}


def snapshot(event_id: int) -> tuple:
    event = Event.get_by_id(event_id)
    return (event.status, event.holder_level, event.holder_area_id, event.holder_department_id,
            event.holder_staff_id, EventStep.select().where(EventStep.event == event_id).count(),
            OutboxMessage.select().where(OutboxMessage.event == event_id).count())


class Workflow(RuleBasedStateMachine):
    events = Bundle("events")

    @initialize()
    def world(self):
        truncate_all(db.obj)
        from backend.services import context, events as events_service

        events_service.invalidate_caches()
        context.invalidate_caches()
        db.connect(reuse_if_open=True)
        self.w = make_world()
        # The other street's people, a district centre and a department of the other street:
        # cases cross streets (a centre names another street's grid, a department hands back).
        other_community = self.w.other_grid.parent
        self.other_dept = Department.create(name="芝山城管办", code="cgb-2", kind="cgb", area=self.w.other_street)
        self.extra = {
            "other_head": Staff.create(name="郑十一", role="community_head", area=other_community),
            "other_centre": Staff.create(name="吴十", role="centre_operator", area=self.w.other_street),
            "district_centre": Staff.create(name="冯十二", role="centre_operator", area=self.w.district),
            "other_dept_staff": Staff.create(name="陈十三", role="department_staff", area=self.w.other_street,
                                             department=self.other_dept),
        }
        self.residents = [Resident.create(oa_openid=f"oa-model-{i}") for i in range(2)]
        self.now = START
        self.final: dict[int, str] = {}
        self.returners: dict[int, int] = {}  # event → the staff id that returned it last

    # ------------------------------------------------------------------ actors and time

    def staff(self, name: str) -> Staff:
        return Staff.get_by_id((self.extra.get(name) or getattr(self.w, name)).id)

    def tick(self, minutes: int = 7) -> None:
        self.now += dt.timedelta(minutes=minutes)

    # ------------------------------------------------------------------ rules

    @rule(target=events, who=st.integers(0, 1), text=st.sampled_from(TEXTS), point=st.sampled_from(POINTS),
          code=st.sampled_from(["0101", "0201", "0301", None]), anonymous=st.booleans(),
          source=st.sampled_from(["wechat", "miniprogram", "open311"]), routed=st.booleans())
    def submit(self, who, text, point, code, anonymous, source, routed):
        self.tick()
        lat, lng = getattr(self.w, point) if point else (None, None)
        with clock.frozen(self.now):
            event = submit_event(Submission(description=text, reporter=resident_actor(self.residents[who]),
                                            lat=lat, lng=lng, category_code=code, anonymous=anonymous,
                                            source=source)).event
            if routed:  # the worker's route job, as it follows every report
                route_event(event.id)
        return event.id

    @rule(event_id=events)
    def route(self, event_id):
        self.tick()
        returner = self.returners.get(event_id)
        with clock.frozen(self.now):
            event = route_event(event_id)
        if returner is not None and event.status == "assigned":
            person = Staff.get_by_id(returner)
            assert event.holder_staff_id != returner, "a returned event went back to its returner"
            assert not is_holder(event_view(event), staff_actor(person)), "back to the returner's unit"

    @rule(event_id=events, who=st.sampled_from(STAFF + ("resident0", "resident1")), action=st.sampled_from(ACTIONS),
          note=st.sampled_from(["", "情况说明", "x" * 1001]), photo=st.booleans(),
          grid=st.sampled_from([None, "grid_a", "grid_b", "other_grid"]), score=st.integers(0, 6),
          outcome=st.sampled_from(["satisfied", "unsatisfied", "unreachable", "nope"]),
          other=st.integers(0, 20), dept=st.booleans())
    def act(self, event_id, who, action, note, photo, grid, score, outcome, other, dept):
        self.tick()
        actor = (resident_actor(self.residents[int(who[-1])]) if who.startswith("resident")
                 else staff_actor(self.staff(who)))
        params = {"note": note, "score": score, "outcome": outcome}
        if photo:
            params["photo_count"], params["waive_photo"] = 1, True
        if grid:
            params["suggested_grid_id"] = getattr(self.w, grid).id
        if dept:
            params["department_id"] = (self.w.dept if other % 2 else self.other_dept).id
        if action == "merge":
            target = Event.select(Event.number).order_by(Event.id).offset(other % max(1, Event.select().count()))
            params["duplicate_of"] = target.first().number if target.first() else None
        before = snapshot(event_id)
        try:
            with clock.frozen(self.now):
                actions.perform(event_id, actor, action, params)
        except DomainError:
            assert snapshot(event_id) == before, f"a refused {action} changed the event"
            return
        event(f"{action} done")
        if action == "return":
            self.returners[event_id] = actor.id if actor.kind == "staff" else None

    def plausible(self, event: Event, action: str, pick: int):
        """Someone the model expects may take ``action``: the reporter for resident actions, a person
        of the holding unit for the holder's, a centre operator or the community head for
        supervision. Chosen from the event's fields, not by asking the workflow."""
        if action in ("withdraw", "rate", "complain"):
            return resident_actor(Resident.get_by_id(event.reporter_resident_id)) if event.reporter_resident_id else None
        if action in ("revisit", "urge", "reject", "merge", "dispatch") or event.holder_level == "centre":
            candidates = [self.w.centre, self.w.city_centre, self.w.head, self.extra["other_centre"],
                          self.extra["district_centre"], self.extra["other_head"]]
        elif event.holder_level == "department":
            candidates = [self.w.dept_staff, self.extra["other_dept_staff"]]
        elif event.holder_level == "community":
            candidates = [self.w.head, self.extra["other_head"]]
        else:
            candidates = [s for s in (self.w.worker_a, self.w.worker_a2, self.w.worker_b, self.w.other_worker)
                          if s.area_id in (event.holder_area_id, event.grid_id)] or [self.w.worker_a]
        return staff_actor(Staff.get_by_id(candidates[pick % len(candidates)].id))

    @rule(event_id=events, action=st.sampled_from(ACTIONS), pick=st.integers(0, 5),
          grid=st.sampled_from([None, "grid_a", "grid_b", "other_grid"]), score=st.integers(1, 5),
          outcome=st.sampled_from(["satisfied", "unsatisfied", "unreachable"]))
    def work_rule(self, event_id, action, pick, grid, score, outcome):
        """The likely path: the right kind of person, sensible parameters."""
        self.work(event_id, action, pick, grid, score, outcome)

    def work(self, event_id, action, pick, grid, score, outcome):
        self.tick()
        actor = self.plausible(Event.get_by_id(event_id), action, pick)
        if actor is None:
            return
        params = {"note": "情况说明", "score": score, "outcome": outcome, "photo_count": 1,
                  "department_id": (self.w.dept if pick % 2 else self.other_dept).id}
        if grid:
            params["suggested_grid_id"] = getattr(self.w, grid).id
        before = snapshot(event_id)
        try:
            with clock.frozen(self.now):
                actions.perform(event_id, actor, action, params)
        except DomainError:
            assert snapshot(event_id) == before, f"a refused {action} changed the event"
            return
        event(f"{action} done")
        if action == "return":
            self.returners[event_id] = actor.id

    NEXT = {"assigned": ("accept", "escalate", "return", "dispatch"), "processing": ("resolve", "escalate", "dispatch"),
            "resolved": ("verify", "reopen"), "closed": ("rate", "complain", "revisit", "reopen"),
            "reported": ("withdraw",)}

    @rule(event_id=events, choice=st.integers(0, 3), pick=st.integers(0, 5),
          grid=st.sampled_from([None, "grid_a", "grid_b", "other_grid"]))
    def advance(self, event_id, choice, pick, grid):
        """Move a case one natural step along (the actions its status invites)."""
        event = Event.get_by_id(event_id)
        options = self.NEXT.get(event.status)
        if not options:
            return
        action = options[choice % len(options)]
        if action == "verify" and event.grid_id:
            pick = 0
        self.work(event_id, action, pick, grid, 4, "satisfied" if choice % 2 else "unsatisfied")

    @rule(hours=st.sampled_from([1, 8, 30, 200]))
    def sla(self, hours):
        self.now += dt.timedelta(hours=hours)
        with clock.frozen(self.now):
            sla_sweep.sweep_sla()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def holders_agree_with_statuses(self):
        if not hasattr(self, "w"):
            return
        for event in Event.select():
            view = event_view(event)
            assert holder_agrees(event.status, view.holder), (event.number, event.status, view.holder)
            if event.status in FINAL:
                self.final.setdefault(event.id, event.status)
            if event.id in self.final:
                assert event.status == self.final[event.id], f"{event.number} left a final state"

    @invariant()
    def the_holder_and_its_chain_see_it_and_the_unit_lists_it(self):
        if not hasattr(self, "w"):
            return
        people = [self.staff(name) for name in STAFF]
        for event in Event.select().where(Event.status.in_(HELD_STATUSES)):
            view = event_view(event)
            for person in people:
                actor = staff_actor(person)
                if is_holder(view, actor) or in_chain(view, actor):
                    assert can_see(view, actor), (event.number, person.role)
                    visible = Event.select().where((Event.id == event.id) & queries.visible_clause(person))
                    assert visible.exists(), (event.number, person.role, "not in the lists")
                unit = (person.department_id == event.holder_department_id if event.holder_level == "department"
                        else person.area_id == event.holder_area_id)
                if unit and person.role == UNIT_ROLE[event.holder_level]:  # the holding unit may act on it
                    assert is_holder(view, actor), (event.number, person.role, "holds it but may not act")
                if is_holder(view, actor) and unit and event.status == "assigned":  # the holding unit itself
                    todo = queries.staff_tasks(person, "todo", page_size=100).items
                    assert event.id in {e.id for e in todo}, (event.number, person.role, "not in 待办")

    @invariant()
    def every_step_has_its_outbox_row_and_reopens_are_counted(self):
        if not hasattr(self, "w"):
            return
        for event in Event.select():
            steps = list(EventStep.select().where(EventStep.event == event.id).order_by(EventStep.id))
            with_step = OutboxMessage.select().where((OutboxMessage.event == event.id)
                                                     & OutboxMessage.step.is_null(False)).count()
            assert with_step == len(steps), event.number
            reopens = sum(1 for s in steps if s.to_status == "processing" and s.from_status in ("resolved", "closed"))
            assert event.reopen_count == reopens, event.number
            assert (event.closed_at is not None) == (event.status == "closed"), event.number
            assert steps[-1].to_status == event.status, event.number

    @rule()
    def fold_metric_sums(self):
        """The minutely compaction (PostgreSQL) between transitions changes no sum."""
        admin_metrics.compact()

    def teardown(self):
        if hasattr(self, "w"):
            first, last = clock.to_local(START).date(), clock.to_local(self.now).date()
            labels = admin_metrics.months_ending(last, 1 + (last.year - first.year) * 12 + last.month - first.month)
            months = [admin_metrics.month_bounds(label) for label in labels]
            day = dt.timedelta(days=1)
            periods = [(START - day, self.now + day), (months[0][0], self.now + day),
                       (START - day, months[-1][1]), (months[0][0] + day * 3, months[-1][1] + day * 3), *months]
            monthly = admin_metrics.monthly_sums(labels)
            for start, end in periods:
                from_python = metrics.figures(metrics.load_records(start, end), start, end)
                stored = [admin_metrics.period_sums(start, end)]
                if (start, end) in months:
                    stored.append(monthly[labels[months.index((start, end))]])
                for sums in [admin_metrics.aggregate(start, end), *stored]:
                    if "due" not in sums:  # per (area, category): add them up
                        rows, sums = sums.values(), admin_metrics.empty_sums()
                        for row in rows:
                            admin_metrics.add_sums(sums, row)
                    from_sql = admin_metrics.figures_from_sums(sums)
                    for name, value in from_python.items():
                        if name.startswith("mean_hours") and value is not None:
                            assert abs(from_sql[name] - value) < 1e-6, (name, start, end)
                        else:
                            assert from_sql[name] == value, (name, start, end)


Workflow.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get("EJIA_MODEL_SHRINK") else []))
TestWorkflow = pytest.mark.usefixtures("database")(Workflow.TestCase)
