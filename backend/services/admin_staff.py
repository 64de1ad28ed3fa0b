"""Staff administration for the console: accounts, roles, areas, console passwords.

An admin manages only staff inside their own area subtree, and can place staff only there.
A role fixes which level of area the person belongs to (a 网格员 sits in a grid, a 社区负责人
in a community, …), so task lists and scope checks stay meaningful. Phones are stored
encrypted with their blind index (the mini-program binds staff by the phone WeChat vouches
for, ``backend.services.mp_binding``). There is no login or activity statistic anywhere.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import peewee

from backend import config
from backend.crypto import FieldCipher, mask_phone
from backend.phones import normalise_mobile
from backend.db import transaction
from backend.errors import Conflict, DomainError, Forbidden, NotFound
from backend.models import Area, Department, Staff
from backend.models.people import ROLE_NAMES, ROLES
from backend.passwords import DEMO_PASSWORD, check_password, hash_password
from backend.services.mp_binding import STAFF_PHONE_CONTEXT

CONSOLE_ROLES = ("centre_operator", "community_head", "admin")
ROLE_LEVELS = {
    "grid_worker": ("grid",),
    "community_head": ("community",),
    "centre_operator": ("street", "district", "city"),
    "department_staff": ("street", "district", "city"),
    "admin": ("street", "district", "city"),
}
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
MIN_PASSWORD = 8
MIN_OWN_PASSWORD = 10  # what a person chooses for themselves (an admin's reset is one-time anyway)


class PasswordRefused(DomainError):
    pass


@dataclass
class StaffForm:
    name: str
    role: str
    area_id: int | None
    department_id: int | None = None
    username: str | None = None
    password: str | None = None
    phone: str | None = None
    active: bool = True


def _cipher() -> FieldCipher:
    return FieldCipher.from_key(config.current().field_key)


def list_staff(scope_path: str | None, role: str | None = None) -> list[Staff]:
    query = (Staff.select(Staff, Area).join(Area, peewee.JOIN.LEFT_OUTER, on=(Staff.area == Area.id)))
    if scope_path:
        query = query.where(Area.path.startswith(scope_path))
    if role:
        query = query.where(Staff.role == role)
    return list(query.order_by(Area.path, Staff.role, Staff.id))


def masked_phone(staff: Staff) -> str | None:
    if not staff.phone_enc:
        return None
    return mask_phone(_cipher().decrypt(staff.phone_enc, STAFF_PHONE_CONTEXT))


def _validate(form: StaffForm, scope_path: str | None, staff_id: int | None) -> tuple[Area, Department | None]:
    name = (form.name or "").strip()
    if not name or len(name) > 64:
        raise DomainError("bad_name", "请填写姓名（64 字以内）")
    if form.role not in ROLES:
        raise DomainError("bad_role", "角色不正确")
    area = Area.get_or_none(Area.id == form.area_id) if form.area_id else None
    if area is None:
        raise DomainError("area_required", "请选择所属区域")
    if scope_path and not area.path.startswith(scope_path):
        raise Forbidden("outside_scope", "只能把人员放在您管辖的区域内")
    if area.level not in ROLE_LEVELS[form.role]:
        raise DomainError("bad_role_area", f"{ROLE_NAMES[form.role]}应属于"
                          + "或".join({"grid": "网格", "community": "社区", "street": "街道",
                                       "district": "区", "city": "市"}[lv] for lv in ROLE_LEVELS[form.role]))
    department = None
    if form.role == "department_staff":
        department = Department.get_or_none(Department.id == form.department_id) if form.department_id else None
        if department is None:
            raise DomainError("department_required", "部门人员请选择所属部门")
    username = (form.username or "").strip() or None
    if username is not None:
        if not USERNAME_RE.match(username):
            raise DomainError("bad_username", "登录名为 3–64 位字母、数字或 _ . -")
        clash = Staff.select().where(Staff.username == username)
        if staff_id is not None:
            clash = clash.where(Staff.id != staff_id)
        if clash.exists():
            raise Conflict("username_taken", "这个登录名已被使用")
    if form.password and len(form.password) < MIN_PASSWORD:
        raise DomainError("weak_password", f"密码至少 {MIN_PASSWORD} 位")
    if form.phone and normalise_mobile(form.phone) is None:
        raise DomainError("bad_phone", "手机号格式不对，请填11位手机号")
    return area, department


def create_staff(form: StaffForm, scope_path: str | None) -> Staff:
    area, department = _validate(form, scope_path, None)
    fields = {
        "name": form.name.strip(), "role": form.role, "area": area, "department": department,
        "username": (form.username or "").strip() or None, "active": True,
    }
    if form.password:  # set by an admin for someone else: one-time, changed at first login
        fields["password_hash"] = hash_password(form.password)
        fields["password_change_required"] = True
    if form.phone:
        fields["phone_enc"], fields["phone_index"] = _sealed_phone(form.phone)
    with transaction():
        return Staff.create(**fields)


def _sealed_phone(phone: str) -> tuple[str, str]:
    """The phone as stored: encrypted, and its blind index — of the number in its one form."""
    cipher, mobile = _cipher(), normalise_mobile(phone)
    return cipher.encrypt(mobile, STAFF_PHONE_CONTEXT), cipher.blind_index(mobile, STAFF_PHONE_CONTEXT)


def get_in_scope(staff_id: int, scope_path: str | None) -> Staff:
    staff = Staff.get_or_none(Staff.id == staff_id)
    if staff is None or (scope_path and not (staff.area_id and staff.area.path.startswith(scope_path))):
        raise NotFound("staff_not_found", "找不到这位工作人员")
    return staff


def update_staff(staff_id: int, form: StaffForm, scope_path: str | None, acting_staff_id: int) -> Staff:
    staff = get_in_scope(staff_id, scope_path)
    area, department = _validate(form, scope_path, staff_id)
    if staff.id == acting_staff_id and (form.role != staff.role or not form.active):
        raise DomainError("self_lockout", "不能修改自己的角色或停用自己的账号")
    changes = {
        Staff.name: form.name.strip(), Staff.role: form.role, Staff.area: area.id,
        Staff.department: department.id if department else None, Staff.active: bool(form.active),
        Staff.username: (form.username or "").strip() or None,
    }
    if form.password:
        changes[Staff.password_hash] = hash_password(form.password)
        changes[Staff.password_change_required] = staff.id != acting_staff_id
    if form.phone:
        changes[Staff.phone_enc], changes[Staff.phone_index] = _sealed_phone(form.phone)
    with transaction():
        Staff.update(changes).where(Staff.id == staff.id).execute()
    return Staff.get_by_id(staff.id)


def departments_in_scope(scope_path: str | None) -> list[Department]:
    query = Department.select(Department, Area).join(Area, peewee.JOIN.LEFT_OUTER,
                                                    on=(Department.area == Area.id))
    if scope_path:
        query = query.where(Area.path.startswith(scope_path))
    return list(query.order_by(Area.path, Department.sort_order, Department.id))


def change_own_password(staff_id: int, current: str, new: str, repeat: str) -> Staff:
    """A console user's own new password; clears ``password_change_required``."""
    staff = Staff.get_or_none((Staff.id == staff_id) & (Staff.active == True))  # noqa: E712
    if staff is None or len(current or "") > 256 or not check_password(staff.password_hash, current or ""):
        raise PasswordRefused("wrong_password", "当前密码不正确")
    new = new or ""
    if new != (repeat or ""):
        raise PasswordRefused("password_mismatch", "两次输入的新密码不一样")
    if len(new) < MIN_OWN_PASSWORD or len(new) > 256:
        raise PasswordRefused("weak_password", f"新密码至少 {MIN_OWN_PASSWORD} 位")
    if new == current or new == DEMO_PASSWORD or len(set(new)) < 4 or new.isdigit() and len(set(new)) < 6:
        raise PasswordRefused("weak_password", "这个密码太容易被猜到，请换一个")
    if staff.username and staff.username.lower() in new.lower():
        raise PasswordRefused("weak_password", "密码里不要包含登录名")
    with transaction():
        Staff.update(password_hash=hash_password(new), password_change_required=False).where(
            Staff.id == staff.id).execute()
    return Staff.get_by_id(staff.id)
