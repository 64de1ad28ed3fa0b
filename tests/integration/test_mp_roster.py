"""Population roster over HTTP: scope, masking, audit, and no plaintext ID number anywhere."""
from __future__ import annotations

import logging

import pytest

from backend.db import db
from backend.models import ALL_MODELS, AuditLog, Building, BuildingUnit, Person
from tests.factories import make_world
from tests.mp_fixtures import bind_mp_logins, live  # noqa: F401

ID_NUMBER = "350602199001011235"  # a valid GB 11643 number (check digit 5), invented
PHONE = "13912345678"
STAFF = ("worker_a", "worker_b", "head", "centre", "dept_staff", "other_worker")


class Roster:
    def __init__(self, live):
        self.world = make_world()
        bind_mp_logins(self.world, *STAFF)
        self.building = Building.create(area=self.world.grid_a, name="金源花园1号楼", address="金源路1号")
        self.unit = BuildingUnit.create(building=self.building, name="1单元", qr_token="unit-token-0001")
        other = Building.create(area=self.world.other_grid, name="联三新村2号楼")
        self.other_unit = BuildingUnit.create(building=other, name="1单元", qr_token="unit-token-0002")
        self.clients = {}
        for name in STAFF + ("resident",):
            client = live.client()
            client.login(name)
            self.clients[name] = client

    def __getitem__(self, name):
        return self.clients[name]


@pytest.fixture
def roster(live, sandbox, redis_conn):
    return Roster(live)


def add(client, unit_id, **fields):
    body = {"room": "302", "name": "陈阿婆", "kind": "户籍", "id_number": ID_NUMBER, "phone": PHONE,
            "care_tags": ["独居老人"], **fields}
    return client.post(f"/roster/units/{unit_id}/persons", body)


def test_add_list_update_move_out_masked_and_audited(roster):
    worker = roster["worker_a"]
    created = add(worker, roster.unit.id)
    assert created.status == 201, created
    person = created.json
    assert person["id_number_masked"] == "3506**********1235" and person["phone_masked"] == "139****5678"
    assert person["room"]["number"] == "302" and person["living"] is True
    listing = worker.get(f"/roster/units/{roster.unit.id}/persons")
    assert listing.status == 200
    assert [p["name"] for r in listing.json["rooms"] for p in r["persons"]] == ["陈阿婆"]
    one = worker.get(f"/roster/persons/{person['id']}")
    assert one.json["care_tags"] == ["独居老人"]
    patched = worker.patch(f"/roster/persons/{person['id']}", {"phone": "13800000001", "room": "401"})
    assert patched.status == 200 and patched.json["phone_masked"] == "138****0001"
    assert patched.json["room"]["number"] == "401" and patched.json["id_number_masked"] == "3506**********1235"
    found = worker.post("/roster/search", {"id_number": ID_NUMBER.lower()})
    assert [p["id"] for p in found.json["items"]] == [person["id"]]
    moved = worker.post(f"/roster/persons/{person['id']}/move-out")
    assert moved.status == 200 and moved.json["living"] is False and moved.json["moved_out_at"]
    assert worker.get(f"/roster/units/{roster.unit.id}/persons").json["rooms"][0]["persons"] == []
    everyone = worker.get(f"/roster/units/{roster.unit.id}/persons", params={"include_moved_out": "true"})
    assert len(everyone.json["rooms"][1]["persons"]) == 1
    assert worker.patch(f"/roster/persons/{person['id']}", {"name": "x"}).error_code == "moved_out"
    actions = [a.action for a in AuditLog.select().order_by(AuditLog.id)]
    assert actions == ["create", "list", "read", "update", "search", "move_out", "list", "list"]
    assert all(a.actor_staff_id == roster.world.worker_a.id for a in AuditLog.select())
    update = AuditLog.get(AuditLog.action == "update")
    assert update.detail == {"fields": ["phone", "room_number"]}  # names of fields, never values


