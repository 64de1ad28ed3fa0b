"""管理 · 楼栋与二维码: the buildings of an area and their QR posters (PNG per unit, PDF per community);
the CSV/XLSX import is console/views_admin_imports.py."""
from __future__ import annotations

from flask import Response, abort, render_template, request

from backend import posters
from backend.models import Area, Building, BuildingUnit
from backend.services import admin_buildings as building_service
from backend.services.admin_areas import area_choices
from console import auth
from console.blueprint import bp


def _page(login, **extra):
    communities = [a for a in area_choices(login.scope_path, "grid") if a.level in ("community", "grid")]
    selected = None
    area_id = request.args.get("area_id", "")
    if area_id.isdigit():
        selected = next((a for a in communities if a.id == int(area_id)), None)
    units = building_service.units_of_area(selected) if selected else []
    return render_template("console/admin_buildings.html", communities=communities, selected=selected,
                           buildings=units, **extra)


@bp.get("/admin/buildings")
@auth.admin_required
def admin_buildings():
    return _page(auth.current())


def _unit_in_scope(unit_id: int, login) -> BuildingUnit:
    unit = BuildingUnit.select(BuildingUnit, Building, Area).join(Building).join(Area) \
        .where(BuildingUnit.id == unit_id).first()
    if unit is None or not unit.building.area.path.startswith(login.scope_path):
        abort(404)
    return unit


def _poster_error(err: posters.FontMissing):
    abort(503, description=str(err))


@bp.get("/admin/units/<int:unit_id>/poster.png")
@auth.admin_required
def unit_poster(unit_id: int):
    unit = _unit_in_scope(unit_id, auth.current())
    try:
        body = posters.unit_poster_png(posters.label_for_unit(unit))
    except posters.FontMissing as err:
        _poster_error(err)
    name = f"qr-{unit.building.name}-{unit.name}.png"
    return Response(body, mimetype="image/png", headers={
        "Content-Disposition": f"inline; filename*=UTF-8''{_quote(name)}"})


@bp.get("/admin/areas/<int:area_id>/posters.pdf")
@auth.admin_required
def area_posters(area_id: int):
    login = auth.current()
    area = Area.get_or_none(Area.id == area_id)
    if area is None or not area.path.startswith(login.scope_path):
        abort(404)
    labels = posters.labels_for(area)
    if not labels:
        abort(404, description="这里还没有登记楼栋单元")
    try:
        body = posters.sheet_pdf(labels, f"{area.name} 楼栋单元二维码")
    except posters.FontMissing as err:
        _poster_error(err)
    return Response(body, mimetype="application/pdf", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(area.name + '-二维码.pdf')}"})


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
