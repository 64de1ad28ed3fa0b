"""管理 · 人员: accounts, roles and areas within the admin's subtree, and one-time binding codes."""
from __future__ import annotations

from flask import render_template, request, url_for

from backend.models.people import ROLE_NAMES
from backend.services import admin_staff as staff_service
from backend.services.admin_areas import area_choices
from backend.services.mp_binding import BIND_CODE_TTL_MINUTES, issue_bind_code
from console import auth, rendering
from console.blueprint import bp


def _form(form) -> staff_service.StaffForm:
    def number(name):
        value = form.get(name, "")
        return int(value) if value.isdigit() else None

    return staff_service.StaffForm(
        name=form.get("name", ""), role=form.get("role", ""), area_id=number("area_id"),
        department_id=number("department_id"), username=form.get("username", ""),
        password=form.get("password", ""), phone=form.get("phone", ""), active=form.get("active", "1") == "1",
    )


def _choices(login) -> dict:
    return {"roles": ROLE_NAMES, "areas": area_choices(login.scope_path, "grid"),
            "departments": staff_service.departments_in_scope(login.scope_path)}


@bp.get("/admin/staff")
@auth.admin_required
def admin_staff():
    login = auth.current()
    role = request.args.get("role", "")
    people = staff_service.list_staff(login.scope_path, role if role in ROLE_NAMES else None)
    return render_template("console/admin_staff.html", people=people, role=role, **_choices(login))


@bp.post("/admin/staff")
@auth.admin_required
def admin_staff_create():
    login = auth.current()
    staff = staff_service.create_staff(_form(request.form), login.scope_path)
    return rendering.back_with(f"已添加 {staff.name}（{ROLE_NAMES[staff.role]}）",
                               url_for("console.admin_staff_edit", staff_id=staff.id))


@bp.get("/admin/staff/<int:staff_id>")
@auth.admin_required
def admin_staff_edit(staff_id: int):
    login = auth.current()
    person = staff_service.get_in_scope(staff_id, login.scope_path)
    return render_template("console/admin_staff_edit.html", person=person, phone=staff_service.masked_phone(person),
                           bind_code=None, ttl=BIND_CODE_TTL_MINUTES, **_choices(login))


@bp.post("/admin/staff/<int:staff_id>")
@auth.admin_required
def admin_staff_update(staff_id: int):
    login = auth.current()
    staff = staff_service.update_staff(staff_id, _form(request.form), login.scope_path, login.staff.id)
    return rendering.back_with(f"已保存 {staff.name}", url_for("console.admin_staff_edit", staff_id=staff.id))


@bp.post("/admin/staff/<int:staff_id>/bind-code")
@auth.admin_required
def admin_staff_bind_code(staff_id: int):
    """A fresh one-time code for the staff member to bind WeChat (mini-program or chat)."""
    login = auth.current()
    person = staff_service.get_in_scope(staff_id, login.scope_path)
    code = issue_bind_code(person.id)
    return render_template("console/admin_staff_edit.html", person=person, phone=staff_service.masked_phone(person),
                           bind_code=code, ttl=BIND_CODE_TTL_MINUTES, **_choices(login))
