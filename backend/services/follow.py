"""Resident-side use cases the chat needs besides reporting: who the resident is, 关注这件.

A resident is known by their official-account openid; the callback records the row with
every message (backend.services.residents), and this module only falls back to it.
关注这件 adds an ``EventFollower`` row instead of a duplicate report, so the resident hears
about the original event's progress (workers notify followers at closure).
"""
from __future__ import annotations

from backend.db import transaction
from backend.errors import DomainError, NotFound
from backend.models import Event, EventFollower, Resident
from backend.services.context import get_event
from backend.services.residents import touch_resident
from backend.workflow import OPEN_STATUSES


def resident_for_openid(oa_openid: str) -> Resident:
    """The resident behind an official-account openid (the callback has normally created it)."""
    oa_openid = (oa_openid or "").strip()
    if not oa_openid or len(oa_openid) > 64:
        raise DomainError("bad_openid", "无法识别您的微信身份")
    resident = Resident.get_or_none(Resident.oa_openid == oa_openid)
    if resident is not None:
        return resident
    return touch_resident(oa_openid, opens_window=False)  # one writer of resident rows, race-safe


def follow_event(ref, resident: Resident) -> Event:
    """关注这件: follow an open event instead of filing it again. Idempotent."""
    event = get_event(ref)
    if event.reporter_resident_id != resident.id and (event.sensitivity != "public" or event.anonymous):
        raise NotFound("event_not_found", "没有找到这件事，请核对编号")  # never confirm a private case exists
    if event.status not in OPEN_STATUSES:
        raise DomainError("not_open", "这件事已经结束了，不能关注；请回复 2 继续上报")
    if event.reporter_resident_id == resident.id:
        return event  # one's own report is followed already
    with transaction():
        EventFollower.get_or_create(event=event, resident=resident)
    return event


def followed_events(resident_id: int, limit: int = 20) -> list[Event]:
    """Events this resident follows (not their own reports), newest first."""
    return list(Event.select().join(EventFollower, on=(EventFollower.event == Event.id))
                .where(EventFollower.resident == resident_id).order_by(Event.id.desc()).limit(limit))


def is_follower(event: Event, resident_id: int | None) -> bool:
    """Following gives a view of the case only while it is public (a category made sensitive
    later takes that view away)."""
    if resident_id is None or event.sensitivity != "public" or event.anonymous:
        return False
    return EventFollower.select().where((EventFollower.event == event.id)
                                        & (EventFollower.resident == resident_id)).exists()


def set_following(oa_openid: str, following: bool) -> None:
    """关注 / 取消关注 of the official account: template messages reach followers only."""
    resident = resident_for_openid(oa_openid)
    Resident.update(oa_following=following).where(Resident.id == resident.id).execute()
