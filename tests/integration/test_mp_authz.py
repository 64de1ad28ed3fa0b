"""The authorization matrix over HTTP: every (state, action, caller) cell is a subtest.

The expected table below is written from DESIGN §3 in terms of the test world, not computed
from backend.workflow, so the API is checked against the design rather than against itself.
A cell that must succeed answers 200 on a fresh event in that state; a cell that must fail
answers 400/403 and leaves the event exactly as it was (status, holder, steps).
"""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor


from backend.models import Event, EventStep, Resident
from backend.services import actions
from backend.services.context import resident_actor, staff_actor
from backend.services.events import Submission, route_event, submit_event
from tests.factories import make_world
from tests.mp_fixtures import bind_mp_logins, live  # noqa: F401

STAFF = ("worker_a", "worker_a2", "worker_b", "head", "centre", "city_centre", "dept_staff", "other_worker")
RESIDENTS = ("reporter", "neighbour")
CALLERS = STAFF + RESIDENTS
STAFF_ACTIONS = ("accept", "return", "escalate", "dispatch", "resolve", "verify", "reopen", "reject",
                 "merge", "urge", "comment")
STATES = ("reported", "assigned_grid", "processing_grid", "assigned_community", "assigned_centre",
          "assigned_department", "resolved", "closed", "rejected", "merged", "withdrawn")

GRID_A = {"worker_a", "worker_a2"}
CENTRES = {"centre", "city_centre"}  # the street's centre and the city's, above it
HOLDERS = {  # who holds the event in each state (DESIGN §3 "holder")
    "assigned_grid": GRID_A, "processing_grid": GRID_A, "assigned_community": {"head"},
    "assigned_centre": CENTRES, "assigned_department": {"dept_staff"},
}
SEES = GRID_A | {"head"} | CENTRES | {"dept_staff"}  # staff whose area covers grid A (dept: the street)


def allowed(action: str, state: str, caller: str) -> bool:
    held = HOLDERS.get(state, set())
    if action == "accept":
        return state.startswith("assigned") and caller in held
    if action == "return":  # the holder before 接单; a centre re-routes (转办) anything held below it
        if caller in CENTRES:
            return state.startswith("assigned") or state == "processing_grid"
        return state.startswith("assigned") and caller in held
    if action == "escalate":  # up one level; a centre has no level above it (dispatch or reject)
        return state in ("assigned_grid", "processing_grid", "assigned_community", "assigned_department") \
            and caller in held
    if action == "dispatch":
        return state == "assigned_centre" and caller in CENTRES
    if action == "resolve":
        return state == "processing_grid" and caller in held
    if action == "verify":  # the event's grid workers, or a centre
        return state == "resolved" and caller in GRID_A | CENTRES
    if action == "reopen":
        return state in ("resolved", "closed") and caller in GRID_A | CENTRES
    if action in ("reject", "urge"):  # supervisors: the community head over grid/community, centres
        if state not in ("assigned_grid", "processing_grid", "assigned_community", "assigned_centre",
                         "assigned_department"):
            return False
        head = caller == "head" and state in ("assigned_grid", "processing_grid", "assigned_community")
        return head or caller in CENTRES
    if action == "merge":
        return state in ("reported", "assigned_grid", "processing_grid", "assigned_community",
                         "assigned_centre", "assigned_department") and (caller in held or caller in CENTRES)
    if action == "comment":  # any party who may see it
        return caller in SEES
    if action == "withdraw":  # before anyone has started on it, at whatever level it waits
        return (state == "reported" or state.startswith("assigned")) and caller == "reporter"
    if action == "rate":
        return state == "closed" and caller == "reporter"
    raise AssertionError(action)


def can_read(state: str, caller: str) -> bool:
    return caller == "reporter" or caller in SEES


