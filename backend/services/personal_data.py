"""Residents' personal data: what we hold (我的信息), erasure (删除我的信息), and the one way
staff can learn who filed an anonymous report (DESIGN §11).

* ``my_data`` — everything the system holds about a resident, masked, in plain words.
* ``erase_resident`` — removes the phone, nickname and subscribe opt-ins, anonymises every
  ended report at once (backend.services.retention) and marks the resident so the nightly
  job anonymises the open ones as they end; the texts of their WeChat pushes, our replies,
  the bodies of notifications to them and their app feedback are cleared too.
* ``reveal_reporter`` — anonymous means anonymous: staff see 匿名. Only a street-centre
  operator whose area covers the case may see who reported it, with a written reason, and
  that reveal is audited.
"""
from __future__ import annotations

from dataclasses import dataclass

from backend import clock, config, privacy
from backend.crypto import FieldCipher, mask_name, mask_phone
from backend.db import transaction
from backend.errors import DomainError, Forbidden
from backend.models import AppFeedback, Event, EventFollower, Notification, Resident, Staff
from backend.phones import normalise_mobile
from backend.services import audit, drafts, opt_ins, queries, retention
from backend.services.context import get_event, staff_actor
from backend.workflow import OPEN_STATUSES, TERMINAL_STATUSES

RESIDENT_PHONE_CONTEXT = "resident.phone"
MIN_REASON = 4
MAX_REASON = 200


def keep_phone(resident: Resident, raw: str | None) -> str:
    """A phone the resident left for 回访 (chat, mini-program): a mainland mobile or refused;
    stored encrypted with a blind index, like staff phones; returns it masked."""
    phone = normalise_mobile(raw)
    if phone is None:
        raise DomainError("bad_phone", "这个号码不对，请发 11 位手机号")
    cipher = FieldCipher.from_key(config.current().field_key)
    with transaction():
        Resident.update(phone_enc=cipher.encrypt(phone, RESIDENT_PHONE_CONTEXT),
                        phone_index=cipher.blind_index(phone, RESIDENT_PHONE_CONTEXT),
                        phone_offered_at=resident.phone_offered_at or clock.now()
                        ).where(Resident.id == resident.id).execute()
    return mask_phone(phone)


def offer_phone_once(resident: Resident) -> bool:
    """Should the chat offer to keep a phone now? Once per resident, never when one is on file."""
    if resident.phone_enc or resident.phone_offered_at:
        return False
    return bool(Resident.update(phone_offered_at=clock.now())
                .where((Resident.id == resident.id) & Resident.phone_offered_at.is_null()).execute())


def resident_phone(resident: Resident | None) -> str | None:
    """The resident's phone in clear (for a call or an SMS), or None."""
    if resident is None or not resident.phone_enc:
        return None
    try:
        return FieldCipher.from_key(config.current().field_key).decrypt(resident.phone_enc, RESIDENT_PHONE_CONTEXT)
    except Exception:  # noqa: BLE001 — a phone sealed under another key/context is simply unavailable
        return None


@dataclass(frozen=True)
class MyData:
    channels: tuple[str, ...]  # 公众号 / 小程序
    nickname: str | None  # masked
    phone: str | None  # masked
    subscribe_opt_ins: int
    reports_open: int
    reports_ended: int
    reports_anonymised: int
    follows: int
    since: str | None  # ISO date of the first contact
    erase_requested: bool


