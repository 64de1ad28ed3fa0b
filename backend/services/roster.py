"""Population roster (实有人口) kept by grid staff: list, add, update, move out, search (DESIGN §6).

Rules every function here keeps:
* ID numbers and phones are stored only as AES-GCM ciphertext (``FieldCipher``) plus an HMAC
  blind index for equality look-up; they leave this module only masked (``PersonView``).
* Every read or write of a person record writes one ``AuditLog`` row in the same
  transaction (fail closed: no audit row, no data). Audit details name fields, never values.
* Staff see and change only buildings inside their own area subtree; department staff,
  whose work is by category rather than by place, have no roster access.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from backend import clock, config
from backend.crypto import FieldCipher, mask_id_number, mask_phone
from backend.phones import normalise_mobile
from backend.db import transaction
from backend.errors import Conflict, DomainError, Forbidden, NotFound
from backend.models import Area, AuditLog, Building, BuildingUnit, Person, Room, Staff
from backend.models.buildings import PERSON_KINDS
from backend.models.people import ROLE_NAMES
from backend.services.queries import MAX_PAGE_SIZE, Page

ROSTER_ROLES = ("grid_worker", "community_head", "centre_operator", "admin")
ID_CONTEXT = "person.id_number"
PHONE_CONTEXT = "person.phone"
MAX_CARE_TAGS = 10
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class PersonView:
    """What may leave the service: identifiers masked."""

    id: int
    name: str
    kind: str
    id_number_masked: str | None
    phone_masked: str | None
    care_tags: list[str]
    room_id: int
    room_number: str
    unit_id: int
    unit_name: str
    building_id: int
    building_name: str
    moved_in_at: object
    moved_out_at: object
    updated_at: object


@dataclass
class PersonInput:
    """Fields to set; ``None`` means "leave unchanged" on update ("" clears id_number/phone)."""

    name: str | None = None
    kind: str | None = None
    id_number: str | None = None
    phone: str | None = None
    care_tags: list[str] | None = None
    room_number: str | None = None
    set_fields: set[str] = field(default_factory=set)


@functools.lru_cache(maxsize=4)
def _cipher_for(key: str) -> FieldCipher:
    return FieldCipher.from_key(key)


def cipher() -> FieldCipher:
    return _cipher_for(config.current().field_key)


# ---- validation ------------------------------------------------------------------------

def valid_id_number(value: str) -> bool:
    """GB 11643 citizen number: 17 digits + check character (ISO 7064 MOD 11-2)."""
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == value[17]


def normalise_id_number(raw: str, kind: str) -> str:
    value = re.sub(r"\s+", "", raw or "").upper()
    if kind == "境外":
        if not re.fullmatch(r"[A-Z0-9]{5,20}", value):
            raise DomainError("bad_id_number", "证件号码格式不对（境外人员填护照号，5到20位字母或数字）")
        return value
    if not valid_id_number(value):
        raise DomainError("bad_id_number", "身份证号码不对，请核对18位号码")
    return value


def normalise_phone(raw: str) -> str:
    value = normalise_mobile(raw)
    if value is None:
        raise DomainError("bad_phone", "手机号格式不对，请填11位手机号")
    return value


def _paging(page, page_size) -> tuple[int, int]:
    if not (isinstance(page, int) and isinstance(page_size, int) and page >= 1
            and 1 <= page_size <= MAX_PAGE_SIZE):
        raise DomainError("bad_paging", f"页码从 1 开始，每页 1 到 {MAX_PAGE_SIZE} 条")
    return page, page_size


def _clean_text(value: str, label: str, limit: int) -> str:
    value = (value or "").strip()
    if not value or len(value) > limit or _CONTROL.search(value):
        raise DomainError("bad_" + label, f"{_LABELS[label]}不能为空，且不超过{limit}个字")
    return value


_LABELS = {"name": "姓名", "room": "房号", "tag": "关怀标签"}


def _clean_tags(tags: list[str]) -> list[str]:
    if len(tags) > MAX_CARE_TAGS:
        raise DomainError("bad_tag", f"关怀标签最多{MAX_CARE_TAGS}个")
    cleaned = [_clean_text(t, "tag", 16) for t in tags]
    return list(dict.fromkeys(cleaned))


# ---- scope -----------------------------------------------------------------------------

def _scope_path(staff: Staff) -> str:
    if staff.role not in ROSTER_ROLES:
        raise Forbidden("roster_forbidden", "您的岗位不能查看实有人口信息")
    if not staff.area_id:
        raise Forbidden("roster_forbidden", "您还没有分配负责区域，不能查看实有人口信息")
    return staff.area.path


def _unit_in_scope(staff: Staff, unit_id: int) -> BuildingUnit:
    path = _scope_path(staff)
    unit = (BuildingUnit.select(BuildingUnit, Building, Area)
            .join(Building).join(Area).where(BuildingUnit.id == unit_id).first())
    if unit is None:
        raise NotFound("unit_not_found", "没有找到这个单元")
    if not unit.building.area.path.startswith(path):
        raise Forbidden("out_of_area", "这个楼栋不在您负责的区域")
    return unit


def _person_in_scope(staff: Staff, person_id: int) -> Person:
    path = _scope_path(staff)
    person = (Person.select(Person, Room, BuildingUnit, Building, Area)
              .join(Room).join(BuildingUnit).join(Building).join(Area)
              .where(Person.id == person_id).first())
    if person is None:
        raise NotFound("person_not_found", "没有找到这个人员")
    if not person.room.unit.building.area.path.startswith(path):
        raise Forbidden("out_of_area", "这个人员不在您负责的区域")
    return person


def _audit(staff: Staff, action: str, entity: str, entity_id: int | None, **detail) -> None:
    AuditLog.create(actor_staff_id=staff.id, actor_label=f"{ROLE_NAMES.get(staff.role, staff.role)} {staff.name}"[:64],
                    action=action, entity=entity, entity_id=entity_id, detail=detail or None)


def _view(person: Person) -> PersonView:
    c = cipher()
    room = person.room
    unit = room.unit
    building = unit.building
    return PersonView(
        id=person.id, name=person.name, kind=person.kind,
        id_number_masked=mask_id_number(c.decrypt(person.id_number_enc, ID_CONTEXT)),
        phone_masked=mask_phone(c.decrypt(person.phone_enc, PHONE_CONTEXT)),
        care_tags=list(person.care_tags or []), room_id=room.id, room_number=room.number,
        unit_id=unit.id, unit_name=unit.name, building_id=building.id, building_name=building.name,
        moved_in_at=person.moved_in_at, moved_out_at=person.moved_out_at, updated_at=person.updated_at,
    )


# ---- reads -----------------------------------------------------------------------------

def list_buildings(staff: Staff, page=1, page_size=20, name: str | None = None) -> Page:
    """Buildings in the staff member's area subtree (no person data, so not audited)."""
    path = _scope_path(staff)
    page, page_size = _paging(page, page_size)
    query = Building.select(Building, Area).join(Area).where(Area.path.startswith(path))
    if name:
        query = query.where(Building.name.contains(name))
    total = query.count()
    items = list(query.order_by(Area.sort_order, Area.code, Building.name, Building.id).paginate(page, page_size))
    return Page(items, total, page, page_size)


