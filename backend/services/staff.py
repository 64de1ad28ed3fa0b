"""Staff accounts in the official account: one-time binding tokens (DESIGN §4).

An administrator runs ``python -m server staff bind-qr <staff-id>``: we store a random token
with an expiry on the staff row and WeChat shows a temporary parametric QR whose scene is
``bind:<token>``. The staff member scans it; the callback calls ``bind_openid`` with their
openid. The token works once, until it expires, and never takes an openid that already
belongs to someone else.
"""
from __future__ import annotations

import datetime as dt
import secrets

import peewee

from backend import clock
from backend.crypto import mask_name
from backend.db import for_update, transaction
from backend.errors import Conflict, DomainError, NotFound
from backend.models import Staff

BIND_TOKEN_SECONDS = 600  # the QR's life; WeChat allows up to 30 days, a binding needs minutes
MAX_BIND_TOKEN_SECONDS = 7 * 24 * 3600
TOKEN_BYTES = 24  # 32 URL-safe characters; with "bind:" the scene stays well under WeChat's 64


def create_bind_token(staff_id: int, ttl_seconds: int = BIND_TOKEN_SECONDS) -> tuple[Staff, str, dt.datetime]:
    """A fresh one-time token for ``staff_id`` (replacing any earlier unused one)."""
    if not isinstance(ttl_seconds, int) or not 60 <= ttl_seconds <= MAX_BIND_TOKEN_SECONDS:
        raise DomainError("bad_ttl", f"有效期要在 60 秒到 {MAX_BIND_TOKEN_SECONDS} 秒之间")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = clock.now() + dt.timedelta(seconds=ttl_seconds)
    with transaction():
        staff = for_update(Staff.select().where(Staff.id == staff_id)).first()
        if staff is None or not staff.active:
            raise NotFound("staff_not_found", "找不到这位工作人员")
        staff.bind_token, staff.bind_token_expires_at = token, expires_at
        staff.save(only=[Staff.bind_token, Staff.bind_token_expires_at])
    return staff, token, expires_at


def bind_openid(token: str, openid: str) -> Staff:
    """Bind the official-account ``openid`` to the staff member holding ``token``; the token is spent.

    Refuses an unknown or already used token, an expired one, and an openid bound to another
    staff member. Re-binding the same person to a new WeChat account replaces the old openid.
    """
    token, openid = (token or "").strip(), (openid or "").strip()
    if not token or len(token) > 64 or not openid or len(openid) > 64:
        raise NotFound("bind_token_invalid", "这个绑定二维码无效或已经用过了，请找管理员重新生成")
    try:
        with transaction():
            staff = for_update(Staff.select().where(Staff.bind_token == token)).first()
            if staff is None or not staff.active:
                raise NotFound("bind_token_invalid", "这个绑定二维码无效或已经用过了，请找管理员重新生成")
            if staff.bind_token_expires_at is None or staff.bind_token_expires_at < clock.now():
                raise DomainError("bind_token_expired", "这个绑定二维码已经过期，请找管理员重新生成")
            other = Staff.get_or_none((Staff.oa_openid == openid) & (Staff.id != staff.id))
            if other is not None:
                raise Conflict("openid_taken", f"这个微信已经绑定了其他工作人员（{mask_name(other.name)}），请先找管理员解绑")
            staff.oa_openid, staff.bind_token, staff.bind_token_expires_at = openid, None, None
            staff.save(only=[Staff.oa_openid, Staff.bind_token, Staff.bind_token_expires_at])
    except peewee.IntegrityError:
        # Another staff row took this openid between our check and our write.
        raise Conflict("openid_taken", "这个微信已经绑定了其他工作人员，请先找管理员解绑") from None
    return staff


def staff_for_openid(openid: str | None) -> Staff | None:
    """The active staff member bound to this official-account openid, if any."""
    if not openid:
        return None
    return Staff.get_or_none((Staff.oa_openid == openid) & (Staff.active == True))  # noqa: E712