def my_data(resident: Resident) -> MyData:
    events = Event.select(Event.status, Event.anonymised_at).where(Event.reporter_resident == resident.id)
    statuses = [(e.status, e.anonymised_at) for e in events]
    channels = tuple(name for name, openid in (("公众号", resident.oa_openid), ("小程序", resident.mp_openid))
                     if openid)
    return MyData(
        channels=channels, nickname=mask_name(resident.nickname) if resident.nickname else None,
        phone=mask_phone(resident_phone(resident)) if resident.phone_enc else None,
        subscribe_opt_ins=opt_ins.opt_ins_left(resident),
        reports_open=sum(1 for s, _ in statuses if s in OPEN_STATUSES),
        reports_ended=sum(1 for s, a in statuses if s in TERMINAL_STATUSES and a is None),
        reports_anonymised=sum(1 for _, a in statuses if a is not None),
        follows=EventFollower.select().where(EventFollower.resident == resident.id).count(),
        since=clock.iso(resident.created_at)[:10] if resident.created_at else None,
        erase_requested=resident.erase_requested_at is not None,
    )


@dataclass(frozen=True)
class Erased:
    anonymised: int  # ended reports anonymised now
    waiting: int  # open reports, anonymised when they end
    photos_deleted: int


def erase_resident(resident: Resident) -> Erased:
    """删除我的信息 (confirmed by the resident in their channel). Idempotent."""
    known = tuple(v for v in (resident.nickname, resident_phone(resident)) if v)
    result = retention.Anonymised()
    with transaction():
        opt_ins.forget(resident)
        Resident.update(phone_enc=None, phone_index=None, nickname=None, subscribe_opt_ins=0,
                        erase_requested_at=resident.erase_requested_at or clock.now()
                        ).where(Resident.id == resident.id).execute()
        ended = Event.select().where((Event.reporter_resident == resident.id)
                                     & Event.status.in_(TERMINAL_STATUSES) & Event.anonymised_at.is_null())
        for event in ended:
            result.add(retention.anonymise_event(event, known))
        waiting = Event.select().where((Event.reporter_resident == resident.id)
                                       & Event.status.in_(OPEN_STATUSES)).count()
        for openid in (resident.oa_openid, resident.mp_openid):
            if openid:
                retention.clear_inbound(clock.now(), openid=openid)
                drafts.erase(openid)  # an unfinished chat report, the last position report
        Notification.update(payload=None).where(Notification.recipient == f"resident:{resident.id}").execute()
        for row in AppFeedback.select().where(AppFeedback.resident == resident.id):
            AppFeedback.update(content=privacy.scrub(row.content, known) or "（已删除）", resident=None
                               ).where(AppFeedback.id == row.id).execute()
        audit.record(None, "erase", "resident", resident.id, label="居民本人申请删除",
                     anonymised=result.events, waiting=waiting)
    retention.delete_files(result)
    return Erased(anonymised=result.events, waiting=waiting, photos_deleted=result.photos_deleted)


@dataclass(frozen=True)
class Reporter:
    channel: str
    nickname: str | None
    phone: str | None  # in clear: the point of the reveal is to be able to call
    reports: int


def reveal_reporter(staff: Staff, ref, reason: str | None) -> Reporter:
    """Who filed an anonymous report: street-centre operators of the case only, with a reason."""
    actor = staff_actor(staff)
    if staff.role != "centre_operator":
        raise Forbidden("centre_only", "只有街道综治中心可以查看匿名举报人")
    event = get_event(ref)
    queries.check_can_see(event, actor)
    if not event.anonymous:
        raise DomainError("not_anonymous", "这件事不是匿名上报的")
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON:
        raise DomainError("reason_required", f"请写明为什么要查看举报人（至少{MIN_REASON}个字）")
    if len(reason) > MAX_REASON:
        raise DomainError("reason_too_long", f"原因请控制在{MAX_REASON}字以内")
    if event.reporter_resident_id is None:
        raise DomainError("reporter_gone", "举报人的信息已按规定删除")
    resident = Resident.get_by_id(event.reporter_resident_id)
    with transaction():
        audit.record(actor, "reveal", "event.reporter", event.id, number=event.number, reason=reason)
    return Reporter(
        channel="公众号" if resident.oa_openid else "小程序", nickname=resident.nickname,
        phone=resident_phone(resident),
        reports=Event.select().where(Event.reporter_resident == resident.id).count(),
    )