class Matrix:
    def __init__(self, live):
        self.world = make_world()
        bind_mp_logins(self.world, *STAFF)
        self.clients = {}
        for name in CALLERS:
            client = live.client()
            client.login(name)
            self.clients[name] = client
        self.reporter = Resident.get(Resident.mp_openid == "sandbox-reporter")
        self.merge_target = self.target()

    def staff(self, name):
        return staff_actor(getattr(self.world, name))

    def event_in(self, state: str) -> Event:
        """A fresh event of the reporter in grid A, driven into ``state`` through the services."""
        sub = Submission(description="邻居家装修太吵", reporter=resident_actor(self.reporter),
                         category_code="0201", lat=self.world.in_a[0], lng=self.world.in_a[1],
                         client_key=uuid.uuid4().hex)
        number = submit_event(sub).event.number
        note = {"note": "情况说明"}
        steps = {
            "reported": [], "assigned_grid": ["route"], "processing_grid": ["route", ("worker_a", "accept")],
            "assigned_community": ["route", ("worker_a", "escalate")],
            "assigned_centre": ["route", ("worker_a", "escalate"), ("head", "escalate")],
            "assigned_department": ["route", ("worker_a", "escalate"), ("head", "escalate"),
                                    ("centre", "dispatch")],
            "resolved": ["route", ("worker_a", "escalate"), ("head", "accept"), ("head", "resolve")],
            "closed": ["route", ("worker_a", "accept"), ("worker_a", "resolve")],
            "rejected": ["route", ("centre", "reject")],
            "merged": [("centre", "merge")],
            "withdrawn": [("reporter", "withdraw")],
        }[state]
        for step in steps:
            if step == "route":
                route_event(Event.get(Event.number == number).id)
                continue
            who, action = step
            actor = resident_actor(self.reporter) if who == "reporter" else self.staff(who)
            params = dict(note, department_id=self.world.dept.id)
            if action == "merge":
                params["duplicate_of"] = self.merge_target.number
            actions.perform(number, actor, action, params)
        return Event.get(Event.number == number)

    def target(self) -> Event:
        sub = Submission(description="同一处装修噪音", reporter=resident_actor(self.reporter),
                         category_code="0201", lat=self.world.in_a[0], lng=self.world.in_a[1])
        return submit_event(sub).event


def snapshot(event: Event):
    row = Event.get_by_id(event.id)
    return (row.status, row.holder_level, row.holder_area_id, row.holder_department_id, row.holder_staff_id,
            EventStep.select().where(EventStep.event == event.id).count())


def call(matrix: Matrix, caller: str, action: str, event: Event):
    client = matrix.clients[caller]
    if action in ("withdraw", "rate"):
        body = {"score": 5} if action == "rate" else {}
        return client.post(f"/events/{event.number}/{action}", body)
    body = {"note": "处理说明"}
    if action == "dispatch":
        body["department_id"] = matrix.world.dept.id
    if action == "merge":
        body["duplicate_of"] = matrix.merge_target.number
    if action == "return":
        body["suggested_grid_id"] = matrix.world.grid_b.id
    return client.post(f"/events/{event.number}/actions/{action}", body)


def test_action_matrix(live, sandbox, redis_conn, subtests):
    """13 actions × 11 states × 10 callers. Refusals share one event per state (and must leave
    it untouched); every permitted cell acts on a fresh event in that state. The ten callers of
    one (action, state) row are sent together, as ten phones would."""
    matrix = Matrix(live)
    shared = {state: matrix.event_in(state) for state in STATES}
    before = {state: snapshot(event) for state, event in shared.items()}
    with ThreadPoolExecutor(max_workers=5) as pool:
        for action in STAFF_ACTIONS + ("withdraw", "rate"):
            for state in STATES:
                expect = {caller: allowed(action, state, caller) for caller in CALLERS}
                events = {caller: matrix.event_in(state) if expect[caller] else shared[state]
                          for caller in CALLERS}
                replies = dict(zip(CALLERS, pool.map(lambda c: call(matrix, c, action, events[c]), CALLERS)))
                after = snapshot(shared[state])
                for caller in CALLERS:
                    with subtests.test(action=action, state=state, caller=caller):
                        reply = replies[caller]
                        if expect[caller]:
                            assert reply.status == 200, reply
                            continue
                        assert reply.status in (400, 403), reply
                        assert reply.json["error"]["message"]
                        if action not in ("withdraw", "rate") and caller in RESIDENTS:
                            assert reply.error_code == "staff_only"
                        if action in ("withdraw", "rate") and caller in STAFF:
                            assert reply.error_code == "residents_only"
                        assert after == before[state]


def test_read_matrix(live, sandbox, redis_conn, subtests):
    matrix = Matrix(live)
    for state in STATES:
        event = matrix.event_in(state)
        for caller in CALLERS:
            with subtests.test(state=state, caller=caller):
                reply = matrix.clients[caller].get(f"/events/{event.number}")
                if not can_read(state, caller):
                    assert reply.status == 403 and reply.error_code == "no_access", reply
                    assert event.description not in str(reply.json)
                    continue
                assert reply.status == 200, reply
                if caller == "reporter":  # staff names are masked for residents
                    assert "张三" not in str(reply.json) and "王五" not in str(reply.json)
                expected = {a for a in STAFF_ACTIONS + ("withdraw", "rate") if allowed(a, state, caller)}
                assert set(reply.json["allowed_actions"]) == expected


def test_staff_task_lists_only_show_their_scope(live, sandbox, redis_conn):
    matrix = Matrix(live)
    in_a = matrix.event_in("assigned_grid")
    todo = {name: {t["number"] for t in matrix.clients[name].get("/tasks", params={"view": "todo"}).json["items"]}
            for name in STAFF}
    assert {name for name, numbers in todo.items() if in_a.number in numbers} == GRID_A
    other = matrix.clients["other_worker"].get("/tasks", params={"view": "done"}).json
    assert other["total"] == 0