def unit_roster(staff: Staff, unit_id: int, include_moved_out: bool = False):
    """(unit, [(room, [PersonView])]) for one entrance; one audit row names every person shown."""
    with transaction():
        unit = _unit_in_scope(staff, unit_id)
        rooms = list(Room.select().where(Room.unit == unit).order_by(Room.number, Room.id))
        query = (Person.select(Person, Room, BuildingUnit, Building)
                 .join(Room).join(BuildingUnit).join(Building)
                 .where(Room.unit == unit).order_by(Room.number, Person.id))
        if not include_moved_out:
            query = query.where(Person.moved_out_at.is_null())
        by_room: dict[int, list[PersonView]] = {r.id: [] for r in rooms}
        for person in query:
            by_room[person.room_id].append(_view(person))
        shown = [p.id for views in by_room.values() for p in views]
        _audit(staff, "list", "building_unit", unit.id, person_ids=shown)
    return unit, [(room, by_room[room.id]) for room in rooms]


def read_person(staff: Staff, person_id: int) -> PersonView:
    with transaction():
        person = _person_in_scope(staff, person_id)
        _audit(staff, "read", "person", person.id)
        return _view(person)


def search(staff: Staff, id_number: str | None = None, phone: str | None = None) -> list[PersonView]:
    """Exact look-up by ID number or phone (blind index) inside the staff member's area."""
    path = _scope_path(staff)
    c = cipher()
    query = (Person.select(Person, Room, BuildingUnit, Building, Area)
             .join(Room).join(BuildingUnit).join(Building).join(Area)
             .where(Area.path.startswith(path)))
    if id_number:
        value = re.sub(r"\s+", "", id_number).upper()
        query = query.where(Person.id_number_index == c.blind_index(value, ID_CONTEXT))
    elif phone:
        query = query.where(Person.phone_index == c.blind_index(normalise_phone(phone), PHONE_CONTEXT))
    else:
        raise DomainError("search_key_required", "请输入身份证号或电话号码")
    with transaction():
        found = [_view(p) for p in query.order_by(Person.id).limit(50)]
        _audit(staff, "search", "person", None, by="id_number" if id_number else "phone",
               person_ids=[p.id for p in found])
    return found


