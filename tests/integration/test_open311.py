"""Open311 GeoReport v2 conformance (/open311/v2) through the real app, on both stacks.

Every endpoint in both formats (XML parsed with defusedxml, element names checked), the
spec's errors and status codes, the GET filters, POST with hostile input (nothing stored),
address matching, and a created request routed by a real RQ worker.
"""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from defusedxml import ElementTree as SafeET

from backend import clock
from backend.db import db
from backend.models import ApiKey, Building, BuildingUnit, Category, Event, EventStep, Resident
from backend.services import actions, api_keys
from backend.services.address import invalidate_address_index, match_address, unambiguous
from backend.services.context import resident_actor, staff_actor
from backend.services.events import Submission, quick_record, route_event, submit_event
from tests.factories import make_world

PREFIX = "/open311/v2"
ISO_WITH_ZONE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
REQUEST_FIELDS = [
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
    "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url",
]


@pytest.fixture(scope="module")
def app(settings, database):
    from server import create_app

    app = create_app({"env": "test", "var_dir": settings.var_dir, "database_url": settings.database_url,
                      "redis_url": settings.redis_url})
    app.testing = True  # a 500 would raise in the test instead of hiding in a response
    return app


class Api:
    """The Flask test client under the prefix; keeps the test's own DB connection open
    (the app closes the thread's connection at the end of every request)."""

    def __init__(self, app):
        self.client = app.test_client()

    def _done(self, response):
        db.connect(reuse_if_open=True)
        assert response.status_code < 500, response.get_data(as_text=True)
        return response

    def get(self, path, **query):
        return self._done(self.client.get(PREFIX + path, query_string=query))

    def post(self, path, data=None, **kw):
        return self._done(self.client.post(PREFIX + path, data=data, **kw))

    def call(self, method, path, **kw):
        return self._done(self.client.open(PREFIX + path, method=method, **kw))


@pytest.fixture
def api(app, clean_db):
    invalidate_address_index()
    db.connect(reuse_if_open=True)
    return Api(app)


@pytest.fixture
def world(api):
    return make_world()


@pytest.fixture
def key(world):
    return api_keys.issue("城管系统", ["read_public", "write"], rate_limit=10000).key  # many calls per test


def xml(response):
    assert response.content_type.startswith("text/xml")
    assert response.get_data().startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return SafeET.fromstring(response.get_data())


def body(response):
    assert response.content_type.startswith("application/json")
    return json.loads(response.get_data())


def assert_error(response, status, fmt="xml"):
    assert response.status_code == status
    if fmt == "xml":
        root = xml(response)
        assert root.tag == "errors"
        [error] = list(root)
        assert error.tag == "error" and [c.tag for c in error] == ["code", "description"]
        assert error.findtext("code") == str(status) and error.findtext("description")
        return error.findtext("description")
    [error] = body(response)
    assert set(error) == {"code", "description"} and error["code"] == status and error["description"]
    return error["description"]


def report(world, point=None, code="0201", text="邻居家装修太吵", resident=None, **kw):
    resident = resident or Resident.create(oa_openid=f"oa-{Resident.select().count() + 1}")
    lat, lng = point if point else (None, None)
    sub = Submission(description=text, reporter=resident_actor(resident), lat=lat, lng=lng,
                     category_code=code, **kw)
    return submit_event(sub).event


# ------------------------------------------------------------------ discovery and services


def test_discovery_in_both_formats(api, world):
    root = xml(api.get("/discovery.xml"))
    assert root.tag == "discovery"
    assert [c.tag for c in root] == ["changeset", "contact", "key_service", "endpoints"]
    [endpoint] = root.find("endpoints")
    assert endpoint.tag == "endpoint"
    assert [c.tag for c in endpoint] == ["specification", "url", "changeset", "type", "formats"]
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint.findtext("url").endswith("/open311/v2")
    assert [f.text for f in endpoint.find("formats")] == ["text/xml", "application/json"]
    assert all(f.tag == "format" for f in endpoint.find("formats"))
    assert ISO_WITH_ZONE.match(root.findtext("changeset"))
    doc = body(api.get("/discovery.json"))
    assert doc["endpoints"][0]["formats"] == ["text/xml", "application/json"]
    assert doc["endpoints"][0]["type"] == "test"


