"""Shared page pieces: navigation by role, display filters, deadline colours, errors."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import Response, abort, current_app, flash, redirect, render_template, request

from backend import clock, voice
from backend.media_store import MediaMissing
from backend.metrics import format_rate
from backend.models.events import STATUS_NAMES
from backend.workflow import ACTION_LABELS

STATUS_COLOURS = {
    "reported": "#7a7a7a", "assigned": "#1f6fd1", "processing": "#e07b00", "resolved": "#8a4fd1",
    "closed": "#2e8b57", "rejected": "#555555", "merged": "#999999", "withdrawn": "#aaaaaa",
}
DEADLINE_COLOURS = {"overdue": "#d11f1f", "warning": "#e0b000", "ok": None}
WARNING_FRACTION = 0.7


def settings():
    return current_app.extensions["ejia.settings"]


def tile_url() -> str:
    """Optional base-map tiles (CONSOLE_TILE_URL); by default the map shows only our own layers."""
    s = settings()
    return getattr(s, "console_tile_url", "") or (s.extra or {}).get("CONSOLE_TILE_URL", "")


def tile_origin() -> str:
    url = tile_url()
    if not url:
        return ""
    parts = urlsplit(url.replace("{s}", "a"))
    return f"{parts.scheme}://{parts.netloc.replace('a.', '*.', 1) if '{s}' in url else parts.netloc}"


def nav_for(login) -> list[tuple[str, str]]:
    if login is None:
        return []
    items = [("console.home", "待办队列"), ("console.events", "事件"), ("console.map_page", "地图")]
    if login.is_centre:
        items.append(("console.revisits", "回访"))
    items.append(("console.metrics", "统计"))
    if login.is_admin:
        items.append(("console.admin_home", "管理"))
    return items


def calendar_warning(login) -> list[dict]:
    """Years the working calendar has to guess (shown to admins and centre operators)."""
    if login is None or not login.is_centre:
        return []
    from backend.services.admin_calendar import years_needing_data

    return years_needing_data()


def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return clock.to_local(value).strftime(fmt) if value else ""


def hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def deadline_state(event, now: dt.datetime | None = None) -> tuple[str, dt.datetime | None]:
    """("overdue" | "warning" | "ok", the deadline that applies now) for an open event."""
    now = now or clock.now()
    due = {"assigned": event.accept_due_at, "processing": event.resolve_due_at,
           "resolved": event.verify_due_at}.get(event.status)
    if due is None:
        return "ok", None
    if due < now:
        return "overdue", due
    start = event.assigned_at or event.created_at
    if event.sla_level in ("yellow", "red") or (
            start and due > start and (now - start) / (due - start) >= WARNING_FRACTION):
        return "warning", due
    return "ok", due


FILTERS = {
    "local_time": local_time,
    "rate": format_rate,
    "hours": hours,
    "status_name": lambda status: STATUS_NAMES.get(status, status),
    "action_name": lambda action: ACTION_LABELS.get(action, action),
}


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def error_response(message: str, status: int, *, redirect_back: bool = False):
    """htmx: a fragment (swapped in place). A form posted from a console page that a domain
    rule refused: back to that page with the message (Post/Redirect/Get). Else an error page."""
    if is_htmx():
        return render_template("console/_error.html", message=message), status
    referrer = request.referrer or ""
    if redirect_back and request.method == "POST" and urlsplit(referrer).path.startswith("/console"):
        flash(message, "error")
        return redirect(referrer, code=303)
    return render_template("console/error.html", message=message, status=status), status


def back_with(message: str, target: str, category: str = "ok"):
    flash(message, category)
    return redirect(target, code=303)


def voice_response(row):
    """A voice note as the browser's <audio> plays it (backend/voice.py), or 404 with why."""
    if not voice.playable(row):
        abort(404, description="这段语音网页放不了，请下载后用微信或播放器打开")
    etag = voice.etag(row)
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    try:
        body, mime = voice.listen(row)
    except voice.NotPlayable:
        abort(404, description="这段语音放不出来（文件坏了），请下载原文件看看")
    except MediaMissing:
        abort(404, description="这段语音的文件已不存在")
    response = Response(body, mimetype=mime)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