# ---- writes ----------------------------------------------------------------------------

def _encrypted(data: PersonInput, kind: str) -> dict:
    """Column values for the identifiers present in ``data``."""
    c = cipher()
    values: dict = {}
    if "id_number" in data.set_fields:
        if data.id_number:
            number = normalise_id_number(data.id_number, kind)
            values.update(id_number_enc=c.encrypt(number, ID_CONTEXT),
                          id_number_index=c.blind_index(number, ID_CONTEXT))
        else:
            values.update(id_number_enc=None, id_number_index=None)
    if "phone" in data.set_fields:
        if data.phone:
            phone = normalise_phone(data.phone)
            values.update(phone_enc=c.encrypt(phone, PHONE_CONTEXT), phone_index=c.blind_index(phone, PHONE_CONTEXT))
        else:
            values.update(phone_enc=None, phone_index=None)
    return values


def _check_kind(kind: str) -> str:
    if kind not in PERSON_KINDS:
        raise DomainError("bad_kind", "人员类别只能是：" + "、".join(PERSON_KINDS))
    return kind


def _room(unit: BuildingUnit, number: str) -> Room:
    number = _clean_text(number, "room", 16)
    room, _ = Room.get_or_create(unit=unit, number=number)
    return room


def _check_not_registered(path: str, index: str | None, except_id: int | None = None) -> None:
    if not index:
        return
    query = (Person.select(Person.id).join(Room).join(BuildingUnit).join(Building).join(Area)
             .where((Person.id_number_index == index) & Person.moved_out_at.is_null()
                    & Area.path.startswith(path)))
    if except_id is not None:
        query = query.where(Person.id != except_id)
    if query.exists():
        raise Conflict("already_registered", "这个证件号码已经登记在您辖区的住户中，请勿重复登记")


def add_person(staff: Staff, unit_id: int, data: PersonInput) -> PersonView:
    kind = _check_kind(data.kind or "户籍")
    name = _clean_text(data.name, "name", 64)
    tags = _clean_tags(data.care_tags or [])
    data.set_fields |= {"id_number", "phone"}
    values = _encrypted(data, kind)
    now = clock.now()
    with transaction():
        unit = _unit_in_scope(staff, unit_id)
        _check_not_registered(unit.building.area.path, values.get("id_number_index"))
        room = _room(unit, data.room_number or "")
        person = Person.create(room=room, name=name, kind=kind, care_tags=tags, moved_in_at=now,
                               updated_at=now, **values)
        _audit(staff, "create", "person", person.id, unit_id=unit.id,
               fields=sorted(k for k in ("id_number", "phone") if getattr(data, k)))
        return _view(Person.get_by_id(person.id))


def update_person(staff: Staff, person_id: int, data: PersonInput) -> PersonView:
    if not data.set_fields:
        raise DomainError("nothing_to_update", "没有要修改的内容")
    with transaction():
        person = _person_in_scope(staff, person_id)
        if person.moved_out_at is not None:
            raise DomainError("moved_out", "这个人员已经迁出，不能修改")
        kind = _check_kind(data.kind) if "kind" in data.set_fields else person.kind
        changes: dict = {"updated_at": clock.now()}
        if "name" in data.set_fields:
            changes["name"] = _clean_text(data.name, "name", 64)
        if "kind" in data.set_fields:
            changes["kind"] = kind
        if "care_tags" in data.set_fields:
            changes["care_tags"] = _clean_tags(data.care_tags or [])
        if "kind" in data.set_fields and "id_number" not in data.set_fields and person.id_number_enc:
            # The number's format depends on the kind: re-check the stored one.
            normalise_id_number(cipher().decrypt(person.id_number_enc, ID_CONTEXT), kind)
        changes.update(_encrypted(data, kind))
        unit = person.room.unit
        if "id_number_index" in changes:
            _check_not_registered(unit.building.area.path, changes["id_number_index"], except_id=person.id)
        if "room_number" in data.set_fields:
            changes["room"] = _room(unit, data.room_number or "")
        Person.update(changes).where(Person.id == person.id).execute()
        _audit(staff, "update", "person", person.id, fields=sorted(data.set_fields))
        return _view(_person_in_scope(staff, person.id))


def move_out(staff: Staff, person_id: int) -> PersonView:
    with transaction():
        person = _person_in_scope(staff, person_id)
        if person.moved_out_at is not None:
            raise DomainError("moved_out", "这个人员已经迁出")
        now = clock.now()
        Person.update(moved_out_at=now, updated_at=now).where(Person.id == person.id).execute()
        _audit(staff, "move_out", "person", person.id)
        return _view(_person_in_scope(staff, person.id))
