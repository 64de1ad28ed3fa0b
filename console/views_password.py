"""修改密码: every console user can change their own; a one-time password (``server init``, a
staff import, an admin's reset) must be changed before any other page opens."""
from __future__ import annotations

from flask import render_template, request, url_for

from backend.services import admin_staff
from console import auth, rendering
from console.blueprint import bp

ALLOWED_BEFORE_CHANGE = {"console.change_password", "console.logout", "console.login", "console.static"}


@bp.route("/password", methods=["GET", "POST"])
@auth.login_required
def change_password():
    login = auth.current()
    forced = login.staff.password_change_required
    if request.method == "GET":
        return render_template("console/password.html", forced=forced, min_length=admin_staff.MIN_OWN_PASSWORD)
    try:
        staff = admin_staff.change_own_password(login.staff.id, request.form.get("current", ""),
                                                request.form.get("new", ""), request.form.get("repeat", ""))
    except admin_staff.PasswordRefused as err:
        return render_template("console/password.html", forced=forced, error=err.message,
                               min_length=admin_staff.MIN_OWN_PASSWORD), 400
    auth.start_session(staff)  # the old session ended with the old password (everywhere)
    return rendering.back_with("密码已修改", url_for("console.home"))
