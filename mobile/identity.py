"""Who is reporting from a poster page: inside WeChat, the resident behind 网页授权; outside, nobody.

Inside WeChat (the User-Agent says ``MicroMessenger``) the page sends the browser once through
WeChat's ``snsapi_base`` authorisation: silent (no consent screen, no nickname or avatar — we
need nothing but the openid), and the openid is the same one the official account's chat and
template messages use, so the report's progress reaches the person who filed it. The state
parameter is a random nonce kept in a short-lived cookie (no login CSRF); the resident is then
remembered in a signed, HttpOnly cookie for 30 days, so the next poster asks WeChat nothing.

Outside WeChat there is no identity to ask for: the report is anonymous and the page gives its
number and 查询码 to quote (DESIGN §11: anonymous reports are restricted to the holder's chain).
"""
from __future__ import annotations

import logging
import secrets

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from backend.models import Resident
from backend.services.residents import touch_resident

log = logging.getLogger("ejia.mobile.identity")

RESIDENT_COOKIE = "ejia_h5_resident"
STATE_COOKIE = "ejia_h5_oauth"
RESIDENT_DAYS = 30
STATE_SECONDS = 600
SALT = "ejia.h5.resident.v1"


def in_wechat() -> bool:
    return "micromessenger" in (request.headers.get("User-Agent") or "").lower()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.extensions["ejia.settings"].secret_key, salt=SALT)


def current_resident() -> Resident | None:
    """The resident this browser proved to be through WeChat, or None."""
    raw = request.cookies.get(RESIDENT_COOKIE)
    if not raw or len(raw) > 200:
        return None
    try:
        resident_id = _serializer().loads(raw, max_age=RESIDENT_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(resident_id, int) or isinstance(resident_id, bool):
        return None
    return Resident.get_or_none((Resident.id == resident_id) & Resident.oa_openid.is_null(False))


def remember(response, resident: Resident) -> None:
    response.set_cookie(RESIDENT_COOKIE, _serializer().dumps(resident.id), max_age=RESIDENT_DAYS * 86400,
                        httponly=True, samesite="Lax", secure=request.is_secure)


def _official_account():
    from wechat.client import OfficialAccount

    extensions = current_app.extensions
    return OfficialAccount(extensions["ejia.settings"], extensions["ejia.redis"])


def authorize_redirect(response_factory, return_to: str):
    """A redirect to WeChat's authorisation page that comes back to ``return_to``."""
    nonce = secrets.token_hex(16)
    response = response_factory(_official_account().oauth_authorize_url(return_to, nonce))
    response.set_cookie(STATE_COOKIE, nonce, max_age=STATE_SECONDS, httponly=True, samesite="Lax",
                        secure=request.is_secure)
    return response


def resident_from_callback() -> Resident | None:
    """WeChat came back with ``code`` and ``state``: the resident, or None when the state is not
    ours or WeChat refused the code (used, expired, WeChat down) — the page then goes on without
    an identity rather than looping through WeChat again."""
    from wechat.client import WeChatError

    code, state = request.args.get("code", ""), request.args.get("state", "")
    expected = request.cookies.get(STATE_COOKIE, "")
    if not code or len(code) > 128 or not expected or not secrets.compare_digest(state, expected):
        log.info("h5 oauth: state missing or not ours; going on without an identity")
        return None
    try:
        openid = _official_account().oauth_openid(code)
    except WeChatError as exc:
        log.info("h5 oauth: code refused: %s", exc)
        return None
    return touch_resident(openid, opens_window=False)


def forget_state(response) -> None:
    response.delete_cookie(STATE_COOKIE)
