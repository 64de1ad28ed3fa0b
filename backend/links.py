"""Signed links to one event's mobile page: ``{PUBLIC_BASE_URL}/m/events/<number>?t=<token>``.

A token speaks for **one person on one event** (the reporter, or one staff member) and is
signed with SECRET_KEY under its own salt, so it is useless as a console session or a
mini-program token and cannot be moved to another event or person. It expires:

* residents: 30 days — a rating request may come a week or more after the report (resolve
  limits run in working days), and a resident over 60 opens messages when they can;
* staff: 7 days — a task is accepted within hours and resolved within days; a forwarded or
  lost phone's message should not stay a key to a case for long. Every new notice mints a
  fresh link, and staff always have the chat and the mini-program.

A valid signature is never enough on its own: every request re-reads the person (a staff
account deactivated, a resident who erased their data) and re-checks ``workflow.can_see``, so
a grid worker whose case was escalated away, or who moved, loses access with a valid link.
The timestamp comes from ``backend.clock`` (tests freeze it to expire tokens).
"""
from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from backend import clock, config
from backend.config import Settings
from backend.errors import Forbidden
from backend.models import Event, Resident, Staff
from backend.services.context import event_view, resident_actor, staff_actor
from backend.workflow import Actor, can_see

SALT = "ejia.h5.event-link.v1"
LIFETIMES = {"resident": dt.timedelta(days=30), "staff": dt.timedelta(days=7)}
_KINDS = {"r": "resident", "s": "staff"}
MAX_TOKEN = 256
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone


class LinkRefused(Forbidden):
    """A link that does not open: forged, expired, for another event, or no longer allowed."""


class _ClockSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return calendar.timegm(clock.now().utctimetuple())


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=SALT, signer=_ClockSigner)


def event_token(event: Event, *, resident: Resident | int | None = None, staff: Staff | int | None = None,
                settings: Settings | None = None) -> str:
    """The ``t`` value for ``event`` and exactly one person (a resident or a staff member)."""
    if (resident is None) == (staff is None):
        raise ValueError("a link is for one person: give resident= or staff=")
    kind, person = ("r", resident) if resident is not None else ("s", staff)
    person_id = person if isinstance(person, int) else person.id
    return _serializer(settings or config.current()).dumps([event.id, kind, person_id])


def event_link(event: Event, resident: Resident | int | None = None, staff: Staff | int | None = None,
               settings: Settings | None = None) -> str:
    """The absolute URL of ``event``'s mobile page for this person (PUBLIC_BASE_URL)."""
    settings = settings or config.current()
    token = event_token(event, resident=resident, staff=staff, settings=settings)
    return f"{settings.public_base_url.rstrip('/')}/m/events/{event.number}?t={token}"


@dataclass(frozen=True)
class LinkHolder:
    """Who a valid link speaks for, re-checked just now."""

    kind: str  # resident / staff
    actor: Actor
    staff: Staff | None = None
    resident: Resident | None = None

    @property
    def is_reporter(self) -> bool:
        return self.kind == "resident"


def _claims(token: str | None, settings: Settings) -> tuple[int, str, int, dt.datetime]:
    if not token or len(token) > MAX_TOKEN:
        raise LinkRefused("link_invalid", "这个链接不完整或无效，请打开最新收到的消息里的链接")
    try:
        payload, issued = _serializer(settings).loads(token, return_timestamp=True)
    except BadSignature:
        raise LinkRefused("link_invalid", "这个链接不完整或无效，请打开最新收到的消息里的链接") from None
    if (not isinstance(payload, list) or len(payload) != 3 or payload[1] not in _KINDS
            or not all(isinstance(payload[i], int) and not isinstance(payload[i], bool) for i in (0, 2))):
        raise LinkRefused("link_invalid", "这个链接不完整或无效，请打开最新收到的消息里的链接")
    return payload[0], _KINDS[payload[1]], payload[2], issued.replace(tzinfo=None)


def open_link(token: str | None, event: Event, settings: Settings | None = None) -> LinkHolder:
    """The person ``token`` speaks for on ``event``, if they may still see it now.

    Raises ``LinkRefused`` (403) for a forged or truncated token, one made for another event,
    an expired one, a person who no longer exists or is inactive, and one who may no longer
    see the event (``workflow.can_see``: escalated away, moved, erased their data).
    """
    settings = settings or config.current()
    event_id, kind, person_id, issued = _claims(token, settings)
    if event_id != event.id:
        raise LinkRefused("link_other_event", "这个链接不是这件事的，请打开对应消息里的链接")
    if clock.now() - issued > LIFETIMES[kind]:
        days = LIFETIMES[kind].days
        raise LinkRefused("link_expired", f"这个链接已超过{days}天，已失效。请打开最新收到的消息，"
                                          "或在公众号里发“进度”两个字查询")
    if kind == "staff":
        staff = Staff.get_or_none((Staff.id == person_id) & (Staff.active == True))  # noqa: E712
        holder = staff and LinkHolder("staff", staff_actor(staff), staff=staff)
    else:
        resident = Resident.get_or_none(Resident.id == person_id)
        holder = resident and LinkHolder("resident", resident_actor(resident), resident=resident)
    if not holder or not can_see(event_view(event, with_rating=False), holder.actor):
        raise LinkRefused("link_no_access", "您现在无权查看这件事（可能已转给其他人办理）")
    return holder


def confirmation_code(event: Event, settings: Settings | None = None) -> str:
    """The 查询码 of an anonymous report filed from a poster page: shown once to whoever filed it,
    and shown to the case's staff, so a caller who quotes the number *and* the code is known to
    be the reporter — the number alone (sequential, guessable) tells nobody about the case.
    Derived (HMAC of SECRET_KEY over the event), so nothing is stored and nothing can leak."""
    secret = (settings or config.current()).secret_key.encode()
    digest = hmac.new(secret, f"ejia.h5.confirm:{event.id}:{event.number}".encode(), hashlib.sha256).digest()
    chars = [CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in digest[:8]]
    return "".join(chars[:4]) + "-" + "".join(chars[4:])
