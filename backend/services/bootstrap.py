"""``python -m server init``: what a real deployment needs before anyone can log in, nothing else.

After the migrations (run by the command): the default category tree, the top of the area tree
(the admin's scope — a city, district or street; everything below it is imported from GeoJSON)
and the first admin, whose login is given on the command line and whose password is random,
printed once and changed at first login (``Staff.password_change_required``). Re-running is
harmless: what exists is kept, an existing admin's password is only replaced on request.
Demo data is ``seed --demo``'s business, and that refuses to run in production.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from backend import taxonomy
from backend.db import transaction
from backend.errors import Conflict, DomainError
from backend.models import Area, Category, Staff
from backend.passwords import hash_password
from backend.services.admin_staff import USERNAME_RE

TOP_LEVELS = ("city", "district", "street")
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # nothing to misread


@dataclass
class InitResult:
    categories_created: int = 0
    area: Area | None = None
    area_created: bool = False
    admin: Staff | None = None
    admin_created: bool = False
    password: str | None = None  # the one-time password, when one was set now
    notes: list[str] = field(default_factory=list)


def one_time_password() -> str:
    """12 characters in three groups (≈ 69 bits), easy to read out: ``k7Pq-x3Mz-R9ta``."""
    chars = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(12))
    return "-".join(chars[i:i + 4] for i in range(0, 12, 4))


def seed_categories() -> int:
    """The default two-level category tree (backend/taxonomy.py); existing codes are left alone."""
    created = 0
    for row in taxonomy.DEFAULT_CATEGORIES:
        if Category.select().where(Category.code == row["code"]).exists():
            continue
        parent = Category.get(Category.code == row["parent"]) if row["parent"] else None
        fields = {k: v for k, v in row.items() if k not in ("parent", "default_department")}
        Category.create(parent=parent, default_department_kind=row["default_department"],
                        sort_order=int(row["code"]), **fields)
        created += 1
    return created


def _top_area(code: str | None, name: str | None, level: str) -> tuple[Area, bool]:
    roots = list(Area.select().where(Area.parent.is_null()).order_by(Area.id))
    if roots:
        if code and roots[0].code != code:
            raise Conflict("other_top_area", f"已有最上级区域 {roots[0].code} {roots[0].name}，"
                                             f"不能再建 {code}；请去掉 --area-code 或用同一编码")
        return roots[0], False
    code, name = (code or "").strip(), (name or "").strip()
    if not code or len(code) > 32 or not code.isalnum():
        raise DomainError("area_required", "请用 --area-code 给出最上级区域的编码（如 350602003，1–32 位数字或字母）")
    if not name or len(name) > 64:
        raise DomainError("area_required", "请用 --area-name 给出最上级区域的名称（如 通北街道）")
    if level not in TOP_LEVELS:
        raise DomainError("bad_level", "最上级区域只能是 city、district 或 street")
    area = Area.create(parent=None, level=level, code=code, name=name)
    area.path = f"/{area.id}/"
    area.save()
    return area, True


def initialise(admin_username: str, admin_name: str, *, area_code: str | None = None,
               area_name: str | None = None, area_level: str = "street",
               reset_password: bool = False) -> InitResult:
    """Categories, the top area and the first admin, in one transaction."""
    username = (admin_username or "").strip()
    if not USERNAME_RE.match(username):
        raise DomainError("bad_username", "管理员登录名为 3–64 位字母、数字或 _ . -")
    name = (admin_name or "").strip() or "系统管理员"
    if len(name) > 64:
        raise DomainError("bad_name", "姓名请控制在 64 字以内")
    result = InitResult()
    with transaction():
        result.categories_created = seed_categories()
        result.area, result.area_created = _top_area(area_code, area_name, area_level)
        admin = Staff.get_or_none(Staff.username == username)
        if admin is not None and admin.role != "admin":
            raise Conflict("username_taken", f"登录名 {username} 已被一位{admin.name}使用，不是管理员")
        if admin is None:
            result.password = one_time_password()
            admin = Staff.create(name=name, role="admin", area=result.area, username=username,
                                 password_hash=hash_password(result.password), password_change_required=True)
            result.admin_created = True
        elif reset_password:
            result.password = one_time_password()
            Staff.update(password_hash=hash_password(result.password), password_change_required=True,
                         active=True).where(Staff.id == admin.id).execute()
        else:
            result.notes.append(f"管理员 {username} 已存在，密码未改（需要时加 --reset-password）")
        result.admin = Staff.get_by_id(admin.id)
    return result
