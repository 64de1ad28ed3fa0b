"""Login (code2session → our own session token), staff binding, and who is calling.

The token is an itsdangerous signature over ``{"k": kind, "i": id, "o": openid digest}``
with its issue time; it expires after ``SESSION_TTL`` seconds. Each request re-loads the
person and checks the openid digest still matches, so unbinding a staff member (or the
staff record being deactivated) ends their sessions at once. WeChat's ``session_key``
never leaves the server: it is kept in Redis under the openid digest, for as long as a token.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from backend import clock
from backend.models import Resident, Staff
from backend.models.people import ROLE_NAMES
from backend.services import mp_binding
from backend.services.context import resident_actor, staff_actor
from backend.services.roster import cipher
from backend.workflow import Actor
from miniprogram_api.api import Api, Call
from miniprogram_api.errors import ApiError
from miniprogram_api.places import area_ref, place_label
from miniprogram_api.schemas import BindIn, DepartmentRef, LoginIn, MeOut, SessionOut, StaffInfo

log = logging.getLogger("ejia.mp.auth")
api = Api()

SESSION_TTL = 24 * 3600
TOKEN_SALT = "ejia.mp.session.v1"
SESSION_KEY_PREFIX = "ejia:mp:session_key:"


@dataclass(frozen=True)
class Principal:
    kind: str  # "resident" | "staff"
    id: int
    digest: str
    staff: Staff | None = None
    resident: Resident | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def actor(self) -> Actor:
        return staff_actor(self.staff) if self.staff is not None else resident_actor(self.resident)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def issue_token(kind: str, person_id: int, openid: str) -> tuple[str, dt.datetime]:
    token = _serializer().dumps({"k": kind[0], "i": person_id, "o": mp_binding.openid_digest(openid)})
    return token, clock.now() + dt.timedelta(seconds=SESSION_TTL)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_claims(required: bool = True) -> dict | None:
    """The verified claims of this request's token (cached on ``g``), or None when absent."""
    if "mp_claims" in g:
        claims = g.mp_claims
    else:
        claims = g.mp_claims = _verify(_bearer())
    if claims is None and required:
        raise ApiError(401, "login_required", "请先登录")
    return claims


def _verify(token: str | None) -> dict | None:
    claims = None
    if token is not None:
        try:
            claims = _serializer().loads(token, max_age=SESSION_TTL)
        except SignatureExpired:
            raise ApiError(401, "token_expired", "登录已过期，请重新登录") from None
        except BadSignature:
            raise ApiError(401, "token_invalid", "登录信息无效，请重新登录") from None
        if not (isinstance(claims, dict) and claims.get("k") in ("r", "s") and isinstance(claims.get("i"), int)
                and isinstance(claims.get("o"), str)):
            raise ApiError(401, "token_invalid", "登录信息无效，请重新登录")
    return claims


def rate_limit_key() -> str:
    """Per-user rate limits: the signed-in person, else the client address."""
    try:
        claims = token_claims(required=False)
    except ApiError:
        claims = None
    if claims:
        return f"{claims['k']}:{claims['i']}"
    return "ip:" + (request.remote_addr or "unknown")


def authenticate(required_role: str) -> Principal:
    """The caller, checked against ``required_role`` ("any", "resident" or "staff")."""
    claims = token_claims(required=True)
    if claims["k"] == "s":
        staff = Staff.get_or_none((Staff.id == claims["i"]) & (Staff.active == True))  # noqa: E712
        if staff is None or not staff.mp_openid or mp_binding.openid_digest(staff.mp_openid) != claims["o"]:
            raise ApiError(401, "token_revoked", "账号绑定已变更，请重新登录")
        principal = Principal("staff", staff.id, claims["o"], staff=staff)
    else:
        resident = Resident.get_or_none(Resident.id == claims["i"])
        if resident is None or not resident.mp_openid or mp_binding.openid_digest(resident.mp_openid) != claims["o"]:
            raise ApiError(401, "token_revoked", "登录信息无效，请重新登录")
        principal = Principal("resident", resident.id, claims["o"], resident=resident)
    if required_role == "resident" and principal.kind != "resident":
        raise ApiError(403, "residents_only", "这个功能是给居民用的，工作人员请使用工作台")
    if required_role == "staff" and principal.kind != "staff":
        raise ApiError(403, "staff_only", "只有工作人员可以使用这个功能")
    return principal


