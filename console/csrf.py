"""CSRF protection: one random token per browser session, required on every unsafe request.

The token lives in the signed session cookie and must come back in the form field
``csrf_token`` or the ``X-CSRF-Token`` header (htmx sends it from ``hx-headers``). A request
without a matching token gets 400 and nothing runs — checked before login too, so a forged
login cannot plant someone else's session. SameSite=Lax cookies are a second fence.
"""
from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


def token() -> str:
    value = session.get("csrf")
    if not value:
        value = secrets.token_urlsafe(32)
        session["csrf"] = value
    return value


def rotate() -> str:
    """A new token after login/logout, so a token seen before login is useless after it."""
    session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check() -> None:
    if request.method in SAFE_METHODS:
        return
    expected = session.get("csrf")
    sent = request.headers.get(HEADER) or request.form.get(FIELD) or ""
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(400, description="安全校验失败（CSRF），请刷新页面后重试")
