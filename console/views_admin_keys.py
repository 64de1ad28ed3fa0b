"""管理 · 接口密钥: Open311 api_keys for department systems (backend/services/api_keys.py).

Keys read or write every area's events, so only an admin of the top of the area tree manages
them. A new or rotated key is shown once, in the answer to the POST that made it (never in a
flash message: those travel in the signed — not encrypted — session cookie).
"""
from __future__ import annotations

from flask import abort, render_template, request, url_for

from backend.models import Area
from backend.services import api_keys
from console import auth, rendering
from console.blueprint import bp


def _top_admin():
    login = auth.current()
    top = Area.select().where(Area.parent.is_null()).order_by(Area.id).first()
    if top is None or login.staff.area_id != top.id:
        abort(403, description="接口密钥可以读取所有区域的事件，只有最上级区域的管理员可以管理")
    return login


def _page(**extra):
    return render_template("console/admin_keys.html", keys=api_keys.list_keys(), scopes=api_keys.SCOPE_NAMES,
                           status_name=api_keys.status_name, **extra)


@bp.get("/admin/keys")
@auth.admin_required
def admin_keys():
    _top_admin()
    return _page()


@bp.post("/admin/keys")
@auth.admin_required
def admin_keys_issue():
    _top_admin()
    issued = api_keys.issue(request.form.get("name", ""), request.form.getlist("scopes"),
                            request.form.get("rate_limit", ""))
    return _page(new_key=issued.key, new_row=issued.row)


@bp.post("/admin/keys/<int:key_id>/rotate")
@auth.admin_required
def admin_keys_rotate(key_id: int):
    _top_admin()
    raw = request.form.get("grace_hours", str(api_keys.DEFAULT_GRACE_HOURS)).strip()
    issued = api_keys.rotate(key_id, int(raw) if raw.isdigit() else -1)
    return _page(new_key=issued.key, new_row=issued.row)


@bp.post("/admin/keys/<int:key_id>/revoke")
@auth.admin_required
def admin_keys_revoke(key_id: int):
    _top_admin()
    row = api_keys.revoke(key_id)
    return rendering.back_with(f"密钥“{row.name}”（{row.prefix}…）已停用", url_for("console.admin_keys"))
