"""管理 · 区域: the area tree and the GeoJSON boundary import form (the import itself is
console/views_admin_imports.py, shared with staff and buildings)."""
from __future__ import annotations

from flask import render_template

from backend.services import admin_areas
from console import auth
from console.blueprint import bp


@bp.get("/admin")
@auth.admin_required
def admin_home():
    return render_template("console/admin_home.html")


@bp.get("/admin/areas")
@auth.admin_required
def admin_areas_page():
    login = auth.current()
    areas = admin_areas.area_choices(login.scope_path, "grid")
    parents = [a for a in areas if a.level != "grid"]
    return render_template("console/admin_areas.html", areas=areas, parents=parents, datums=admin_areas.DATUMS)
