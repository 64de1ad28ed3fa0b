"""Mini-program residents hearing back (issue 14) over HTTP: opt-ins, 没修好, 回访 answers."""
from __future__ import annotations

import pytest

from backend.models import Event, Revisit, SubscribeOptIn
from backend.services import actions, revisits
from backend.services.context import staff_actor
from backend.services.events import route_event
from tests.factories import make_world
from tests.mp_fixtures import live  # noqa: F401  (fixture)


@pytest.fixture
def world(sandbox, redis_conn):
    return make_world()


@pytest.fixture
def resident(live, world):
    client = live.client()
    client.login("res-1")
    return client


def closed_report(resident, world):
    number = resident.report(*world.in_a, description="楼上天天半夜吵", category="0201").json["number"]
    event = route_event(Event.get(Event.number == number).id)
    actions.perform(number, staff_actor(world.worker_a), "accept")
    actions.perform(number, staff_actor(world.worker_a), "resolve", {"note": "已调解"})
    return event


@pytest.mark.parametrize("body, status", [
    ({"answers": {"ejia-progress": "accept", "other-tmpl": "accept"}}, 400),
    ({"answers": {"ejia-progress": "yes"}}, 400),
    ({"answers": {f"t{i}": "accept" for i in range(11)}}, 400),
    ({"answers": {}}, 400),
    ({"answers": ["ejia-progress"]}, 400),
    ({}, 400),
])
def test_opt_in_payloads_that_make_no_sense_are_refused(resident, body, status):
    assert resident.post("/subscriptions", body).status == status
    assert SubscribeOptIn.select().count() == 0


def test_opt_ins_are_counted(resident):
    reply = resident.post("/subscriptions", {"answers": {"ejia-progress": "accept"}})
    assert reply.status == 200 and reply.json == {"remaining": {"ejia-progress": 1}}
    reply = resident.post("/subscriptions", {"answers": {"ejia-progress": "ban"}})
    assert reply.json == {"remaining": {"ejia-progress": 0}}


def test_not_fixed_reopens_and_needs_a_reason(resident, world):
    event = closed_report(resident, world)
    assert resident.post(f"/events/{event.number}/complain", {"reason": ""}).status == 400
    reply = resident.post(f"/events/{event.number}/complain", {"reason": "晚上还是很吵"})
    assert reply.status == 200 and reply.json["status"] == "processing"
    assert Event.get_by_id(event.id).reopen_count == 1
    stranger = resident.as_(None)
    stranger.login("res-2")
    assert stranger.post(f"/events/{event.number}/complain", {"reason": "不是我的"}).status == 403


def test_the_revisit_question_is_answered_from_the_page(resident, world):
    event = closed_report(resident, world)
    assert resident.post(f"/events/{event.number}/revisit", {"answer": "满意"}).status == 404  # nothing asked
    revisits.ask_by_wechat(Revisit.create(event=event, reason="sample").id, world.centre)
    assert resident.post(f"/events/{event.number}/revisit", {"answer": "还行"}).status == 400
    reply = resident.post(f"/events/{event.number}/revisit", {"answer": "基本满意"})
    assert reply.status == 200 and Revisit.get(Revisit.event == event.id).outcome == "satisfied"


def test_a_phone_left_by_one_tap_is_kept_encrypted_and_masked(resident, sandbox):
    from backend.models import Resident

    reply = resident.post("/me/phone", {"code": sandbox.phone_code("13912345678")})
    assert reply.status == 200 and reply.json == {"phone": "139****5678"}
    me = Resident.get(Resident.mp_openid == "sandbox-res-1")
    assert me.phone_enc and "13912345678" not in me.phone_enc and me.phone_index
    assert resident.post("/me/phone", {"code": "used-or-made-up"}).status in (400, 401, 502, 503)
    assert resident.get("/me/data").json["phone"] == "139****5678"


def test_a_phone_that_is_not_a_mainland_mobile_is_refused_and_nothing_stored(resident, sandbox):
    from backend.models import Resident

    reply = resident.post("/me/phone", {"code": sandbox.phone_code("85212345678")})
    assert reply.status == 400 and reply.error_code == "bad_phone"
    assert Resident.get(Resident.mp_openid == "sandbox-res-1").phone_enc is None