def test_scope_and_roles(roster):
    person = add(roster["worker_a"], roster.unit.id).json
    assert roster["head"].get(f"/roster/persons/{person['id']}").status == 200  # community covers grid A
    assert roster["centre"].get(f"/roster/units/{roster.unit.id}/persons").status == 200
    denied = {
        "worker_b": 403, "other_worker": 403, "dept_staff": 403, "resident": 403,
    }
    for name, status in denied.items():
        client = roster[name]
        replies = [
            client.get(f"/roster/persons/{person['id']}"),
            client.get(f"/roster/units/{roster.unit.id}/persons"),
            add(client, roster.unit.id, id_number="350602198001011230"),
            client.patch(f"/roster/persons/{person['id']}", {"name": "改名"}),
            client.post(f"/roster/persons/{person['id']}/move-out"),
        ]
        for reply in replies:
            assert reply.status == status, (name, reply)
            assert "陈阿婆" not in str(reply.json)
        assert client.post("/roster/search", {"id_number": ID_NUMBER}).json.get("items", []) == []
    assert add(roster["worker_a"], roster.other_unit.id).status == 403
    assert roster["worker_a"].get("/roster/persons/999999").status == 404
    buildings = roster["worker_a"].get("/roster/buildings").json
    assert [b["name"] for b in buildings["items"]] == ["金源花园1号楼"] and buildings["total"] == 1
    assert roster["other_worker"].get("/roster/buildings").json["items"][0]["name"] == "联三新村2号楼"
    assert Person.get_by_id(person["id"]).name == "陈阿婆" and Person.select().count() == 1


@pytest.mark.parametrize("fields, code", [
    ({"id_number": "350602199001011234"}, "bad_id_number"),  # wrong check digit
    ({"id_number": "12345"}, "bad_id_number"),
    ({"phone": "call me"}, "bad_phone"),
    ({"phone": "13800138000123"}, "bad_phone"),  # 14 digits is no mobile number
    ({"phone": "12800138000"}, "bad_phone"),
    ({"phone": "0596-2123456"}, "bad_phone"),  # a landline: no SMS reaches it
    ({"kind": "外星人"}, "invalid_input"),
    ({"name": ""}, "invalid_input"),
    ({"room": "x" * 17}, "invalid_input"),
    ({"care_tags": ["t"] * 11}, "invalid_input"),
    ({"ssn": "1"}, "unknown_fields"),
])
def test_bad_person_input_stores_nothing(roster, fields, code):
    reply = add(roster["worker_a"], roster.unit.id, **fields)
    assert reply.status == 400 and reply.error_code == code, reply
    assert Person.select().count() == 0 and AuditLog.select().count() == 0
    assert "350602199001011234" not in str(reply.json) and ID_NUMBER not in str(reply.json)


def test_duplicate_registration_in_the_area_is_refused(roster):
    assert add(roster["worker_a"], roster.unit.id).status == 201
    again = add(roster["worker_a"], roster.unit.id, room="101", name="陈阿婆2")
    assert again.status == 409 and again.error_code == "already_registered"
    assert Person.select().count() == 1


def test_an_id_number_never_appears_in_plaintext(roster, caplog):
    caplog.set_level(logging.DEBUG)
    worker = roster["worker_a"]
    bodies = [add(worker, roster.unit.id)]
    pid = bodies[0].json["id"]
    bodies += [
        worker.get(f"/roster/units/{roster.unit.id}/persons"),
        worker.get(f"/roster/persons/{pid}"),
        worker.patch(f"/roster/persons/{pid}", {"id_number": ID_NUMBER, "care_tags": []}),
        worker.post("/roster/search", {"id_number": ID_NUMBER}),
        worker.post("/roster/search", {"phone": PHONE}),
        add(worker, roster.unit.id, room="501"),  # refused duplicate: the error must not echo it
        add(worker, roster.unit.id, id_number=ID_NUMBER[:-1] + "X"),  # refused bad number
        roster["other_worker"].post("/roster/search", {"id_number": ID_NUMBER}),
        worker.post(f"/roster/persons/{pid}/move-out"),
    ]
    for reply in bodies:
        assert ID_NUMBER not in reply.body.decode() and PHONE not in reply.body.decode(), reply
    assert ID_NUMBER not in caplog.text and PHONE not in caplog.text
    for model in ALL_MODELS:  # every column of every row, as the database returns it
        cursor = db.execute_sql(f'SELECT * FROM "{model._meta.table_name}"')
        for row in cursor.fetchall():
            assert ID_NUMBER not in repr(row) and PHONE not in repr(row), model.__name__
    assert Person.get_by_id(pid).id_number_enc.startswith("v1:")