def mini_program():
    """The WeChat mini-program client (wechat/client), pointed at settings.wechat_api_base."""
    from wechat.client import MiniProgram

    return MiniProgram(current_app.extensions["ejia.settings"], current_app.extensions["ejia.redis"])


def _wechat_call(fn, *args):
    from wechat.client import WeChatError

    try:
        return fn(*args)
    except WeChatError as exc:
        log.info("mini-program WeChat call failed: %s", exc)
        if exc.errcode in (40029, 40163, 40125):
            raise ApiError(401, "bad_code", "微信登录凭证无效或已使用，请重新进入小程序") from None
        if exc.errcode == 40226:
            raise ApiError(403, "risky_user", "微信提示该账号存在风险，暂时无法登录") from None
        if exc.errcode == 45011:
            raise ApiError(429, "wechat_busy", "登录的人太多了，请稍后再试") from None
        if exc.kind == "transient":
            raise ApiError(503, "wechat_unavailable", "微信服务暂时不可用，请稍后再试") from None
        raise ApiError(400, "wechat_refused", "微信没有通过这个请求，请重新进入小程序") from None


def staff_info(staff: Staff) -> StaffInfo:
    area = staff.area if staff.area_id else None
    department = staff.department if staff.department_id else None
    return StaffInfo(
        id=staff.id, name=staff.name, role=staff.role, role_name=ROLE_NAMES.get(staff.role, staff.role),
        area=area_ref(area) if area else None, area_label=place_label(area) if area else None,
        department=DepartmentRef(id=department.id, name=department.name) if department else None,
    )


def _me(principal_kind: str, staff: Staff | None) -> dict:
    if principal_kind == "staff":
        return {"role": staff.role, "role_name": ROLE_NAMES.get(staff.role, staff.role), "staff": staff_info(staff)}
    return {"role": "resident", "role_name": "居民", "staff": None}


def _session(identity: mp_binding.Identity) -> SessionOut:
    token, expires = issue_token(identity.kind, identity.id, identity.openid)
    staff = Staff.get_by_id(identity.id) if identity.kind == "staff" else None
    return SessionOut(token=token, expires_in=SESSION_TTL, expires_at=clock.iso(expires),
                      **_me(identity.kind, staff))


@api.operation("POST", "/auth/login", summary="登录：wx.login 的 code 换本系统的会话令牌", tag="auth",
               auth=None, body=LoginIn, response=SessionOut, errors=(401, 403, 503), limit="20/minute",
               description="Calls WeChat code2session; answers our own signed token (Bearer). "
                           "WeChat's session_key stays on the server.")
def login(call: Call):
    session = _wechat_call(mini_program().code_to_session, call.body.code)
    openid = session.get("openid")
    if not openid:
        raise ApiError(401, "bad_code", "微信登录凭证无效，请重新进入小程序")
    identity = mp_binding.identify(openid)
    if session.get("session_key"):
        redis = current_app.extensions["ejia.redis"]
        redis.set(SESSION_KEY_PREFIX + mp_binding.openid_digest(openid), session["session_key"], ex=SESSION_TTL)
    return _session(identity)


@api.operation("POST", "/auth/bind", summary="工作人员绑定：手机号授权码或一次性绑定码", tag="auth",
               auth="any", body=BindIn, response=SessionOut, errors=(404, 409, 503), limit="5/minute;30/day",
               description="Binds the caller's mini-program openid to a staff record and answers a "
                           "staff session token.")
def bind(call: Call):
    principal: Principal = call.principal
    openid = (principal.resident.mp_openid if principal.resident is not None else principal.staff.mp_openid)
    if call.body.bind_code is not None:
        staff = mp_binding.bind_by_code(call.body.bind_code, openid)
    else:
        phone = _wechat_call(mini_program().get_phone_number, call.body.phone_code)
        staff = mp_binding.bind_by_phone(phone, openid, cipher())
    return _session(mp_binding.Identity("staff", staff.id, openid))


@api.operation("GET", "/auth/me", summary="当前登录身份：居民或工作人员（岗位、辖区）", tag="auth",
               auth="any", response=MeOut)
def me(call: Call):
    principal: Principal = call.principal
    return MeOut(**_me(principal.kind, principal.staff))
