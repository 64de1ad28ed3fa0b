"""Staff from CSV or XLSX: 姓名, 角色, 区域编码, 手机, and for department staff 部门; 登录名 for
those who use the console. One row per person, found again by their mobile number (its HMAC
blind index — the number itself is stored only encrypted), so a re-import updates people
instead of duplicating them.

A role fixes the level of its area (网格员 → a grid, 社区负责人 → a community, …). A department
is named in words (``通北街道城管办``); one missing in that street is created, its kind read from
the name (城管 → cgb …) so dispatch can offer it for the categories it usually handles.

After the import every person not yet bound to WeChat holds a one-time binding code
(``Staff.bind_token``, valid ``code_days`` days; a still-valid code is kept, so a re-run changes
nothing) — for the sheet handed out (backend/binding_sheet.py). A new console user gets a
one-time password, printed on the same sheet and changed at first login.
"""
from __future__ import annotations

import datetime as dt
import secrets
import sys

from backend import clock, config
from backend.crypto import FieldCipher
from backend.db import transaction
from backend.errors import DomainError
from backend.models import Area, Department, Staff
from backend.models.people import ROLE_NAMES, ROLES
from backend.passwords import hash_password
from backend.phones import normalise_mobile
from backend.services.admin_staff import CONSOLE_ROLES, ROLE_LEVELS, USERNAME_RE
from backend.services.bootstrap import one_time_password
from backend.services.imports import Problem, plan_row, recheck, tabular
from backend.services.mp_binding import BIND_CODE_ALPHABET, BIND_CODE_LENGTH, STAFF_PHONE_CONTEXT

COLUMNS = {
    "name": ("姓名", "name", "名字"),
    "role": ("角色", "role", "岗位"),
    "area_code": ("区域编码", "area_code", "网格编码", "所属区域编码"),
    "mobile": ("手机", "mobile", "手机号", "手机号码", "phone", "电话"),
    "department": ("部门", "department", "所属部门"),
    "username": ("登录名", "username", "账号"),
}
REQUIRED = ("name", "role", "area_code", "mobile")
ROLE_WORDS = {**{name: role for role, name in ROLE_NAMES.items()}, **{role: role for role in ROLES},
              "综治中心值班员": "centre_operator", "综治中心工作人员": "centre_operator", "社区书记": "community_head",
              "社区主任": "community_head", "部门": "department_staff", "专职网格员": "grid_worker",
              "兼职网格员": "grid_worker"}
DEPARTMENT_KINDS = (("城管", "cgb"), ("民政", "mzb"), ("卫健", "wjb"), ("卫生", "wjb"), ("派出所", "pcs"),
                    ("公安", "pcs"), ("住建", "zjb"), ("市场监管", "scjg"), ("应急", "yjb"), ("司法", "sfs"),
                    ("生态环境", "hbb"), ("环保", "hbb"), ("水利", "slb"), ("消防", "xf"))
DEFAULT_CODE_DAYS = 14
MAX_CODE_DAYS = 90


def clean_options(options: dict) -> dict:
    try:
        days = int(options.get("code_days") or DEFAULT_CODE_DAYS)
    except (TypeError, ValueError):
        days = -1
    if not 1 <= days <= MAX_CODE_DAYS:
        raise DomainError("bad_code_days", f"绑定码有效天数应为 1–{MAX_CODE_DAYS}")
    return {"code_days": days, "scope_path": options.get("scope_path") or None,
            "actor_staff_id": options.get("actor_staff_id")}


def new_memo() -> dict:
    return {"mobiles": {}, "usernames": {}}


def parse(raw: bytes, filename: str = "") -> tuple[list[dict], str]:
    table = tabular.read_table(raw, filename)
    return tabular.records(table, COLUMNS, REQUIRED), table.encoding


def _cipher() -> FieldCipher:
    return FieldCipher.from_key(config.current().field_key)


