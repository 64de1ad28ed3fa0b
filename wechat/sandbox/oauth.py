"""网页授权 (OAuth2) as WeChat does it, so an H5 page opened "inside WeChat" runs offline.

``GET /connect/oauth2/authorize`` (on open.weixin.qq.com in production): checks the app, the
scope and the redirect, then redirects back to ``redirect_uri?code=…&state=…`` at once — what
WeChat does for ``snsapi_base`` (silent). Who the browser is: the openid the chat simulator
last picked (cookie ``ejia_sandbox_openid``, shared by every port of 127.0.0.1), else a
stable per-browser one the sandbox makes up and remembers in that cookie.

``GET /sns/oauth2/access_token`` (api.weixin.qq.com): code → openid; codes are single use
(40163) and live 5 minutes (40029), as WeChat's.

https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
"""
from __future__ import annotations

import secrets
import time
from urllib.parse import unquote, urlencode, urlsplit

from flask import Blueprint, Response, redirect, request

from wechat.sandbox.api import _app_credentials
from wechat.sandbox.endpoint import err as _err, state as _state, wechat_api
from wechat.sandbox.validate import OPENID_RE

bp = Blueprint("sandbox_oauth", __name__)
IDENTITY_COOKIE = "ejia_sandbox_openid"
CODE_TTL = 300
SCOPES = ("snsapi_base", "snsapi_userinfo")


def _refuse(message: str) -> Response:
    """WeChat shows an error page (not JSON) when the authorize link itself is wrong."""
    return Response(f"<!doctype html><meta charset=utf-8><title>微信</title><p>{message}</p>",
                    status=400, content_type="text/html; charset=utf-8")


@bp.get("/connect/oauth2/authorize")
def authorize():
    args, state = request.args, _state()
    state.record("connect/oauth2/authorize", args.to_dict(), None)
    appid = args.get("appid", "")
    if appid not in state.apps() or state.app_kind(appid) != "oa":
        return _refuse("appid 参数错误（10003 redirect_uri 域名与后台配置不一致或 appid 无效）")
    if args.get("response_type") != "code":
        return _refuse("response_type 参数错误")
    if args.get("scope") not in SCOPES:
        return _refuse("scope 参数错误（10005）")
    target = args.get("redirect_uri", "")
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(target) > 2000:
        return _refuse("redirect_uri 参数错误（10003）")
    wanted_state = args.get("state", "")
    if len(wanted_state) > 128 or not (wanted_state == "" or wanted_state.isalnum()):
        return _refuse("state 参数错误")
    openid = unquote(request.cookies.get(IDENTITY_COOKIE, ""))
    if not OPENID_RE.match(openid):
        openid = "sbx-web-" + secrets.token_hex(10)
    code = secrets.token_hex(16)
    with state.lock:
        now = time.time()
        for old in [c for c, e in state.oauth_codes.items() if e["expires_at"] < now]:
            del state.oauth_codes[old]  # a long demo run keeps only live codes
        state.oauth_codes[code] = {"openid": openid, "appid": appid, "scope": args["scope"],
                                   "expires_at": now + CODE_TTL}
    glue = "&" if parts.query else "?"
    response = redirect(f"{target.split('#')[0]}{glue}{urlencode({'code': code, 'state': wanted_state})}",
                        code=302)
    response.set_cookie(IDENTITY_COOKIE, openid, max_age=365 * 86400, samesite="Lax")
    return response


@bp.get("/sns/oauth2/access_token")
@wechat_api("sns/oauth2/access_token", token=False)
def access_token(body):
    args, state = request.args, _state()
    if args.get("grant_type") != "authorization_code":
        return _err(40002, "invalid grant_type")
    appid = args.get("appid")
    err = _app_credentials(state, appid, args.get("secret"))
    if err:
        return err
    code = args.get("code", "")
    if not code:
        return _err(41008, "missing code")
    with state.lock:
        entry = state.oauth_codes.get(code)
        if entry is None or entry["appid"] != appid or entry["expires_at"] < time.time():
            return _err(40029, "invalid code")
        if entry.get("used"):
            return _err(40163, "code been used")
        entry["used"] = True
    return {"access_token": "sbxweb" + secrets.token_urlsafe(24), "expires_in": 7200,
            "refresh_token": "sbxref" + secrets.token_urlsafe(24), "openid": entry["openid"],
            "scope": entry["scope"]}
