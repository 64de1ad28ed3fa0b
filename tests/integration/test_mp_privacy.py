"""The mini-program side of DESIGN §11 over HTTP: the emergency line first, categories that
send people to a number, 我的信息 and 删除我的信息, anonymous reports still hearing back."""
from __future__ import annotations

import pytest

from backend import config
from backend.crypto import FieldCipher
from backend.models import Category, Event, Resident
from backend.services.personal_data import RESIDENT_PHONE_CONTEXT
from tests.factories import make_world
from tests.mp_fixtures import live  # noqa: F401


@pytest.fixture
def world(sandbox, redis_conn):
    return make_world()


@pytest.fixture
def resident(live, world):
    client = live.client()
    client.login("res-1")
    return client


def test_an_emergency_report_answers_with_the_number_to_call_first(resident, world):
    reply = resident.report(*world.in_a, description="楼下有个老人晕倒了，叫不醒", category="0101")
    assert reply.status == 201
    emergency = reply.json["emergency"]
    assert emergency["numbers"][0] == "120" and emergency["advice"].startswith("请马上打120")
    assert reply.json["urgent"] is True
    assert Event.get(Event.number == reply.json["number"]).emergency == "120"
    ordinary = resident.report(*world.in_a, description="灯坏了很危险", category="0101")
    assert ordinary.status == 201 and ordinary.json["emergency"] is None


def test_categories_say_when_to_call_a_number_instead(resident, world):
    Category.update(emergency_number="119").where(Category.code == "0301").execute()
    tree = resident.get("/categories").json["items"]
    leaf = next(c for major in tree for c in major["children"] if c["code"] == "0301")
    assert leaf["emergency_number"] == "119"
    other = next(c for major in tree for c in major["children"] if c["code"] == "0101")
    assert other["emergency_number"] is None


def test_my_data_then_erase_it(resident, world):
    me = Resident.get(Resident.mp_openid == "sandbox-res-1")
    cipher = FieldCipher.from_key(config.current().field_key)
    Resident.update(phone_enc=cipher.encrypt("13912345678", RESIDENT_PHONE_CONTEXT), nickname="王建国"
                    ).where(Resident.id == me.id).execute()
    assert resident.post("/subscriptions", {"answers": {"ejia-progress": "accept"}}).status == 200
    assert resident.post("/subscriptions", {"answers": {"ejia-progress": "accept"}}).json["remaining"] == {
        "ejia-progress": 2}
    resident.report(*world.in_a, description="楼下垃圾没人清，我是王建国", category="0101")
    data = resident.get("/me/data")
    assert data.status == 200
    assert data.json["phone"] == "139****5678" and data.json["nickname"] == "王**"
    assert data.json["reports_open"] == 1 and data.json["channels"] == ["小程序"] and "删除后" in data.json["erase_effects"]
    assert "13912345678" not in str(data.json)
    refused = resident.post("/me/erase", {"confirm": False})
    assert refused.status == 400 and refused.error_code == "confirm_required"
    assert resident.post("/me/erase", {}).status == 400
    assert Resident.get_by_id(me.id).phone_enc is not None
    done = resident.post("/me/erase", {"confirm": True})
    assert done.status == 200 and done.json["waiting"] == 1 and done.json["anonymised"] == 0
    me = Resident.get_by_id(me.id)
    assert me.phone_enc is None and me.nickname is None and me.erase_requested_at
    assert resident.get("/me/data").json["subscribe_opt_ins"] == 0
    assert resident.get("/me/data").json["phone"] is None


def test_privacy_endpoints_are_for_residents_only(live, world):
    from tests.mp_fixtures import bind_mp_logins

    bind_mp_logins(world, "worker_a")
    staff = live.client()
    staff.login("worker_a")
    assert staff.get("/me/data").status == 403
    assert live.client().get("/me/data").status == 401
