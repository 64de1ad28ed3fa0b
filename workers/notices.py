"""What a resident is told, on each channel (the policy that picks the channel: workers/reach.py).

Kinds: ``accepted`` 已受理, ``closed`` 已办结 + 请评价, ``rework_done`` 返工后办结 + 请评价,
``rejected`` 不予受理 + the reason, ``comment`` a staff member's public 留言, ``rate_reminder``
(once, 24 h after closure if unrated), ``revisit`` the centre's 回访 question,
``follower_closed`` (someone who followed the case). Plain words, short, the number first —
and the answer a resident can give right there in the chat.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from backend import clock
from backend.config import Settings, subscribe_templates
from backend.models import Event, Resident
from workers.context import option
from workers.messages import event_title, fit, link, local_time, resident_url

TEXTS = {
    "accepted": "您反映的问题（编号{number}）已受理，正在处理。",
    "closed": "您反映的问题（编号{number}）已办结。满意吗？回复“评价 {number} 5”打分（1—5分）；"
              "没修好请回复“没修好”加上原因。",
    "rework_done": "您反映的问题（编号{number}）已重新处理完。满意吗？回复“评价 {number} 5”打分（1—5分）。",
    "rejected": "您反映的问题（编号{number}）不予受理：{note}",
    "comment": "工作人员就您反映的问题（编号{number}）留言：{note}",
    "rate_reminder": "您反映的问题（编号{number}）已办结，还没有打分。满意吗？回复“评价 {number} 5”（1—5分）。",
    "revisit": "回访：您反映的问题（编号{number}）已办结，您满意吗？请直接回复：满意、基本满意 或 不满意。",
    "follower_closed": "您关注的问题（编号{number}）已办结，感谢您的反映。",
}
# The reporter's texts end with their own signed page (backend.links; docs/h5.md).
LINK_LINES = {"closed": "或点这里打分：{url}", "rework_done": "或点这里打分：{url}", "rate_reminder": "或点这里打分：{url}",
              "revisit": "也可以点这里回答：{url}"}
LINK_LINE = "查看办理进度：{url}"
PHRASES = {"accepted": "已受理", "closed": "已办结", "rework_done": "重新办结", "rejected": "不予受理",
           "comment": "留言", "rate_reminder": "请评价", "revisit": "回访", "follower_closed": "已办结"}
REMARKS = {"closed": "请为处理结果评价", "rework_done": "请为处理结果评价", "rate_reminder": "请为处理结果评价",
           "revisit": "满意吗？请在小程序里回答", "follower_closed": "感谢您的反映"}
SMS_TEXTS = {
    "accepted": "【e家】您反映的问题{number}已受理，正在处理。",
    "closed": "【e家】您反映的问题{number}已办结，请在公众号或小程序里为处理结果打分。",
    "rework_done": "【e家】您反映的问题{number}已重新处理完，请在公众号或小程序里打分。",
    "rejected": "【e家】您反映的问题{number}不予受理，原因请在公众号或小程序里查看。",
    "comment": "【e家】工作人员就您反映的问题{number}留言，请在公众号或小程序里查看。",
    "rate_reminder": "【e家】您反映的问题{number}已办结，还没有打分，请在公众号或小程序里评价。",
    "revisit": "【e家】综治中心回访：您反映的问题{number}已办结，满意吗？工作人员会电话联系您。",
    "follower_closed": "【e家】您关注的问题{number}已办结。",
}


@dataclass(frozen=True)
class Delivery:
    key: str  # unique: <step id or o<outbox id> or a notice name>:<recipient>:<channel>
    recipient: str  # staff:12 / resident:3
    channel: str  # template / custom / subscribe / sms / none (nothing reaches them: recorded)
    kind: str  # task / urge / overdue / yellow / remind / accepted / closed / digest …
    content: dict = field(default_factory=dict)
    urgent: bool = False


def text(kind: str, event: Event, note: str | None = None, url: str | None = None) -> str:
    """The customer-service text; ``url`` (the reporter's page) adds a last line with the link."""
    words = TEXTS[kind].format(number=event.number, note=(note or "")[:200])
    return words + "\n" + LINK_LINES.get(kind, LINK_LINE).format(url=url) if url else words


def content(settings: Settings, channel: str, event: Event, kind: str, resident: Resident,
            note: str | None = None) -> dict:
    reporter = event.reporter_resident_id == resident.id  # a follower has no page of their own
    if channel == "custom":
        url = resident_url(settings, event, resident.id) if reporter else None
        return {"openid": resident.oa_openid, "text": text(kind, event, note, url)}
    if channel == "template":
        body = {"openid": resident.oa_openid,
                "template_id": option(settings, "wechat_template_progress", "ejia-progress-oa"),
                "data": _fields(event, kind, note)}
        body.update(link(settings, event, staff=False, person_id=resident.id if reporter else None))
        return body
    if channel == "subscribe":
        page = option(settings, "mp_event_page", "pages/event/detail?number={number}").format(number=event.number)
        if kind in ("closed", "rework_done", "rate_reminder"):
            page += ("&" if "?" in page else "?") + "rate=1"
        if kind == "revisit":
            page += ("&" if "?" in page else "?") + "revisit=1"
        return {"openid": resident.mp_openid, "template_id": subscribe_templates(settings)["progress"],
                "page": page, "data": _fields(event, kind, note)}
    if channel == "sms":
        return {"recipient": f"resident:{resident.id}", "template": f"resident_{kind}", "params": [event.number],
                "text": SMS_TEXTS[kind].format(number=event.number), "urgent": False}
    raise ValueError(f"no content for channel {channel}")


def _fields(event: Event, kind: str, note: str | None) -> dict:
    """The 进度通知 fields (the same shape for the OA template and the subscribe message)."""
    remark = note if kind in ("rejected", "comment") and note else REMARKS.get(kind, "感谢您的反映")
    return {
        "character_string1": fit("character_string", event.number),
        "thing2": fit("thing", event_title(event)),
        "phrase3": fit("phrase", PHRASES[kind]),
        "time4": fit("time", local_time(clock.now())),
        "thing5": fit("thing", remark),
    }
