"""管理 · 区域: the area tree and the GeoJSON boundary import with a progress bar.

The import is chunked and driven by the page itself: the upload is parsed and parked in
Redis under a job id; each htmx poll checks the next chunk of features and answers with
the progress bar (no worker needed, so progress is real and a closed tab simply leaves the
job to expire). When every feature is checked the page lists the rejected ones; the admin
then imports the accepted features in one transaction — or nothing.
"""
from __future__ import annotations

import json
import re
import secrets

from flask import abort, current_app, redirect, render_template, request, url_for

from backend.errors import DomainError
from backend.models import Area
from backend.services import admin_areas
from console import auth, rendering
from console.blueprint import bp

CHUNK = 200
JOB_TTL = 3600
_PREFIX = "ejia:console:area-import:"
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{8,32}$")


def _redis():
    return current_app.extensions["ejia.redis"]


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


def _job(job_id: str) -> dict:
    raw = _redis().get(_PREFIX + job_id) if _JOB_ID.match(job_id) else None
    if raw is None:
        abort(404, description="导入任务不存在或已过期，请重新上传")
    job = json.loads(raw)
    if job["staff_id"] != auth.current().staff.id:
        abort(404, description="导入任务不存在或已过期，请重新上传")
    return job


def _save(job_id: str, job: dict) -> None:
    _redis().set(_PREFIX + job_id, json.dumps(job, ensure_ascii=False), ex=JOB_TTL)


@bp.post("/admin/areas/import")
@auth.admin_required
def admin_areas_upload():
    login = auth.current()
    upload = request.files.get("file")
    datum = request.form.get("datum", "wgs84")
    parent_id = request.form.get("parent_id", "")
    try:
        if upload is None or not upload.filename:
            raise DomainError("file_required", "请选择 GeoJSON 文件")
        if datum not in admin_areas.DATUMS:
            raise DomainError("bad_datum", "坐标系只能是 WGS-84 或 GCJ-02")
        parent = Area.get_or_none(Area.id == int(parent_id)) if parent_id.isdigit() else None
        if parent is not None and not parent.path.startswith(login.scope_path):
            raise DomainError("outside_scope", "上级区域不在您管辖的范围内")
        features = admin_areas.parse_feature_collection(upload.read())
    except DomainError as err:
        areas = admin_areas.area_choices(login.scope_path, "grid")
        return render_template("console/admin_areas.html", areas=areas, datums=admin_areas.DATUMS,
                               parents=[a for a in areas if a.level != "grid"], error=err.message), 400
    job_id = secrets.token_urlsafe(12)
    _save(job_id, {"staff_id": login.staff.id, "features": features, "datum": datum,
                   "parent_id": parent.id if parent else None, "scope": login.scope_path,
                   "total": len(features), "done": 0, "rejects": [], "seen": {}, "state": "checking",
                   "filename": upload.filename[:120]})
    return redirect(url_for("console.admin_areas_job", job_id=job_id), code=303)


@bp.get("/admin/areas/import/<job_id>")
@auth.admin_required
def admin_areas_job(job_id: str):
    return render_template("console/admin_area_job.html", job_id=job_id, job=_summary(_job(job_id)))


@bp.get("/admin/areas/import/<job_id>/progress")
@auth.admin_required
def admin_areas_progress(job_id: str):
    """Check the next chunk (one poll = one chunk) and answer with the progress fragment."""
    job = _job(job_id)
    lock = _redis().set(_PREFIX + job_id + ":lock", "1", nx=True, ex=60)
    if lock and job["state"] == "checking":
        try:
            parent = Area.get_or_none(Area.id == job["parent_id"]) if job["parent_id"] else None
            begin = job["done"]
            rejects = admin_areas.check_features(job["features"], begin, begin + CHUNK, job["datum"], parent,
                                                 job["scope"], job["seen"])
            job["rejects"] += [r.__dict__ | {"message": r.message} for r in rejects]
            job["done"] = min(job["total"], begin + CHUNK)
            if job["done"] >= job["total"]:
                job["state"] = "checked"
            _save(job_id, job)
        finally:
            _redis().delete(_PREFIX + job_id + ":lock")
    return render_template("console/_area_job_progress.html", job_id=job_id, job=_summary(job))


def _summary(job: dict) -> dict:
    total = job["total"] or 1
    return {"total": job["total"], "done": job["done"], "percent": int(job["done"] * 100 / total),
            "rejects": job["rejects"], "state": job["state"], "filename": job.get("filename", ""),
            "accepted": job["total"] - len(job["rejects"]), "result": job.get("result")}


@bp.post("/admin/areas/import/<job_id>/commit")
@auth.admin_required
def admin_areas_commit(job_id: str):
    job = _job(job_id)
    if job["state"] != "checked":
        abort(409, description="文件还没有检查完，或已经导入过了")
    parent = Area.get_or_none(Area.id == job["parent_id"]) if job["parent_id"] else None
    skip = {r["index"] - 1 for r in job["rejects"]}
    if len(skip) >= job["total"]:
        raise DomainError("nothing_to_import", "没有可导入的要素")
    result = admin_areas.import_features(job["features"], job["datum"], parent, skip=skip, scope_path=job["scope"])
    job["state"], job["result"] = "imported", {"created": result.created, "updated": result.updated,
                                               "skipped": len(result.skipped)}
    _save(job_id, job)
    return rendering.back_with(
        f"导入完成：新增 {result.created} 个，更新 {result.updated} 个，跳过 {len(result.skipped)} 个有问题的要素",
        url_for("console.admin_areas_page"))
