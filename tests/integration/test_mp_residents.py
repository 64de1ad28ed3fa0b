"""Resident endpoints over HTTP: categories, locate, report, my events, withdraw, rate, feedback."""
from __future__ import annotations

import uuid

import pytest

from backend import geo
from backend.models import (AppFeedback, Attachment, Building, BuildingUnit, Event, EventFollower, EventStep,
                            OutboxMessage)
from backend.services import actions
from backend.services.context import staff_actor
from backend.services.events import route_event
from tests.mp_client import image_bytes
from tests.factories import make_world
from tests.mp_fixtures import bind_mp_logins, live  # noqa: F401


@pytest.fixture
def world(sandbox, redis_conn):
    world = make_world()
    bind_mp_logins(world, "worker_a")
    return world


@pytest.fixture
def resident(live, world):
    client = live.client()
    client.login("res-1")
    return client


def counts():
    return Event.select().count(), EventStep.select().count(), OutboxMessage.select().count(), \
        Attachment.select().count()


def test_categories_tree_and_suggestions(resident):
    reply = resident.get("/categories")
    assert reply.status == 200
    tree = reply.json["items"]
    assert [c["code"] for c in tree] == ["01", "02", "03"]
    assert tree[0]["children"][0]["plain_name"] == "垃圾没人清"
    assert reply.json["suggestions"] == []
    suggested = resident.get("/categories", params={"q": "楼道里堆了好多纸箱"}).json["suggestions"]
    assert suggested[0]["code"] == "0301"


def test_locate_echoes_community_and_grid_for_both_datums(resident, world):
    lat, lng = world.in_a
    reply = resident.get("/locate", params={"lat": lat, "lng": lng, "datum": "wgs84"})
    assert reply.status == 200 and reply.json["in_grid"] is True
    place = reply.json["place"]
    assert place["grid"]["name"] == "金源第一网格" and place["community"]["name"] == "金源社区"
    g_lat, g_lng = geo.wgs84_to_gcj02(lat, lng)  # what wx.chooseLocation would hand us
    reply = resident.get("/locate", params={"lat": g_lat, "lng": g_lng, "datum": "gcj02"})
    assert reply.json["place"]["grid"]["name"] == "金源第一网格"
    assert abs(reply.json["lat"] - lat) < 1e-6 and abs(reply.json["lng"] - lng) < 1e-6
    near = resident.get("/locate", params={"lat": 24.6, "lng": 117.7, "datum": "wgs84"})
    assert near.status == 200 and near.json["in_grid"] is False and "综治中心" in near.json["message"]


@pytest.mark.parametrize("params, code, words", [
    ({"lat": 30.0, "lng": 110.0, "datum": "wgs84"}, "outside_service_area", "服务范围"),
    ({"lat": 0, "lng": 0, "datum": "gcj02"}, "outside_service_area", "服务范围"),
    ({"lat": 91, "lng": 117.6, "datum": "wgs84"}, "invalid_input", "纬度"),
    ({"lat": 24.5, "lng": -181, "datum": "wgs84"}, "invalid_input", "经度"),
    ({"lat": "nan", "lng": 117.6, "datum": "wgs84"}, "invalid_input", "纬度"),
    ({"lat": "abc", "lng": 117.6, "datum": "wgs84"}, "invalid_input", "纬度"),
    ({"lat": 24.5, "lng": 117.6}, "invalid_input", "坐标系"),
    ({"lat": 24.5, "lng": 117.6, "datum": "bd09"}, "invalid_input", "坐标系"),
    ({"lat": 24.5, "lng": 117.6, "datum": "wgs84", "zoom": 3}, "unknown_fields", "zoom"),
])
def test_bad_or_far_coordinates_get_a_clear_400(resident, params, code, words):
    reply = resident.get("/locate", params=params)
    assert reply.status == 400 and reply.error_code == code, reply
    assert words in reply.json["error"]["message"]


