"""The centre's web console at /console (DESIGN §4): ``register(app)`` is the only entry point.

Server-rendered Jinja pages in Chinese with htmx, Leaflet and ECharts vendored under
static/vendor (nothing is fetched from a CDN at run time). Every request loads the login
from its server-side session; every unsafe request needs the CSRF token; every response
carries a strict Content-Security-Policy (no inline script, so an injected ``<script>``
could not run even if escaping failed somewhere).
"""
from __future__ import annotations

import logging

from flask import g, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from backend.errors import DomainError
from backend.media_store import MediaUnavailable
from console import auth, csrf, rendering
from console.blueprint import bp

# Route modules attach themselves to ``bp`` when imported.
from console import (  # noqa: E402,F401  (imported for their routes)
    views_admin_areas,
    views_admin_buildings,
    views_admin_catalogue,
    views_admin_imports,
    views_admin_keys,
    views_admin_staff,
    views_admin_subscriptions,
    views_dispatch,
    views_events,
    views_map,
    views_metrics,
    views_password,
    views_revisits,
)


@bp.before_request
def _load_login_and_check_csrf():
    csrf.check()
    g.console_login = auth.load_login()
    if (g.console_login is not None and g.console_login.staff.password_change_required
            and request.endpoint not in views_password.ALLOWED_BEFORE_CHANGE):
        return redirect(url_for("console.change_password"), code=303)  # a one-time password: change it first


@bp.after_request
def _security_headers(response):
    tile_origin = rendering.tile_origin()
    response.headers.setdefault("Content-Security-Policy", (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob:{' ' + tile_origin if tile_origin else ''}; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.app_template_global()
def csrf_token() -> str:
    return csrf.token()


@bp.context_processor
def _context():
    login = g.get("console_login")
    return {"login": login, "nav": rendering.nav_for(login), "calendar_warning": rendering.calendar_warning(login)}


@bp.errorhandler(DomainError)
def _domain_error(err: DomainError):
    return rendering.error_response(err.message, err.status, redirect_back=True)


@bp.errorhandler(MediaUnavailable)
def _media_unavailable(err: MediaUnavailable):
    """The media store does not answer: a photo or voice note that cannot be fetched now."""
    logging.getLogger("ejia.console").error("media store unavailable: %s", err)
    body, status = rendering.error_response("照片和语音暂时取不出来，请稍后再试", 503)
    return body, status, {"Retry-After": "5"}


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    if err.code and err.code < 400:
        return err
    messages = {400: "请求不正确", 401: "请先登录", 403: "您没有权限访问这个页面", 404: "页面不存在",
                405: "不支持这种请求", 413: "上传的文件太大", 429: "操作太频繁，请稍后再试"}
    description = err.description if err.description and not err.description.startswith(("The ", "You ")) \
        else messages.get(err.code, "出错了")
    return rendering.error_response(description, err.code or 500)


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, opened only under /console (the only pages with a
    login): every other route — /wechat above all — pays nothing for it (issue 18)."""

    def open_session(self, app, request):
        path = request.path
        if path != bp.url_prefix and not path.startswith(bp.url_prefix + "/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def register(app) -> None:
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.session_interface = ConsoleSessions()
    app.register_blueprint(bp)
    for name, func in rendering.FILTERS.items():
        app.jinja_env.filters.setdefault(name, func)

