"""管理 · 导入: areas (GeoJSON), staff and buildings (CSV/XLSX) through backend.services.imports.

The upload is parsed and parked in Redis as a job; each htmx poll checks the next chunk and
answers with the progress bar (no worker: the progress is real, and a closed tab simply lets
the job expire). When every row is checked the page lists every bad row by its number — that
is the dry run — and offers 导入 only for a file without errors, which is then written in one
transaction. A staff import's sheet of binding codes can be downloaded once.
"""
from __future__ import annotations

import base64
import json
import re
import secrets

from flask import Response, abort, current_app, redirect, render_template, request, url_for

from backend import posters
from backend.binding_sheet import sheet_pdf as binding_sheet_pdf
from backend.errors import DomainError
from backend.models import Area
from backend.services import imports
from console import auth, rendering
from console.blueprint import bp

JOB_TTL = 3600
MAX_UPLOAD = {"areas": 16 * 1024 * 1024, "staff": 5 * 1024 * 1024, "buildings": 5 * 1024 * 1024}
BACK = {"areas": "console.admin_areas_page", "staff": "console.admin_staff", "buildings": "console.admin_buildings"}
TITLES = {"areas": "区域边界（GeoJSON）", "staff": "工作人员", "buildings": "楼栋与单元"}
_PREFIX = "ejia:console:import:"
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{8,32}$")


def _redis():
    return current_app.extensions["ejia.redis"]


def _load(job_id: str) -> tuple[dict, imports.Job]:
    raw = _redis().get(_PREFIX + job_id) if _JOB_ID.match(job_id) else None
    if raw is None:
        abort(404, description="导入任务不存在或已过期，请重新上传")
    envelope = json.loads(raw)
    if envelope["staff_id"] != auth.current().staff.id:
        abort(404, description="导入任务不存在或已过期，请重新上传")
    return envelope, imports.Job.from_json(envelope["job"])


def _save(job_id: str, envelope: dict, job: imports.Job) -> None:
    envelope["job"] = job.to_json()
    _redis().set(_PREFIX + job_id, json.dumps(envelope, ensure_ascii=False), ex=JOB_TTL)


@bp.post("/admin/import/<kind>")
@auth.admin_required
def admin_import_upload(kind: str):
    login = auth.current()
    if kind not in imports.KINDS:
        abort(404)
    upload = request.files.get("file")
    options = {"datum": request.form.get("datum"), "code_days": request.form.get("code_days"),
               "scope_path": login.scope_path, "actor_staff_id": login.staff.id}
    if request.form.get("parent_id", "").isdigit():
        parent = Area.get_or_none(Area.id == int(request.form["parent_id"]))
        options["parent_code"] = parent.code if parent else "?"
    if upload is None or not upload.filename:
        raise DomainError("file_required", "请选择文件")
    raw = upload.read(MAX_UPLOAD[kind] + 1)
    if len(raw) > MAX_UPLOAD[kind]:
        raise DomainError("file_too_large", f"文件超过 {MAX_UPLOAD[kind] // 1024 // 1024} MB，请分批导入")
    job = imports.start(kind, raw, upload.filename, options)
    job_id = secrets.token_urlsafe(12)
    _save(job_id, {"staff_id": login.staff.id, "filename": upload.filename[:120]}, job)
    return redirect(url_for("console.admin_import_job", job_id=job_id), code=303)


def _view(job_id: str, envelope: dict, job: imports.Job) -> dict:
    total = job.total or 1
    return {"job_id": job_id, "job": job, "filename": envelope.get("filename", ""), "title": TITLES[job.kind],
            "percent": int(job.done * 100 / total), "unit": imports.ROW_UNITS[job.kind],
            "back": url_for(BACK[job.kind]), "has_sheet": bool(envelope.get("sheet")),
            "communities": _communities(job)}


def _communities(job: imports.Job) -> list[Area]:
    if job.kind != "buildings" or not job.result:
        return []
    return list(Area.select().where(Area.id.in_(job.result.get("communities", []))).order_by(Area.code))


@bp.get("/admin/import/job/<job_id>")
@auth.admin_required
def admin_import_job(job_id: str):
    envelope, job = _load(job_id)
    return render_template("console/admin_import_job.html", **_view(job_id, envelope, job))


@bp.get("/admin/import/job/<job_id>/progress")
@auth.admin_required
def admin_import_progress(job_id: str):
    """Check the next chunk (one poll = one chunk) and answer with the progress fragment."""
    envelope, job = _load(job_id)
    lock = _redis().set(_PREFIX + job_id + ":lock", "1", nx=True, ex=60)
    if lock and job.state == "checking":
        try:
            imports.check_next(job)
            _save(job_id, envelope, job)
        finally:
            _redis().delete(_PREFIX + job_id + ":lock")
    return render_template("console/_import_progress.html", **_view(job_id, envelope, job))


@bp.post("/admin/import/job/<job_id>/commit")
@auth.admin_required
def admin_import_commit(job_id: str):
    envelope, job = _load(job_id)
    result = imports.commit(job)
    if job.kind == "staff":
        try:
            pdf = binding_sheet_pdf(result["sheet"], "工作人员微信绑定码")
            envelope["sheet"] = base64.b64encode(pdf).decode()
        except posters.FontMissing as err:
            envelope["sheet_error"] = str(err)
        result["sheet"] = len(result["sheet"])  # the codes stay in the PDF only
    _save(job_id, envelope, job)
    return rendering.back_with(f"导入完成：新增 {result['create']}，更新 {result['update']}，未变 {result['same']}",
                               url_for("console.admin_import_job", job_id=job_id))


@bp.get("/admin/import/job/<job_id>/sheet.pdf")
@auth.admin_required
def admin_import_sheet(job_id: str):
    """The binding-code sheet, once: it holds one-time codes (and passwords)."""
    envelope, job = _load(job_id)
    sheet = envelope.pop("sheet", None)
    if sheet is None:
        abort(404, description=envelope.get("sheet_error") or "绑定码表已经下载过了；需要时重新导入同一文件（未过期的绑定码不变）")
    _save(job_id, envelope, job)
    return Response(base64.b64decode(sheet), mimetype="application/pdf", headers={
        "Content-Disposition": "attachment; filename=binding-codes.pdf", "Cache-Control": "no-store"})