def department_kind(name: str) -> str:
    return next((kind for word, kind in DEPARTMENT_KINDS if word in name), "other")


def check_rows(rows: list[dict], begin: int, stop: int, options: dict, memo: dict) -> list[Problem]:
    cipher = _cipher()
    scope = options["scope_path"]
    areas: dict[str, Area | None] = {}
    problems: list[Problem] = []
    for record in rows[begin:stop]:
        found: list[str] = []
        name = record.get("name", "")
        if not name or len(name) > 64:
            found.append("姓名为空或超过 64 字")
        role = ROLE_WORDS.get(record.get("role", "").strip())
        if role is None:
            found.append(f"没有这个角色：{record.get('role') or '（空）'}（可填：{'、'.join(ROLE_NAMES.values())}）")
        code = record.get("area_code", "")
        if code not in areas:
            areas[code] = Area.get_or_none(Area.code == code) if code else None
        area = areas[code]
        if area is None:
            found.append(f"找不到区域编码 {code}" if code else "缺少区域编码")
        elif scope and not area.path.startswith(scope):
            found.append(f"区域 {code} 不在您管辖的范围内")
        elif role is not None and area.level not in ROLE_LEVELS[role]:
            found.append(f"{ROLE_NAMES[role]}应属于" + "或".join(
                {"grid": "网格", "community": "社区", "street": "街道", "district": "区", "city": "市"}[lv]
                for lv in ROLE_LEVELS[role]) + f"，{code} 是{area.name}")
        mobile = normalise_mobile(record.get("mobile"))
        existing = None
        if mobile is None:
            found.append(f"手机号 {record.get('mobile') or '（空）'} 不是 11 位大陆手机号")
        elif mobile in memo["mobiles"]:
            found.append(f"手机号与第 {memo['mobiles'][mobile]} 行重复（一人一行）")
        else:
            memo["mobiles"][mobile] = record["row"]
            matches = list(Staff.select().where(Staff.phone_index == cipher.blind_index(mobile, STAFF_PHONE_CONTEXT)))
            if len(matches) > 1:
                found.append("这个手机号在系统里登记了多位工作人员，请先在控制台合并")
            existing = matches[0] if matches else None
            if existing is not None and scope and not (existing.area_id and existing.area.path.startswith(scope)):
                found.append("这个手机号的工作人员不在您管辖的范围内")
            elif existing is not None and existing.id == options.get("actor_staff_id") and role != existing.role:
                found.append("这一行是您自己：导入不能改变自己的角色")
        department = record.get("department", "")
        if role == "department_staff" and not department:
            found.append("部门人员请填写部门（如 通北街道城管办）")
        elif department and len(department) > 64:
            found.append("部门名称超过 64 字")
        elif department and role is not None and role != "department_staff":
            found.append(f"只有部门人员填写部门（这一行是{ROLE_NAMES[role]}）")
        username = record.get("username", "")
        if username:
            if role is not None and role not in CONSOLE_ROLES:
                found.append(f"{ROLE_NAMES[role]}不登录管理后台，登录名请留空")
            elif not USERNAME_RE.match(username):
                found.append("登录名为 3–64 位字母、数字或 _ . -")
            elif username in memo["usernames"]:
                found.append(f"登录名与第 {memo['usernames'][username]} 行重复")
            else:
                memo["usernames"][username] = record["row"]
                holder = Staff.get_or_none(Staff.username == username)
                if holder is not None and (existing is None or holder.id != existing.id):
                    found.append(f"登录名 {username} 已被{holder.name}使用")
        if found:
            problems.append(Problem(record["row"], "；".join(found), name[:20]))
            continue
        plan_row(memo, _action(existing, record, role, area))
    return problems


def check_file(rows: list[dict], options: dict, memo: dict) -> tuple[list[Problem], list[Problem]]:
    return [], []


