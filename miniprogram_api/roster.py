"""Population roster (实有人口) for staff on their phones: buildings, a unit's rooms and people.

All rules (scope, encryption, masking, audit) live in ``backend.services.roster``; the
responses carry only the masked identifiers it returns. ID numbers and phones travel only
in request bodies — never in URLs, which end up in access logs.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from backend import clock
from backend.models import BuildingUnit
from backend.models.buildings import PERSON_KINDS
from backend.services import roster
from miniprogram_api.api import Api, Call
from miniprogram_api.places import area_ref
from miniprogram_api.schemas import AreaRef, Input, Output, PageQuery, Timestamp, UnitRef, text

api = Api()
PersonKind = Literal[PERSON_KINDS]  # type: ignore[valid-type]
Tags = Annotated[list[text(16, 1)], Field(max_length=roster.MAX_CARE_TAGS)]


class BuildingsQuery(PageQuery):
    name: text(64) | None = Field(None, description="part of the building name")


class RosterBuildingOut(Output):
    id: int
    name: str
    address: str | None
    grid: AreaRef
    units: list[UnitRef]


class RosterBuildingPage(Output):
    items: list[RosterBuildingOut]
    total: int
    page: int
    page_size: int


class RoomRef(Output):
    id: int
    number: str


class BuildingRef(Output):
    id: int
    name: str


class PersonOut(Output):
    id: int
    name: str
    kind: str
    id_number_masked: str | None = Field(description="e.g. 3506**********1234; never the full number")
    phone_masked: str | None = Field(description="e.g. 138****8000")
    care_tags: list[str]
    room: RoomRef
    unit: UnitRef
    building: BuildingRef
    living: bool
    moved_in_at: Timestamp
    moved_out_at: Timestamp | None
    updated_at: Timestamp


class RoomOut(Output):
    id: int
    number: str
    persons: list[PersonOut]


class UnitRosterOut(Output):
    unit: UnitRef
    building: BuildingRef
    rooms: list[RoomOut]


class UnitRosterQuery(Input):
    include_moved_out: bool = False


class PersonIn(Input):
    room: text(16, 1) = Field(description="room number; created in this unit if new")
    name: text(64, 1)
    kind: PersonKind = "户籍"
    id_number: text(32, 1) | None = Field(None, description="18-digit citizen number (境外: passport)")
    phone: text(32, 1) | None = None
    care_tags: Tags = []


class PersonPatch(Input):
    room: text(16, 1) | None = None
    name: text(64, 1) | None = None
    kind: PersonKind | None = None
    id_number: text(32) | None = Field(None, description='"" clears it')
    phone: text(32) | None = Field(None, description='"" clears it')
    care_tags: Tags | None = None


class SearchIn(Input):
    id_number: text(32, 1) | None = None
    phone: text(32, 1) | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.id_number is None) == (self.phone is None):
            raise ValueError("请输入身份证号或电话号码（二选一）")
        return self


class PersonList(Output):
    items: list[PersonOut]


def person_out(view: roster.PersonView) -> PersonOut:
    return PersonOut(
        id=view.id, name=view.name, kind=view.kind, id_number_masked=view.id_number_masked,
        phone_masked=view.phone_masked, care_tags=view.care_tags,
        room=RoomRef(id=view.room_id, number=view.room_number), unit=UnitRef(id=view.unit_id, name=view.unit_name),
        building=BuildingRef(id=view.building_id, name=view.building_name), living=view.moved_out_at is None,
        moved_in_at=clock.iso(view.moved_in_at), moved_out_at=clock.iso(view.moved_out_at),
        updated_at=clock.iso(view.updated_at),
    )


def _input(model) -> roster.PersonInput:
    fields = set(model.model_fields_set)
    data = roster.PersonInput(name=model.name, kind=model.kind, id_number=model.id_number, phone=model.phone,
                              care_tags=model.care_tags, room_number=model.room)
    data.set_fields = {("room_number" if f == "room" else f) for f in fields}
    return data


ROSTER_ERRORS = (404, 409)


@api.operation("GET", "/roster/buildings", summary="我辖区的楼栋（含单元）", tag="roster", auth="staff",
               query=BuildingsQuery, response=RosterBuildingPage)
def buildings(call: Call):
    q = call.query
    page = roster.list_buildings(call.principal.staff, q.page, q.page_size, q.name)
    items = [RosterBuildingOut(id=b.id, name=b.name, address=b.address, grid=area_ref(b.area),
                               units=[UnitRef(id=u.id, name=u.name) for u in b.units.order_by(BuildingUnit.name, BuildingUnit.id)])
             for b in page.items]
    return RosterBuildingPage(items=items, total=page.total, page=page.page, page_size=page.page_size)


@api.operation("GET", "/roster/units/<int:unit_id>/persons", summary="一个单元的住户（按房间，证件号脱敏；留痕）",
               tag="roster", auth="staff", query=UnitRosterQuery, response=UnitRosterOut)
def unit_persons(call: Call):
    unit, rooms = roster.unit_roster(call.principal.staff, call.path["unit_id"], call.query.include_moved_out)
    return UnitRosterOut(unit=UnitRef(id=unit.id, name=unit.name),
                         building=BuildingRef(id=unit.building.id, name=unit.building.name),
                         rooms=[RoomOut(id=room.id, number=room.number, persons=[person_out(p) for p in people])
                                for room, people in rooms])


@api.operation("POST", "/roster/units/<int:unit_id>/persons", summary="登记住户", tag="roster", auth="staff",
               body=PersonIn, ok=201, response=PersonOut, errors=ROSTER_ERRORS, limit="60/minute")
def add_person(call: Call):
    return person_out(roster.add_person(call.principal.staff, call.path["unit_id"], _input(call.body)))


@api.operation("GET", "/roster/persons/<int:person_id>", summary="一位住户（留痕）", tag="roster", auth="staff",
               response=PersonOut)
def get_person(call: Call):
    return person_out(roster.read_person(call.principal.staff, call.path["person_id"]))


@api.operation("PATCH", "/roster/persons/<int:person_id>", summary="修改住户信息（留痕）", tag="roster",
               auth="staff", body=PersonPatch, response=PersonOut, errors=ROSTER_ERRORS, limit="60/minute")
def update_person(call: Call):
    return person_out(roster.update_person(call.principal.staff, call.path["person_id"], _input(call.body)))


@api.operation("POST", "/roster/persons/<int:person_id>/move-out", summary="迁出（留痕）", tag="roster",
               auth="staff", response=PersonOut, errors=ROSTER_ERRORS)
def move_out(call: Call):
    return person_out(roster.move_out(call.principal.staff, call.path["person_id"]))


@api.operation("POST", "/roster/search", summary="按身份证号或电话查找我辖区的住户（留痕）", tag="roster",
               auth="staff", body=SearchIn, response=PersonList, limit="30/minute")
def search(call: Call):
    found = roster.search(call.principal.staff, id_number=call.body.id_number, phone=call.body.phone)
    return PersonList(items=[person_out(v) for v in found])