def test_report_with_gcj02_point_then_repeat_is_idempotent_per_resident(live, resident, world):
    lat, lng = world.in_a
    g_lat, g_lng = geo.wgs84_to_gcj02(lat, lng)
    key = uuid.uuid4().hex
    reply = resident.report(g_lat, g_lng, datum="gcj02", client_key=key, category="0101")
    assert reply.status == 201, reply
    event = reply.json
    assert event["status"] == "reported" and event["place"]["grid"]["name"] == "金源第一网格"
    assert event["location"]["raw_datum"] == "gcj02" and event["location"]["raw_lat"] == g_lat
    assert abs(event["location"]["lat"] - lat) < 1e-6 and event["created"] is True
    assert event["created_at"].endswith("+08:00")
    again = resident.report(g_lat, g_lng, datum="gcj02", client_key=key, category="0101")
    assert again.status == 200 and again.json["number"] == event["number"] and again.json["created"] is False
    other = live.client()
    other.login("res-2")
    theirs = other.report(g_lat, g_lng, datum="gcj02", client_key=key, category="0101")
    assert theirs.status == 201 and theirs.json["number"] != event["number"]  # keys are per person
    assert [n["number"] for n in theirs.json["nearby"]] == [event["number"]]
    assert "description" not in theirs.json["nearby"][0]  # another resident's words stay private
    # 关注这件: the second resident follows the first report instead (and may still not read it).
    followed = other.post(f"/events/{event['number']}/follow")
    assert followed.status == 200 and followed.json == {
        "number": event["number"], "status": "reported", "status_name": "待分派", "following": True}
    assert EventFollower.select().where(EventFollower.resident == other_resident_id(other)).count() == 1
    assert other.get(f"/events/{event['number']}").status == 403
    assert other.post("/events/20000101-9999/follow").status == 404


def other_resident_id(client) -> int:
    from backend.models import Resident

    return Resident.get(Resident.mp_openid == "sandbox-res-2").id


def test_report_by_building_qr_and_building_lookup(resident, world):
    building = Building.create(area=world.grid_b, name="金源花园3号楼", address="金源路3号", lat=24.505, lng=117.655)
    unit = BuildingUnit.create(building=building, name="2单元", qr_token="tok-abcdefgh-1")
    reply = resident.get("/buildings/by-qr", params={"qr": "https://example.org/q/tok-abcdefgh-1"})
    assert reply.status == 200 and reply.json["unit"]["id"] == unit.id
    assert reply.json["place"]["grid"]["name"] == "金源第二网格"
    assert resident.get("/buildings/by-qr", params={"qr": "nothing-of-ours"}).status == 404
    created = resident.post("/events", {"description": "电梯坏了", "building_qr": "tok-abcdefgh-1",
                                        "client_key": uuid.uuid4().hex})
    assert created.status == 201, created
    assert created.json["place"]["grid"]["name"] == "金源第二网格"
    assert created.json["location"]["building"] == "金源花园3号楼 2单元"


def test_my_events_are_paged_and_detail_masks_staff_names(live, resident, world):
    numbers = [resident.report(*world.in_a).json["number"] for _ in range(3)]
    page = resident.get("/events", params={"page": 1, "page_size": 2})
    assert page.status == 200 and page.json["total"] == 3 and len(page.json["items"]) == 2
    assert [e["number"] for e in page.json["items"]] == numbers[::-1][:2]
    assert resident.get("/events", params={"page": 0}).status == 400
    assert resident.get("/events", params={"page_size": 101}).status == 400
    event = route_event(Event.get(Event.number == numbers[0]).id)
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    detail = resident.get(f"/events/{numbers[0]}").json
    assert [s["action"] for s in detail["trajectory"]] == ["submit", "route", "accept"]
    assert detail["trajectory"][2]["actor"] == "网格员 张*" and "张三" not in str(detail)
    assert detail["holder"]["person"] == "张*" and detail["allowed_actions"] == []
    stranger = live.client()
    stranger.login("res-3")
    reply = stranger.get(f"/events/{numbers[0]}")
    assert reply.status == 403 and "张三" not in str(reply.json)
    assert stranger.get("/events/20990101-0001").status == 404


