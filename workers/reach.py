"""How a notice reaches a resident (issue 14): the delivery policy, in one place.

For each resident-facing notice (受理, 办结 + 请评价, 不予受理 with the reason, a staff 留言,
返工后办结, the rating reminder, a revisit question) the first channel that will actually
reach this person, in this order:

1. ``custom``    customer-service text, inside WeChat's 48-hour window since their last message;
2. ``template``  official-account template message (进度通知) to a follower — no window limit;
3. ``subscribe`` mini-program subscribe message, while a one-time opt-in for the progress
                 template is held (each opt-in pays for exactly one message);
4. ``sms``       to the phone the resident left, when resident SMS is on (quiet hours apply);
5. nothing — recorded as a ``none`` row, status ``skipped``, with the reason.

A permanent refusal moves the notice to the next channel (``after=``): 45015/45047 (window
closed) → template; 43004 (unfollowed: also remembered on the resident) → subscribe; 43101
(opt-in used up: the template's count is set to 0) → SMS. Exactly once per notice: the keys
share ``<notice>:resident:<id>:`` and ``already_planned`` stops a second plan on another
channel. Pure decisions over rows already loaded, apart from that one look-up.
"""
from __future__ import annotations

import datetime as dt
import logging

from backend import clock
from backend.config import Settings, subscribe_templates
from backend.models import Event, Notification, Resident, SubscribeOptIn
from workers import notices
from workers.context import option
from workers.notices import Delivery

log = logging.getLogger("ejia.reach")
ORDER = ("custom", "template", "subscribe", "sms")
CUSTOM_WINDOW = dt.timedelta(hours=47, minutes=50)  # WeChat's 48 h, less a margin for queueing


def opt_ins_left(settings: Settings, resident: Resident) -> int:
    template = subscribe_templates(settings)["progress"]
    row = SubscribeOptIn.get_or_none((SubscribeOptIn.resident == resident.id)
                                     & (SubscribeOptIn.template_id == template))
    return row.remaining if row else 0


def why_not(settings: Settings, resident: Resident, channel: str) -> str | None:
    """None when ``channel`` can reach the resident now; otherwise the reason it cannot."""
    if channel == "custom":
        if not resident.oa_openid:
            return "no official-account openid"
        if resident.last_message_at is None or clock.now() - resident.last_message_at >= CUSTOM_WINDOW:
            return "no message in the last 48 hours"
        return None
    if channel == "template":
        if not resident.oa_openid:
            return "no official-account openid"
        if resident.oa_following is False:
            return "does not follow the official account"
        return None
    if channel == "subscribe":
        if not resident.mp_openid:
            return "no mini-program openid"
        if opt_ins_left(settings, resident) <= 0:
            return "no subscribe opt-in left"
        return None
    if channel == "sms":
        if not option(settings, "resident_sms", True):
            return "resident SMS is off"
        if not resident.phone_enc:
            return "no phone left"
        return None
    raise ValueError(f"unknown channel {channel}")


def plan_notice(settings: Settings, prefix: str, resident: Resident, event: Event, kind: str,
                note: str | None = None, *, after: str | None = None) -> Delivery:
    """The delivery for this notice on the first channel (after ``after``) that reaches the
    resident; a ``none`` delivery (to be recorded as skipped) when none does."""
    recipient = f"resident:{resident.id}"
    start = ORDER.index(after) + 1 if after else 0
    reasons = []
    for channel in ORDER[start:]:
        reason = why_not(settings, resident, channel)
        if reason is None:
            content = dict(notices.content(settings, channel, event, kind, resident, note), note=note)
            return Delivery(f"{prefix}:{recipient}:{channel}", recipient, channel, kind, content)
        reasons.append(f"{channel}: {reason}")
    log.info("resident %s cannot be reached for %s of %s (%s)", resident.id, kind, event.number, "; ".join(reasons))
    return Delivery(f"{prefix}:{recipient}:none", recipient, "none", kind, {"reasons": reasons})


def already_planned(prefix: str, resident: Resident) -> bool:
    """A notice goes out once, whatever channel the first plan chose."""
    return Notification.select().where(Notification.key.startswith(f"{prefix}:resident:{resident.id}:")).exists()
