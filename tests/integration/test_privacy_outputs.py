"""Public outputs carry nothing that identifies or endangers anyone (DESIGN §11), and every
staff view of a restricted case leaves an audit row — through the real app on both stacks."""
from __future__ import annotations

import csv
import io
import json

import pytest
from defusedxml import ElementTree as SafeET
from openpyxl import load_workbook

from backend.db import db
from backend.models import ApiKey, AuditLog, Category, Event, Resident
from backend.services import actions, api_keys
from backend.services.context import resident_actor, staff_actor
from backend.services.events import Submission, route_event, submit_event
from tests.integration.test_console_fixtures import (  # noqa: F401  (fixtures)
    console_app,
    cworld,
    logged_in,
)

PHONE = "13912345678"
ID_NUMBER = "350602199001011234"


@pytest.fixture
def world(cworld):
    world = cworld.world
    world.cat_sensitive = Category.create(code="0202", parent=world.cat_nophoto.parent, name="家庭暴力",
                                          plain_name="家里有人挨打", keywords=["家暴"], sensitivity="sensitive",
                                          photo_required=False)
    world.cat_internal = Category.create(code="0203", parent=world.cat_nophoto.parent, name="社保",
                                         plain_name="社保", keywords=["社保"], sensitivity="internal",
                                         photo_required=False)
    return world


def file(world, text, code, anonymous=False, openid=None):
    who = Resident.create(oa_openid=openid or f"oa-{Resident.select().count() + 1}")
    result = submit_event(Submission(description=text, reporter=resident_actor(who), lat=24.505123, lng=117.645678,
                                     category_code=code, anonymous=anonymous, address="金源小区3号楼2单元501室"))
    return route_event(result.event.id), who


@pytest.fixture
def cases(world):
    public, _ = file(world, f"楼下垃圾没人清，我是王建国，电话{PHONE}，身份证{ID_NUMBER}", "0101")
    sensitive, _ = file(world, "邻居家里经常打孩子，哭喊声很大", "0202")
    anonymous, _ = file(world, "楼道里堆满了纸箱", "0101", anonymous=True)
    internal, _ = file(world, "想问问社保怎么交", "0203")
    return {"public": public, "sensitive": sensitive, "anonymous": anonymous, "internal": internal}


def open311(console_app, path, **query):
    response = console_app.test_client().get("/open311/v2" + path, query_string=query)
    db.connect(reuse_if_open=True)
    assert response.status_code < 500
    return response


def test_public_open311_shows_only_public_cases_masked_and_snapped(console_app, cases):
    listed = json.loads(open311(console_app, "/requests.json").get_data())
    assert [r["service_request_id"] for r in listed] == [cases["public"].number]
    [doc] = listed
    assert PHONE not in doc["description"] and ID_NUMBER not in doc["description"]
    assert "王建国" not in doc["description"] and "139****5678" in doc["description"]
    assert doc["lat"] == 24.505 and doc["long"] == 117.646  # about 100 m, never the door
    assert "501" not in doc["address"] and "3号楼" in doc["address"]
    root = SafeET.fromstring(open311(console_app, "/requests.xml").get_data())
    assert [r.findtext("service_request_id") for r in root] == [cases["public"].number]
    assert PHONE.encode() not in open311(console_app, "/requests.xml").get_data()
    for name in ("sensitive", "anonymous", "internal"):
        number = cases[name].number
        assert open311(console_app, f"/requests/{number}.json").status_code == 404, name
        assert open311(console_app, f"/requests/{number}.xml").status_code == 404, name
        ids = json.loads(open311(console_app, "/requests.json", service_request_id=number).get_data())
        assert ids == [], name
    assert not AuditLog.select().where(AuditLog.entity == "open311").exists()


def test_a_full_read_key_sees_more_and_is_audited(console_app, cases):
    full = api_keys.issue("公安系统", ["read_full"])
    listed = json.loads(open311(console_app, "/requests.json", api_key=full.key).get_data())
    assert {r["service_request_id"] for r in listed} == {e.number for e in cases.values()}
    public = next(r for r in listed if r["service_request_id"] == cases["public"].number)
    assert PHONE in public["description"] and public["lat"] == pytest.approx(24.505123)
    [row] = AuditLog.select().where(AuditLog.entity == "open311")
    assert row.entity_id == full.row.id and row.detail["count"] == 4 and "公安系统" in row.actor_label
    assert ApiKey.get_by_id(full.row.id).last_used_at is not None
    one = open311(console_app, f"/requests/{cases['sensitive'].number}.xml", api_key=full.key)
    assert one.status_code == 200 and AuditLog.select().where(AuditLog.entity == "open311").count() == 2


def test_keys_are_checked_for_their_scope(console_app, cases):
    writer = api_keys.issue("网格系统", ["write"])
    assert open311(console_app, "/requests.json", api_key="no-such-key").status_code == 403
    assert open311(console_app, "/requests.json", api_key=writer.key).status_code == 403
    reader = api_keys.issue("门户网站", ["read_public"])
    listed = json.loads(open311(console_app, "/requests.json", api_key=reader.key).get_data())
    assert [r["service_request_id"] for r in listed] == [cases["public"].number]
    post = console_app.test_client().post("/open311/v2/requests.json", data={
        "api_key": reader.key, "service_code": "0101", "lat": "24.505", "long": "117.645", "description": "垃圾"})
    db.connect(reuse_if_open=True)
    assert post.status_code == 403 and Event.select().count() == 4