def test_services_list_leaf_categories_grouped_by_major(api, world):
    Category.create(code="0199", parent=world.cat_photo.parent, name="停用类别", plain_name="x", active=False)
    doc = body(api.get("/services.json"))
    assert [s["service_code"] for s in doc] == ["0101", "0201", "0301"]
    first = doc[0]
    assert list(first) == ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
    assert first == {"service_code": "0101", "service_name": "暴露垃圾", "description": "垃圾没人清",
                     "metadata": True, "type": "realtime", "keywords": "垃圾,脏", "group": "环境卫生"}
    root = xml(api.get("/services.xml"))
    assert root.tag == "services" and [s.tag for s in root] == ["service"] * 3
    assert root[0].findtext("metadata") == "true" and root[0].findtext("group") == "环境卫生"
    assert root[0].findtext("service_name") == "暴露垃圾"


def test_service_definition_in_both_formats_and_unknown_codes(api, world):
    root = xml(api.get("/services/0101.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "0101"
    attributes = root.find("attributes")
    assert [a.tag for a in attributes] == ["attribute", "attribute"]
    qr, datum = attributes
    assert [c.tag for c in qr] == ["variable", "code", "datatype", "required", "datatype_description",
                                   "order", "description"]
    assert qr.findtext("code") == "building_unit_qr" and qr.findtext("required") == "false"
    assert datum.findtext("datatype") == "singlevaluelist"
    assert [(v.tag, v.findtext("key")) for v in datum.find("values")] == [("value", "wgs84"), ("value", "gcj02")]
    doc = body(api.get("/services/0301.json"))
    assert doc["service_code"] == "0301" and [a["code"] for a in doc["attributes"]] == ["building_unit_qr", "datum"]
    assert doc["attributes"][1]["values"][1] == {"key": "gcj02", "name": "GCJ-02（高德、腾讯地图、微信位置）"}
    assert_error(api.get("/services/9999.xml"), 404)
    assert_error(api.get("/services/01.json"), 404, "json")  # a major category is not a service
    assert_error(api.get("/services/" + "9" * 300 + ".json"), 404, "json")


# ------------------------------------------------------------------ POST and its errors


def test_post_without_or_with_a_bad_api_key_is_403_in_the_spec_format(api, world, key):
    form = {"service_code": "0101", "lat": "24.505", "long": "117.645", "description": "垃圾堆满了"}
    assert "api_key" in assert_error(api.post("/requests.xml", form), 403)
    assert_error(api.post("/requests.json", form), 403, "json")
    assert_error(api.post("/requests.json", {**form, "api_key": "wrong"}), 403, "json")
    assert_error(api.post("/requests.json", {**form, "api_key": key + "\x00"}), 403, "json")
    assert_error(api.post("/requests.json", {**form, "api_key": "x" * 5000}), 403, "json")
    api_keys.revoke(ApiKey.get(ApiKey.key_hash == api_keys.digest(key)).id)
    assert_error(api.post("/requests.xml", {**form, "api_key": key}), 403)
    # The key is checked before anything else: a bad key with a bad service code is still 403.
    assert_error(api.post("/requests.xml", {"api_key": "nope", "service_code": "9999"}), 403)
    assert Event.select().count() == 0


GOOD = {"service_code": "0101", "lat": "24.505", "long": "117.645", "description": "路口垃圾堆满了"}


@pytest.mark.parametrize("change, words", [
    ({"service_code": "9999"}, "service_code"),
    ({"service_code": "01"}, "service_code"),
    ({"service_code": ""}, "service_code"),
    ({"lat": "91", "long": "117.6"}, "lat"),
    ({"lat": "24.5", "long": "181"}, "lat"),
    ({"lat": "abc"}, "lat"),
    ({"lat": "NaN", "long": "NaN"}, "lat"),
    ({"lat": "1e2"}, "lat"),
    ({"lat": "2_4.5"}, "lat"),
    ({"long": ""}, "lat 和 long"),
    ({"description": "<script>alert(1)</script>"}, "HTML"),
    ({"description": "请看 <a href='http://x'>这里</a>"}, "HTML"),
    ({"description": "垃圾<br/>很多"}, "HTML"),
    ({"description": "x" * 4001}, "4000"),
    ({"description": "垃圾\x00"}, "控制字符"),
    ({"media_url": "javascript:alert(1)"}, "media_url"),
    ({"media_url": "file:///etc/passwd"}, "media_url"),
    ({"media_url": "http://"}, "media_url"),
    ({"attribute[colour]": "red"}, "colour"),
    ({"attribute[datum]": "bd09"}, "datum"),
    ({"attribute[datum][]": "gcj02"}, "datum"),
    ({"attribute": "x"}, "attribute"),
    ({"attribute[building_unit_qr]": "https://example.com/q/notatoken1"}, "二维码"),
    ({"lat": "", "long": "", "address_id": "12"}, "address_id"),
    ({"lat": "", "long": ""}, "位置"),
    ({"lat": "", "long": "", "address_string": "x" * 256}, "address_string"),
    ({"lat": "", "long": "", "address_string": "金源\n社区"}, "address_string"),
])
def test_bad_post_input_is_400_and_stores_nothing(api, world, key, change, words):
    form = {**GOOD, "api_key": key, **change}
    description = assert_error(api.post("/requests.xml", form), 400)
    assert words in description
    assert Event.select().count() == 0


def test_angle_brackets_in_plain_text_are_not_html(api, world, key):
    [created] = body(api.post("/requests.json", {**GOOD, "api_key": key, "description": "水温<30度，1 < 2 > 0"}))
    assert Event.get(Event.number == created["service_request_id"]).description == "水温<30度，1 < 2 > 0"


def test_post_body_must_be_form_data_and_small(api, world, key):
    response = api.post("/requests.json", data=json.dumps({**GOOD, "api_key": key}),
                        content_type="application/json")
    assert_error(response, 400, "json")
    huge = {**GOOD, "api_key": key, "description": "x" * (200 * 1024)}
    assert_error(api.post("/requests.xml", huge), 413)
    assert Event.select().count() == 0


def test_post_creates_a_request_visible_by_id_and_token_then_routed_by_a_worker(api, world, key, redis_conn):
    from rq import SimpleWorker

    from workers.queues import ROUTE, queue

    form = {**GOOD, "api_key": key, "media_url": "https://photos.example.com/a.jpg",
            "email": "someone@example.com", "phone": "13800138000", "first_name": "三", "last_name": "张"}
    response = api.post("/requests.json", form)
    assert response.status_code == 200
    [created] = body(response)
    assert set(created) == {"service_request_id", "token", "service_notice", "account_id"}
    number, token = created["service_request_id"], created["token"]
    assert number in created["service_notice"]
    event = Event.get(Event.number == number)
    assert (event.source, event.grid_id, event.category_id) == ("open311", world.grid_a.id, world.cat_photo.id)
    assert event.reporter_resident_id is None and event.reporter_staff_id is None
    # media_url kept with the submit step (same transaction), never fetched; contact fields not stored.
    [submitted] = EventStep.select().where(EventStep.event == event)
    assert submitted.action == "submit" and submitted.data == {"media_url": "https://photos.example.com/a.jpg"}
    stored = json.dumps([s.__data__ for s in EventStep.select()], default=str) + json.dumps(event.__data__, default=str)
    assert "13800138000" not in stored and "someone@example.com" not in stored

    root = xml(api.get(f"/requests/{number}.xml"))
    assert root.tag == "service_requests"
    [req] = root
    assert req.tag == "request" and [c.tag for c in req] == REQUEST_FIELDS
    assert req.findtext("status") == "open" and req.findtext("status_notes") == "待分派"
    assert req.findtext("agency_responsible") == ""
    assert ISO_WITH_ZONE.match(req.findtext("requested_datetime"))
    assert req.findtext("requested_datetime").endswith("+08:00")
    assert ISO_WITH_ZONE.match(req.findtext("expected_datetime"))
    assert float(req.findtext("lat")) == pytest.approx(24.505)

    token_root = xml(api.get(f"/tokens/{token}.xml"))
    assert token_root.tag == "service_requests"
    assert [(c.tag, [g.tag for g in c]) for c in token_root] == [("request", ["service_request_id", "token"])]
    assert token_root[0].findtext("service_request_id") == number
    assert body(api.get(f"/tokens/{token}.json")) == [{"service_request_id": number, "token": token}]

    # A real RQ worker drains the route queue the app's outbox relay filled.
    SimpleWorker([queue(ROUTE, redis_conn)], connection=redis_conn).work(burst=True)
    db.connect(reuse_if_open=True)
    assert Event.get_by_id(event.id).status == "assigned"
    [doc] = body(api.get(f"/requests/{number}.json"))
    assert doc["status"] == "open" and doc["status_notes"] == "待受理"
    assert doc["agency_responsible"] == "金源第一网格"
    assert doc["service_code"] == "0101" and doc["service_name"] == "暴露垃圾"
    assert doc["description"] == GOOD["description"]


def test_post_in_xml_with_gcj02_datum_and_empty_description(api, world, key):
    from backend.geo import wgs84_to_gcj02

    lat, lng = wgs84_to_gcj02(*world.in_b)
    form = {"api_key": key, "service_code": "0201", "lat": f"{lat:.7f}", "long": f"{lng:.7f}",
            "attribute[datum]": "gcj02", "description": ""}
    root = xml(api.post("/requests.xml", form))
    assert root.tag == "service_requests"
    [req] = root
    assert [c.tag for c in req] == ["service_request_id", "token", "service_notice", "account_id"]
    event = Event.get(Event.number == req.findtext("service_request_id"))
    assert event.grid_id == world.grid_b.id and event.raw_datum == "gcj02"
    assert event.description == "邻里纠纷"  # empty description → the service name


def test_building_unit_qr_places_the_report_without_coordinates(api, world, key):
    building = Building.create(area=world.grid_b, name="5号楼", address="金源社区5号楼", lat=24.506, lng=117.655)
    unit = BuildingUnit.create(building=building, name="1单元", qr_token="unitTOKEN123")
    form = {"api_key": key, "service_code": "0301", "description": "楼道堆满纸箱",
            "attribute[building_unit_qr]": "http://127.0.0.1:8000/q/unitTOKEN123"}
    [created] = body(api.post("/requests.json", form))
    event = Event.get(Event.number == created["service_request_id"])
    assert (event.building_id, event.building_unit_id, event.grid_id) == (building.id, unit.id, world.grid_b.id)


def test_address_string_resolves_against_buildings_or_goes_to_the_centre(api, world, key):
    Building.create(area=world.grid_a, name="3号楼", address="金源社区3号楼", lat=24.5051, lng=117.6451)
    Building.create(area=world.other_grid, name="3号楼", address="联三社区3号楼", lat=24.5251, lng=117.6451)
    form = {"api_key": key, "service_code": "0101", "description": "垃圾没人清"}
    [created] = body(api.post("/requests.json", {**form, "address_string": "金源社区 三号楼 2单元门口"}))
    assert "金源社区3号楼" in created["service_notice"]
    event = Event.get(Event.number == created["service_request_id"])
    assert event.grid_id == world.grid_a.id and (event.lat, event.lng) == (24.5051, 117.6451)
    assert event.address == "金源社区 三号楼 2单元门口" and event.location_confirmed is False

    # "3号楼" alone names two buildings: nothing is guessed; the centre places it.
    [vague] = body(api.post("/requests.json", {**form, "address_string": "3号楼"}))
    assert "综治中心" in vague["service_notice"]
    event = Event.get(Event.number == vague["service_request_id"])
    assert event.grid_id is None and event.lat is None and event.address == "3号楼"
    route_event(event.id)
    [doc] = body(api.get(f"/requests/{event.number}.json"))
    assert doc["agency_responsible"] == "漳州市综治中心" and doc["lat"] is None

    [unknown] = body(api.post("/requests.json", {**form, "address_string": "火星基地"}))
    assert "综治中心" in unknown["service_notice"]


def test_address_matcher_ranks_and_refuses_to_guess(api, world):
    a3 = Building.create(area=world.grid_a, name="3号楼", address="金源社区3号楼", lat=24.5051, lng=117.6451)
    b13 = Building.create(area=world.grid_b, name="13号楼", address="金源社区13号楼", lat=24.505, lng=117.655)
    Building.create(area=world.other_grid, name="3号楼", address="联三社区3号楼", lat=24.5251, lng=117.6451)
    assert unambiguous(match_address("金源社区三栋")).id == a3.id
    assert unambiguous(match_address("金源社区１３幢")).id == b13.id  # full-width digits, 幢 = 号楼
    assert unambiguous(match_address("3号楼")) is None  # two buildings, no area named
    grid = unambiguous(match_address("金源第二网格"))
    assert (grid.kind, grid.id, grid.grid_id) == ("area", world.grid_b.id, world.grid_b.id)
    community = unambiguous(match_address("金源社区"))
    assert (community.kind, community.id, community.grid_id) == ("area", world.community.id, None)
    assert match_address("") == [] and match_address("垃圾很多") == []
    assert match_address("<script>" * 100) == []


# ------------------------------------------------------------------ GET requests and filters


def test_default_window_is_the_last_90_days_newest_first(api, world):
    now = clock.now()
    with clock.frozen(now - dt.timedelta(days=100)):
        old = report(world, world.in_a)
    with clock.frozen(now - dt.timedelta(days=10)):
        recent = report(world, world.in_a)
    newest = report(world, world.in_b)
    doc = body(api.get("/requests.json"))
    assert [d["service_request_id"] for d in doc] == [newest.number, recent.number]
    assert old.number not in json.dumps(doc)
    root = xml(api.get("/requests.xml"))
    assert [r.tag for r in root] == ["request", "request"]
    assert all([c.tag for c in r] == REQUEST_FIELDS for r in root)


def test_date_window_filters_and_limits(api, world):
    base = dt.datetime(2026, 6, 1, 2, 0)  # 10:00 Beijing
    events = []
    for days in (0, 30, 60, 120):
        with clock.frozen(base + dt.timedelta(days=days)):
            events.append(report(world, world.in_a))

    def numbers(**query):
        return [d["service_request_id"] for d in body(api.get("/requests.json", **query))]

    assert numbers(start_date="2026-06-01T00:00:00+08:00", end_date="2026-07-15T00:00:00+08:00") == [
        events[1].number, events[0].number]
    assert numbers(start_date="2026-06-15T00:00:00Z") == [events[2].number, events[1].number]  # start + 90 days
    assert numbers(end_date="2026-09-29T23:00:00+08:00") == [events[3].number, events[2].number]  # end − 90 days
    assert numbers(start_date="2026-06-01 08:00", end_date="2026-06-01 09:59") == []  # naive = Beijing time
    assert numbers(start_date="2026-06-01 09:59", end_date="2026-06-01 10:00") == [events[0].number]
    assert numbers(start_date="2026-06-01T10:00:00 08:00",  # "+" sent unencoded arrives as a space
                   end_date="2026-06-01T10:00:01+08:00") == [events[0].number]
    for query in ({"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-05-01T00:00:00+08:00"},
                  {"start_date": "2026-06-02", "end_date": "2026-06-01"},
                  {"start_date": "yesterday"}, {"end_date": "2026-13-45"}, {"start_date": "0001-01-01"},
                  {"end_date": "9999-12-31T23:59:59+14:00"}, {"start_date": "2026-06-01T00:00:00+25:00"}):
        assert_error(api.get("/requests.json", **query), 400, "json")


def test_status_service_code_id_list_and_paging(api, world):
    open_a = report(world, world.in_a, code="0201")
    assigned = route_event(report(world, world.in_a, code="0101").id)
    closed = quick_record(world.worker_a, "门口垃圾已清理", lat=world.in_a[0], lng=world.in_a[1],
                          category_code="0201", media_ids=(), wechat_media_ids=("wx-photo",))
    rejected = route_event(report(world, world.in_a, code="0301").id)
    actions.perform(rejected.number, staff_actor(world.head), "reject", {"note": "不属于受理范围"})

    def numbers(**query):
        return {d["service_request_id"] for d in body(api.get("/requests.json", **query))}

    assert numbers(status="open") == {open_a.number, assigned.number}
    assert numbers(status="closed") == {closed.number, rejected.number}
    assert numbers(status="open,closed") == numbers()
    assert numbers(service_code="0201") == {open_a.number, closed.number}
    assert numbers(service_code="0201,0301", status="closed") == {closed.number, rejected.number}
    # The id list overrides every other filter (even a status that excludes them).
    assert numbers(service_request_id=f"{open_a.number}, {closed.number},nope", status="closed",
                   service_code="0101") == {open_a.number, closed.number}
    docs = {d["service_request_id"]: d for d in body(api.get("/requests.json"))}
    assert docs[closed.number]["status"] == "closed" and docs[closed.number]["status_notes"] == "已办结"
    assert docs[rejected.number]["status_notes"] == "不予受理"
    assert docs[assigned.number]["agency_responsible"] == "金源第一网格"

    everything = [d["service_request_id"] for d in body(api.get("/requests.json"))]
    pages = [[d["service_request_id"] for d in body(api.get("/requests.json", page=p, page_size=3))]
             for p in (1, 2, 3)]
    assert pages == [everything[:3], everything[3:], []]
    for query in ({"status": "pending"}, {"service_code": "9999"}, {"page": "0"}, {"page": "-1"},
                  {"page_size": "1001"}, {"page_size": "abc"}, {"page": "99999999999999999999"},
                  {"page": "٣"}, {"service_request_id": ",".join(["x"] * 1001)},
                  {"service_request_id": "x" * 21}, {"status": "open\x00"}):
        assert_error(api.get("/requests.json", **query), 400, "json")


def test_every_status_maps_to_open_or_closed_with_chinese_notes(api, world):
    resident = Resident.create(oa_openid="oa-me")
    original = route_event(report(world, world.in_a, code="0201", resident=resident).id)
    worker = staff_actor(world.worker_a)
    processing = route_event(report(world, world.in_a, code="0201").id)
    actions.perform(processing.number, worker, "accept")
    resolved = route_event(report(world, world.in_a, code="0201").id)
    actions.perform(resolved.number, worker, "accept")
    actions.perform(resolved.number, worker, "escalate", {"note": "需要社区协调"})
    actions.perform(resolved.number, staff_actor(world.head), "accept")
    actions.perform(resolved.number, staff_actor(world.head), "resolve", {"note": "已调解"})
    merged = route_event(report(world, world.in_a, code="0201").id)
    actions.perform(merged.number, worker, "merge", {"duplicate_of": original.number})
    withdrawn = report(world, world.in_a, code="0201", resident=resident)
    actions.perform(withdrawn.number, resident_actor(resident), "withdraw")
    docs = {d["service_request_id"]: d for d in body(api.get("/requests.json"))}
    expect = {original: ("open", "待受理"), processing: ("open", "处置中"), resolved: ("open", "待核查"),
              withdrawn: ("closed", "已撤回")}
    for event, (status, notes) in expect.items():
        assert (docs[event.number]["status"], docs[event.number]["status_notes"]) == (status, notes)
    assert docs[merged.number]["status"] == "closed"
    assert docs[merged.number]["status_notes"].startswith("已合并") and original.number in docs[merged.number]["status_notes"]
    assert docs[resolved.number]["agency_responsible"] == "金源社区"


def test_reporter_identity_never_exposed_and_numbers_masked(api, world):
    resident = Resident.create(oa_openid="oa-secret-openid", nickname="小明")
    event = report(world, world.in_a, resident=resident,
                   text="我是业主，电话13912345678，身份证350602199001011234，楼下一直吵")
    route_event(event.id)
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    raw = api.get(f"/requests/{event.number}.json").get_data(as_text=True)
    [doc] = json.loads(raw)
    for secret in ("oa-secret-openid", "13912345678", "350602199001011234", "张三", "小明"):
        assert secret not in raw
    assert "139****5678" in doc["description"] and "3506**********1234" in doc["description"]
    assert doc["agency_responsible"] == "金源第一网格"  # the unit, never the worker's name


def test_text_xml_cannot_carry_is_dropped_not_broken(api, world):
    event = report(world, world.in_a, text="垃圾\x0b很多\x1f！")
    root = xml(api.get(f"/requests/{event.number}.xml"))
    assert root[0].findtext("description") == "垃圾很多！"
    assert body(api.get(f"/requests/{event.number}.json"))[0]["description"] == "垃圾\x0b很多\x1f！"


# ------------------------------------------------------------------ unknown resources, methods, formats


@pytest.mark.parametrize("path, status, fmt", [
    ("/requests/20990101-0001.xml", 404, "xml"),
    ("/requests/20990101-0001.json", 404, "json"),
    ("/requests/" + "9" * 100 + ".json", 404, "json"),
    ("/tokens/doesnotexist123.json", 404, "json"),
    ("/tokens/bad!.xml", 404, "xml"),
    ("/nothing.json", 404, "json"),
    ("/services.html", 404, "xml"),
    ("/services", 404, "xml"),
    ("/", 404, "xml"),
    ("/requests/a/b.json", 404, "json"),
    ("/discovery.JSON", 404, "json"),
])
def test_unknown_resources_are_404_in_the_spec_format(api, world, path, status, fmt):
    assert_error(api.get(path), status, fmt)


def test_wrong_methods_are_405_in_the_spec_format(api, world):
    response = api.call("DELETE", "/requests.json")
    assert_error(response, 405, "json")
    assert response.headers["Allow"] == "GET, POST"
    assert_error(api.call("PUT", "/services.xml"), 405)
    assert_error(api.post("/discovery.xml", {}), 405)
    assert_error(api.post("/tokens/abcdefgh12.json", {}), 405, "json")


def test_hostile_query_strings_never_500(api, world):
    report(world, world.in_a)
    hostile = ["'; DROP TABLE event; --", "\x00", "%00", "<x>", "9" * 500, "-1", "1e309", "２０２６-０１-０１",
               "2026-06-01T00:00:00+08:00" * 3, ",,,,", "open,,closed,open"]
    names = ["service_request_id", "service_code", "start_date", "end_date", "status", "page", "page_size",
             "jurisdiction_id", "extensions"]
    for name in names:
        for value in hostile:
            for fmt in ("xml", "json"):
                response = api.get(f"/requests.{fmt}", **{name: value})
                assert response.status_code in (200, 400), (name, value, response.status_code)


def test_hostile_form_fields_never_500(api, world, key):
    hostile = ["'; DROP TABLE event; --", "\x00", "<x>", "9" * 5000, "-1", "1e309", "NaN", "\ufffe", "﻿",
               "２４.５", "attribute[", "http://", "😀" * 300]
    names = ["service_code", "lat", "long", "address_string", "address_id", "description", "media_url",
             "attribute[datum]", "attribute[building_unit_qr]", "attribute[]", "attribute[x][y]", "email",
             "jurisdiction_id"]
    for name in names:
        for value in hostile:
            before = Event.select().count()
            response = api.post("/requests.json", {**GOOD, "api_key": key, name: value})
            assert response.status_code in (200, 400), (name, value, response.status_code)
            assert Event.select().count() == before + (response.status_code == 200), (name, value)


def test_address_naming_a_grid_routes_the_request_to_that_grid(api, world, key):
    form = {"service_code": "0201", "description": "楼上太吵", "api_key": key, "address_string": "金源第二网格"}
    [created] = body(api.post("/requests.json", form))
    event = Event.get(Event.number == created["service_request_id"])
    assert event.grid_id == world.grid_b.id and event.lat is None
    assert "网格" in created["service_notice"]