def test_withdraw_then_rate_once(resident, world):
    first = resident.report(*world.in_a, category="0201").json["number"]
    reply = resident.post(f"/events/{first}/withdraw", {"note": "已经自己解决了"})
    assert reply.status == 200 and reply.json["status"] == "withdrawn"
    again = resident.post(f"/events/{first}/withdraw", {})
    assert again.status == 400 and again.error_code == "wrong_status"
    second = resident.report(*world.in_a, category="0201").json["number"]
    assert resident.post(f"/events/{second}/rate", {"score": 5}).error_code == "wrong_status"
    event = route_event(Event.get(Event.number == second).id)
    worker = staff_actor(world.worker_a)
    actions.perform(event.number, worker, "accept")
    actions.perform(event.number, worker, "resolve", {"note": "已调解"})  # own grid: closed at once
    assert resident.get(f"/events/{second}").json["allowed_actions"] == ["rate"]
    for bad in ({"score": 0}, {"score": 6}, {"score": "五"}, {"score": 4, "stars": 4}, {}):
        assert resident.post(f"/events/{second}/rate", bad).status == 400, bad
    rated = resident.post(f"/events/{second}/rate", {"score": 4, "comment": "很快"})
    assert rated.status == 200 and rated.json["rating"]["score"] == 4
    twice = resident.post(f"/events/{second}/rate", {"score": 1})
    assert twice.status == 400 and twice.error_code == "already_rated"


def test_app_feedback_with_status(live, resident):
    reply = resident.post("/feedback", {"content": "地图选点有时候很慢"})
    assert reply.status == 201 and reply.json["status"] == "open" and reply.json["status_name"] == "待处理"
    fid = reply.json["id"]
    assert resident.get(f"/feedback/{fid}").json["content"] == "地图选点有时候很慢"
    assert resident.get("/feedback").json["total"] == 1
    other = live.client()
    other.login("res-9")
    assert other.get(f"/feedback/{fid}").status == 404
    assert other.get("/feedback").json["total"] == 0
    assert resident.post("/feedback", {"content": "   "}).status == 400
    assert resident.post("/feedback", {"content": "x" * 1001}).status == 400
    assert AppFeedback.select().count() == 1


def test_bad_reports_store_nothing(live, resident, world):
    lat, lng = world.in_a
    theirs = live.client()
    theirs.login("res-photo")
    photo = theirs.upload(image_bytes()).json["id"]
    base = {"description": "垃圾堆了三天", "lat": lat, "lng": lng, "datum": "wgs84", "client_key": "k" * 16}
    bad_bodies = {
        "unknown_fields": {**base, "priority": "high", "reporter_id": 1},
        "location_required": {k: v for k, v in base.items() if k not in ("lat", "lng", "datum")},
        "bad_coordinates": {k: v for k, v in base.items() if k != "lng"},
        "datum_required": {k: v for k, v in base.items() if k != "datum"},
        "outside_service_area": {**base, "lat": 39.9, "lng": 116.4},
        "unknown_category": {**base, "category": "0999"},
        "unknown_media": {**base, "media_ids": [photo]},  # someone else's upload
        "unknown_building": {**base, "building_qr": "tok-nothing-here"},
        "bad_text": {**base, "description": "垃圾\u0000"},
        "description_required": {**base, "description": "   "},
        "invalid_input": {**base, "client_key": "short"},
    }
    before = counts()
    for code, body in bad_bodies.items():
        reply = resident.post("/events", body)
        assert reply.status == 400 and reply.error_code == code, (code, reply)
    assert "priority" in resident.post("/events", bad_bodies["unknown_fields"]).json["error"]["message"]
    assert resident.post("/events", data=b"{not json", content_type="application/json").error_code == "bad_json"
    assert resident.post("/events", data=b"[1, 2]", content_type="application/json").status == 400
    assert resident.post("/events", data=b'{"lat": NaN}', content_type="application/json").status == 400
    assert resident.post("/events", data=b"description=x", content_type="text/plain").status == 415
    huge = {**base, "description": "长" * 30000}
    assert resident.post("/events", huge).status == 413
    assert counts() == before == (0, 0, 0, 0)
