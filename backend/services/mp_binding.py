"""Who a mini-program user is: a resident (created on first login) or a bound staff member.

Staff bind their mini-program openid once, either with the phone number WeChat vouches for
(``getuserphonenumber`` → matched against ``Staff.phone_index``, the HMAC blind index) or
with a one-time binding code that the console or the CLI issues (``issue_bind_code``). The
code is stored in ``Staff.bind_token`` with an expiry and is consumed by the first use, so a
leaked code binds nobody twice. Nothing here knows about HTTP or WeChat.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass

import peewee

from backend import clock
from backend.crypto import FieldCipher
from backend.db import for_update, transaction
from backend.errors import Conflict, DomainError, NotFound
from backend.models import Resident, Staff
from backend.phones import normalise_mobile

log = logging.getLogger("ejia.mp_binding")

STAFF_PHONE_CONTEXT = "staff.phone"  # blind-index context for Staff.phone_index / phone_enc
BIND_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud, typed on a phone
BIND_CODE_LENGTH = 8
BIND_CODE_TTL_MINUTES = 30


@dataclass(frozen=True)
class Identity:
    kind: str  # "resident" | "staff"
    id: int
    openid: str


def openid_digest(openid: str) -> str:
    """A short, stable fingerprint of an openid (tokens carry this, never the openid itself)."""
    return hashlib.sha256(openid.encode()).hexdigest()[:20]


def identify(openid: str) -> Identity:
    """The bound, active staff member with this openid, else the resident (created once)."""
    if not openid or len(openid) > 64:
        raise DomainError("bad_openid", "微信登录信息不正确，请重新进入小程序")
    staff = Staff.get_or_none((Staff.mp_openid == openid) & (Staff.active == True))  # noqa: E712
    if staff is not None:
        return Identity("staff", staff.id, openid)
    return Identity("resident", resident_for_openid(openid).id, openid)


def resident_for_openid(openid: str) -> Resident:
    resident = Resident.get_or_none(Resident.mp_openid == openid)
    if resident is not None:
        return resident
    try:
        with transaction():
            return Resident.create(mp_openid=openid)
    except peewee.IntegrityError:
        # Two first logins of the same user raced; the other one created the row.
        return Resident.get(Resident.mp_openid == openid)


def _normalise_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def issue_bind_code(staff_id: int, ttl_minutes: int = BIND_CODE_TTL_MINUTES) -> str:
    """A fresh one-time code for the console or CLI to hand to the staff member."""
    staff = Staff.get_or_none((Staff.id == staff_id) & (Staff.active == True))  # noqa: E712
    if staff is None:
        raise NotFound("staff_not_found", "找不到这位工作人员")
    code = "".join(secrets.choice(BIND_CODE_ALPHABET) for _ in range(BIND_CODE_LENGTH))
    expires = clock.now() + dt.timedelta(minutes=ttl_minutes)
    with transaction():
        Staff.update(bind_token=code, bind_token_expires_at=expires).where(Staff.id == staff.id).execute()
    return code


def bind_by_code(code: str, openid: str) -> Staff:
    """Consume a binding code and bind ``openid`` to its staff member."""
    token = _normalise_code(code)
    if not token or len(token) > 64:
        raise DomainError("bad_bind_code", "绑定码不正确，请向管理员重新获取")
    with transaction():
        staff = for_update(Staff.select().where(Staff.bind_token == token)).first()
        if staff is None or not staff.active:
            raise DomainError("bad_bind_code", "绑定码不正确，请向管理员重新获取")
        if staff.bind_token_expires_at is None or staff.bind_token_expires_at < clock.now():
            raise DomainError("bind_code_expired", "绑定码已过期，请向管理员重新获取")
        return _bind(staff, openid, consume_code=True)


def bind_by_phone(phone: str, openid: str, cipher: FieldCipher) -> Staff:
    """Bind ``openid`` to the active staff member whose phone WeChat confirmed."""
    if not phone:
        raise DomainError("phone_unknown", "没有获取到手机号，请重试")
    mobile = normalise_mobile(phone)  # staff phones are stored in this one form
    if mobile is None:
        raise NotFound("phone_not_registered", "这个手机号没有登记为工作人员，请联系管理员，或使用绑定码")
    index = cipher.blind_index(mobile, STAFF_PHONE_CONTEXT)
    with transaction():
        matches = list(for_update(Staff.select().where(
            (Staff.phone_index == index) & (Staff.active == True))))  # noqa: E712
        if not matches:
            raise NotFound("phone_not_registered",
                           "这个手机号没有登记为工作人员，请联系管理员，或使用绑定码")
        if len(matches) > 1:
            raise Conflict("phone_ambiguous", "这个手机号登记在多位工作人员名下，请使用绑定码绑定")
        return _bind(matches[0], openid, consume_code=False)


def _bind(staff: Staff, openid: str, consume_code: bool) -> Staff:
    if staff.mp_openid and staff.mp_openid != openid:
        raise Conflict("already_bound", "这个工作人员账号已绑定另一个微信，请联系管理员解绑")
    holder = Staff.get_or_none((Staff.mp_openid == openid) & (Staff.id != staff.id))
    if holder is not None:
        raise Conflict("openid_taken", "这个微信已绑定另一个工作人员账号，请联系管理员")
    changes = {Staff.mp_openid: openid}
    if consume_code:
        changes.update({Staff.bind_token: None, Staff.bind_token_expires_at: None})
    Staff.update(changes).where(Staff.id == staff.id).execute()
    log.info("staff %s bound a mini-program openid", staff.id)
    return Staff.get_by_id(staff.id)


def unbind(staff_id: int) -> None:
    """Forget the mini-program openid (lost phone, staff left): their tokens stop working."""
    with transaction():
        Staff.update(mp_openid=None).where(Staff.id == staff_id).execute()