def _department(record: dict, role: str, area: Area, create: bool) -> Department | None:
    name = record.get("department", "")
    if role != "department_staff" or not name:
        return None
    department = Department.get_or_none((Department.name == name) & (Department.area == area))
    if department is None and create:
        kind = department_kind(name)
        code = f"{kind}-{area.code}"
        while Department.select().where(Department.code == code).exists():
            code = f"{kind}-{area.code}-{secrets.token_hex(2)}"
        department = Department.create(name=name, code=code, kind=kind, area=area,
                                       sort_order=Department.select().where(Department.area == area).count())
    return department


def _action(existing: Staff | None, record: dict, role: str, area: Area) -> str:
    if existing is None:
        return "create"
    department = _department(record, role, area, create=False)
    same = (existing.name == record["name"] and existing.role == role and existing.area_id == area.id
            and existing.department_id == (department.id if department else None) and existing.active
            and (not record.get("username") or existing.username == record["username"]))
    if role == "department_staff" and department is None:
        same = False  # its department is created by the import
    return "same" if same else "update"


def _is_bind_code(token: str | None) -> bool:
    return bool(token) and len(token) == BIND_CODE_LENGTH and all(c in BIND_CODE_ALPHABET for c in token)


def write(rows: list[dict], options: dict) -> dict:
    """Upsert everyone in one transaction; returns counts and the sheet entries (codes, passwords)."""
    cipher = _cipher()
    now = clock.now()
    counts = {"create": 0, "update": 0, "same": 0}
    sheet = []
    with transaction():
        recheck(sys.modules[__name__], rows, options)
        for record in rows:
            role = ROLE_WORDS[record["role"].strip()]
            area = Area.get(Area.code == record["area_code"])
            mobile = normalise_mobile(record["mobile"])
            index = cipher.blind_index(mobile, STAFF_PHONE_CONTEXT)
            staff = Staff.get_or_none(Staff.phone_index == index)
            action = _action(staff, record, role, area)
            department = _department(record, role, area, create=True)
            fields = {"name": record["name"], "role": role, "area": area.id,
                      "department": department.id if department else None, "active": True}
            password = None
            if staff is None:
                staff = Staff.create(**fields, phone_enc=cipher.encrypt(mobile, STAFF_PHONE_CONTEXT), phone_index=index)
            elif action == "update":
                Staff.update({getattr(Staff, k): v for k, v in fields.items()}).where(Staff.id == staff.id).execute()
            if record.get("username") and staff.username != record["username"]:
                Staff.update(username=record["username"]).where(Staff.id == staff.id).execute()
            if record.get("username") and not staff.password_hash:
                password = one_time_password()
                Staff.update(password_hash=hash_password(password), password_change_required=True).where(
                    Staff.id == staff.id).execute()
            counts[action] += 1
            staff = Staff.get_by_id(staff.id)
            sheet.append(_sheet_entry(staff, area, now, options["code_days"], password))
    return {**counts, "sheet": sheet}


def _sheet_entry(staff: Staff, area: Area, now: dt.datetime, days: int, password: str | None) -> dict:
    """A still-valid code is kept (a re-run prints the same sheet); else a fresh one."""
    code = expires = None
    if not staff.oa_openid and not staff.mp_openid:
        if _is_bind_code(staff.bind_token) and staff.bind_token_expires_at and staff.bind_token_expires_at > now:
            code, expires = staff.bind_token, staff.bind_token_expires_at
        else:
            code = "".join(secrets.choice(BIND_CODE_ALPHABET) for _ in range(BIND_CODE_LENGTH))
            expires = now + dt.timedelta(days=days)
            Staff.update(bind_token=code, bind_token_expires_at=expires).where(Staff.id == staff.id).execute()
    return {"staff_id": staff.id, "name": staff.name, "role": ROLE_NAMES[staff.role], "area": area.name,
            "code": code, "expires_at": clock.to_local(expires).strftime("%Y-%m-%d %H:%M") if expires else None,
            "username": staff.username, "password": password}
