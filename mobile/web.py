"""``register(app)``: the mobile H5 pages (``/m/…``, ``/q/…``) — errors, headers, display filters.

Plain server-rendered HTML and one vendored-free stylesheet: no script at all, nothing from a
CDN, readable at 360 px. Every refusal is a page in Chinese with the right status — a domain
rule (400/403/409), a link that does not open (403), an unknown poster (404), an upload too
large (413) — never a 500 and never a JSON error a resident cannot read.

Headers: the pages carry personal data and a signed link in their URL, so nothing is cached
(``no-store``), no Referer leaves them (``no-referrer``: the token must not travel to another
site), they cannot be framed, and the Content-Security-Policy allows no script.
"""
from __future__ import annotations

import logging

from flask import render_template
from werkzeug.exceptions import HTTPException

from backend.errors import DomainError
from backend.media_store import MediaUnavailable
from mobile import rendering
from mobile.blueprint import bp

# Route modules attach themselves to ``bp`` when imported.
from mobile import views_event, views_unit  # noqa: E402,F401  (imported for their routes)

log = logging.getLogger("ejia.mobile")
HTTP_MESSAGES = {400: "请求不正确，请返回重试", 403: "您无权打开这个页面", 404: "页面不存在",
                 405: "不支持这种操作", 413: "上传的照片太大了，每张不能超过10MB，请少选几张再试",
                 429: "操作太频繁，请稍后再试", 503: "系统正忙，请稍后再试"}


@bp.after_request
def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.errorhandler(DomainError)
def _domain_error(err: DomainError):
    return rendering.error_page(err.message, err.status)


@bp.errorhandler(MediaUnavailable)
def _media_unavailable(err: MediaUnavailable):
    """The media store does not answer (a photo that cannot be shown now)."""
    log.error("H5: media store unavailable: %s", err)
    body, status = rendering.error_page("照片暂时打不开，请稍后再试", 503)
    return body, status, {"Retry-After": "5"}


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    if err.code and err.code < 400:
        return err
    return rendering.error_page(HTTP_MESSAGES.get(err.code, "出错了，请稍后再试"), err.code or 500)


@bp.route("/m/", defaults={"rest": ""}, methods=["GET", "POST"])
@bp.route("/m/<path:rest>", methods=["GET", "POST"])
def unknown_page(rest: str):
    """Anything else under /m/ is a Chinese 404 page, not Flask's English one."""
    return render_template("mobile/error.html", message=HTTP_MESSAGES[404], status=404), 404


def register(app) -> None:
    app.register_blueprint(bp)
    for name, func in rendering.FILTERS.items():
        app.jinja_env.filters.setdefault(name, func)