def test_an_emergency_filed_through_open311_says_whom_to_call(console_app, world):
    key = api_keys.issue("网格系统", ["write"])
    post = console_app.test_client().post("/open311/v2/requests.json", data={
        "api_key": key.key, "service_code": "0101", "lat": "24.505", "long": "117.645",
        "description": "垃圾站着火了，火很大"})
    db.connect(reuse_if_open=True)
    [doc] = json.loads(post.get_data())
    assert doc["service_notice"].startswith("请马上打119")
    assert Event.get(Event.number == doc["service_request_id"]).urgent


def test_public_exports_leave_out_restricted_cases_and_mask_the_rest(console_app, cases, world):
    centre = logged_in(console_app, "centre")
    body = centre.get("/console/events/export.csv?public=1").get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert [r[0] for r in rows[1:]] == [cases["public"].number]
    assert PHONE not in body and ID_NUMBER not in body and "王建国" not in body and "501" not in body
    book = load_workbook(io.BytesIO(centre.get("/console/events/export.xlsx?public=1").get_data()))
    numbers = [c.value for c in book["事件"]["A"]][1:]
    assert numbers == [cases["public"].number]
    cells = " ".join(str(c.value) for ws in book for row in ws.iter_rows() for c in row)
    assert PHONE not in cells and "王建国" not in cells
    # the staff export is the chain's own record: everything it may see, each restricted row audited
    staff_body = centre.get("/console/events/export.csv").get_data().decode("utf-8-sig")
    assert {r[0] for r in list(csv.reader(io.StringIO(staff_body)))[1:]} == {e.number for e in cases.values()}
    audited = {r.detail["number"] for r in AuditLog.select().where(AuditLog.entity == "event")}
    assert audited == {cases["sensitive"].number, cases["anonymous"].number}


def test_console_views_of_restricted_cases_are_audited_and_out_of_chain_is_refused(console_app, cases, world):
    centre = logged_in(console_app, "centre")
    page = centre.get(f"/console/events/{cases['sensitive'].number}")
    assert page.status_code == 200
    rows = list(AuditLog.select().where(AuditLog.entity == "event"))
    assert [(r.entity_id, r.actor_staff_id, r.detail["channel"]) for r in rows] == [
        (cases["sensitive"].id, world.centre.id, "console")]
    centre.get("/console/events/" + cases["public"].number)
    assert AuditLog.select().where(AuditLog.entity == "event").count() == 1  # public cases are not audited
    listing = centre.get("/console/events").get_data(as_text=True)
    assert cases["anonymous"].number in listing
    assert AuditLog.select().where((AuditLog.entity == "event")
                                   & (AuditLog.entity_id == cases["anonymous"].id)).count() == 1
    # escalated to the street centre, the community head is out of the chain
    for who in (world.worker_a,):
        actions.perform(cases["sensitive"].number, staff_actor(who), "escalate", {"note": "社区出面"})
    actions.perform(cases["sensitive"].number, staff_actor(world.head), "escalate", {"note": "需要综治中心"})
    head = logged_in(console_app, "head")
    assert head.get(f"/console/events/{cases['sensitive'].number}").status_code == 403
    assert cases["sensitive"].number not in head.get("/console/events").get_data(as_text=True)


def test_reveal_of_an_anonymous_reporter_from_the_console(console_app, cases, world):
    Resident.update(nickname="小王").where(Resident.id == cases["anonymous"].reporter_resident_id).execute()
    head = logged_in(console_app, "head")
    assert head.post(f"/console/events/{cases['anonymous'].number}/reporter",
                     {"reason": "需要核实现场情况"}).status_code == 403
    centre = logged_in(console_app, "centre")
    page = centre.get(f"/console/events/{cases['anonymous'].number}").get_data(as_text=True)
    assert "匿名" in page and "查看举报人" in page and "小王" not in page
    short = centre.post(f"/console/events/{cases['anonymous'].number}/reporter", {"reason": "看"})
    assert short.status_code == 400 and "小王" not in short.get_data(as_text=True)
    shown = centre.post(f"/console/events/{cases['anonymous'].number}/reporter", {"reason": "需要核实现场情况"},
                        htmx=True)
    assert shown.status_code == 200 and "小王" in shown.get_data(as_text=True)
    [row] = AuditLog.select().where(AuditLog.action == "reveal")
    assert row.actor_staff_id == world.centre.id and row.detail["reason"] == "需要核实现场情况"


def test_category_privacy_fields_in_the_console(console_app, world):
    admin = logged_in(console_app, "admin")
    form = {"plain_name": "垃圾没人清", "keywords": "垃圾", "accept_limit": "4", "accept_unit": "work_hours",
            "resolve_limit": "5", "resolve_unit": "work_days", "verify_limit": "2", "verify_unit": "work_days",
            "active": "1", "photo_required": "1", "sensitivity": "internal", "retention_days": "10",
            "emergency_number": ""}
    refused = admin.post("/console/admin/categories/0101", form)
    assert refused.status_code in (303, 400) and Category.get(Category.code == "0101").retention_days is None
    assert "不能少于 30 天" in admin.get("/console/admin/categories").get_data(as_text=True) or \
        "不能少于 30 天" in refused.get_data(as_text=True)
    saved = admin.post("/console/admin/categories/0101", {**form, "retention_days": "730"})
    assert saved.status_code == 303
    category = Category.get(Category.code == "0101")
    assert (category.sensitivity, category.retention_days) == ("internal", 730)
    edit = admin.get("/console/admin/categories/0101").get_data(as_text=True)
    assert 'id="sensitivity"' in edit and 'value="730"' in edit
