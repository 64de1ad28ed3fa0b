"""管理 · 事件类别, 意见反馈, 节假日与调休."""
from __future__ import annotations

from flask import render_template, request, url_for

from backend import clock
from backend.models import AppFeedback, Category
from backend.services import admin_calendar, feedback
from backend import privacy
from backend.services import admin_categories as category_service
from console import auth, rendering
from console.blueprint import bp


@bp.get("/admin/categories")
@auth.admin_required
def admin_categories():
    return render_template("console/admin_categories.html", categories=category_service.categories_in_order(),
                           kinds=category_service.department_kinds(), units=category_service.UNIT_NAMES)


@bp.get("/admin/categories/<code>")
@auth.admin_required
def admin_category_edit(code: str):
    category = Category.get_or_none(Category.code == code)
    if category is None:
        return rendering.error_response("没有这个类别", 404)
    return render_template("console/admin_category_edit.html", category=category,
                           kinds=category_service.department_kinds(), units=category_service.UNIT_NAMES,
                           levels=privacy.LEVEL_NAMES, default_retention=privacy.retention_days(
                               category.sensitivity, None))


@bp.post("/admin/categories/<code>")
@auth.admin_required
def admin_category_update(code: str):
    f = request.form
    form = category_service.CategoryForm(
        plain_name=f.get("plain_name", ""), keywords=f.get("keywords", ""),
        default_department_kind=f.get("default_department_kind") or None,
        accept_limit=f.get("accept_limit"), accept_unit=f.get("accept_unit", ""),
        resolve_limit=f.get("resolve_limit"), resolve_unit=f.get("resolve_unit", ""),
        verify_limit=f.get("verify_limit"), verify_unit=f.get("verify_unit", ""),
        urgent=f.get("urgent") == "1", photo_required=f.get("photo_required") == "1", active=f.get("active") == "1",
        **{name: f[name] for name in ("sensitivity", "retention_days", "emergency_number") if name in f},
    )
    category = category_service.update_category(code, form)
    return rendering.back_with(f"已保存类别 {category.code} {category.name}", url_for("console.admin_categories"))


@bp.get("/admin/feedback")
@auth.admin_required
def admin_feedback():
    status = request.args.get("status", "")
    query = AppFeedback.select().order_by(AppFeedback.id.desc())
    if status in feedback.STATUS_NAMES:
        query = query.where(AppFeedback.status == status)
    counts = {s: AppFeedback.select().where(AppFeedback.status == s).count() for s in feedback.STATUS_NAMES}
    return render_template("console/admin_feedback.html", items=list(query.limit(200)), status=status,
                           statuses=feedback.STATUS_NAMES, counts=counts)


@bp.post("/admin/feedback/<int:feedback_id>")
@auth.admin_required
def admin_feedback_answer(feedback_id: int):
    row = feedback.answer_feedback(feedback_id, request.form.get("status", ""), request.form.get("reply"))
    return rendering.back_with(f"反馈 #{row.id} 已更新为“{feedback.STATUS_NAMES[row.status]}”",
                               url_for("console.admin_feedback"))


@bp.get("/admin/holidays")
@auth.admin_required
def admin_holidays():
    try:
        year = int(request.args.get("year", clock.local_today().year))
    except ValueError:
        year = clock.local_today().year
    year = min(max(year, 2000), 2100)
    return render_template("console/admin_holidays.html", year=year, rows=admin_calendar.overrides_for(year),
                           missing=admin_calendar.years_needing_data())


@bp.post("/admin/holidays")
@auth.admin_required
def admin_holidays_save():
    day = admin_calendar.parse_day(request.form.get("day", ""))
    if request.form.get("delete") == "1":
        admin_calendar.delete_override(day)
        message = f"已删除 {day} 的设置"
    else:
        row = admin_calendar.set_override(day, request.form.get("is_workday") == "1", request.form.get("name", ""))
        message = f"{row.day}：{'上班（调休）' if row.is_workday else '放假'}"
    return rendering.back_with(message, url_for("console.admin_holidays", year=day.year))
