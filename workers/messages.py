"""What a notification says: template fields fitted to WeChat's limits, links, SMS text.

WeChat rejects a whole message (47003) when one field breaks its type's rule, so every
value goes through ``fit()`` — ``thing`` ≤ 20 characters, ``phrase`` ≤ 5 Chinese
characters, ``character_string`` ≤ 32 of letters, digits and symbols, ``time`` with a digit.
https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html

Template ids, link style and pages are settings (see docs/workers.md, "Settings").
"""
from __future__ import annotations

import datetime as dt
import re

from backend import clock, links
from backend.config import Settings
from backend.models import Event
from workers.context import option

# Official-account template ids by setting, with the ids the demo and the sandbox use
# (``python -m server check`` asks WeChat for each; workers/notices.py reads the progress one).
OA_TEMPLATES = {"WECHAT_TEMPLATE_TASK": "ejia-task", "WECHAT_TEMPLATE_DIGEST": "ejia-digest",
                "WECHAT_TEMPLATE_PROGRESS": "ejia-progress-oa"}
LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "time": 32, "number": 32, "name": 10}
_NOT_PHRASE = re.compile(r"[^\u4e00-\u9fff]")
_NOT_CHARSTRING = re.compile(r"[^0-9A-Za-z!#$%&'()*+,./:;=?@\-_~\[\]{}|^`<>]")
_SPACES = re.compile(r"\s+")


def fit(kind: str, value) -> str:
    """``value`` made acceptable as a WeChat field of ``kind`` (never empty)."""
    text = _SPACES.sub(" ", str(value if value is not None else "")).strip()
    limit = LIMITS.get(kind, 20)
    if kind == "phrase":
        text = _NOT_PHRASE.sub("", text)[:limit] or "通知"
    elif kind == "character_string":
        text = _NOT_CHARSTRING.sub("", text)[:limit] or "-"
    elif kind == "number":
        text = re.sub(r"[^0-9.]", "", text)[:limit] or "0"
    else:
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        text = text or "-"
    return text


def local_time(value: dt.datetime | None) -> str:
    """Naive UTC → "2025年10月09日 11:00" (the form WeChat's ``time`` fields show)."""
    if value is None:
        return "无期限"
    return clock.to_local(value).strftime("%Y年%m月%d日 %H:%M")


def event_title(event: Event) -> str:
    category = event.category.name if event.category_id else "事件"
    place = event.address or ""
    return f"{category} {place}".strip()


# What a staff task message says, by kind. (thing fields: ≤ 20 characters after fitting.)
STAFF_HEADLINES = {
    "emergency": "紧急情况，请立即处置",
    "task": "新任务，请受理",
    "return_task": "退回后重新分派，请受理",
    "escalate": "下级上报，请受理",
    "dispatch": "综治中心派遣，请受理",
    "urge": "督办：请尽快处理",
    "overdue": "已超期，督办",
    "overdue_supervisor": "下属事件已超期",
    "yellow": "即将到期，请抓紧",
    "remind": "仍未受理，请尽快受理",
    "verify": "已处置，请核查",
    "reopened": "返工：请重新处理",
}


def task_due(event: Event) -> dt.datetime | None:
    if event.status == "assigned":
        return event.accept_due_at
    if event.status == "resolved":
        return event.verify_due_at
    return event.resolve_due_at


def staff_template(settings: Settings, event: Event, kind: str, openid: str, staff_id: int | None = None) -> dict:
    """OA template message body for a staff task notice (message/template/send)."""
    content = {
        "openid": openid,
        "template_id": option(settings, "wechat_template_task", OA_TEMPLATES["WECHAT_TEMPLATE_TASK"]),
        "data": {
            "thing1": fit("thing", event_title(event)),
            "character_string2": fit("character_string", event.number),
            "thing3": fit("thing", STAFF_HEADLINES.get(kind, kind)),
            "time4": fit("time", local_time(task_due(event))),
        },
    }
    content.update(link(settings, event, staff=True, person_id=staff_id))
    return content


def link(settings: Settings, event: Event | None, *, staff: bool, person_id: int | None = None) -> dict:
    """``{"miniprogram": {appid, pagepath}}`` or ``{"url": …}`` or nothing, by NOTIFY_LINK.

    An H5 link is the event's page signed for one person (backend.links): ``person_id`` is the
    staff member's (``staff=True``) or the reporter's id. Without a person or an event (the
    daily digest) there is no H5 page to open, so no link rather than one that does not open.
    """
    style = option(settings, "notify_link", "miniprogram")
    number = event.number if event is not None else ""
    if style == "miniprogram" and settings.mp_app_id:
        page = option(settings, "mp_task_page" if staff else "mp_event_page",
                      "pages/task/detail?number={number}" if staff else "pages/event/detail?number={number}")
        return {"miniprogram": {"appid": settings.mp_app_id, "pagepath": page.format(number=number)}}
    if style in ("h5", "miniprogram") and event is not None and person_id is not None:
        return {"url": h5_url(settings, event, staff=staff, person_id=person_id)}
    return {}


def h5_url(settings: Settings, event: Event, *, staff: bool, person_id: int) -> str:
    """The event's mobile page signed for this person; ``NOTIFY_H5_URL`` may reshape it
    (``{base}``, ``{number}``, ``{token}``)."""
    person = {"staff": person_id} if staff else {"resident": person_id}
    token = links.event_token(event, settings=settings, **person)
    template = option(settings, "notify_h5_url", "{base}/m/events/{number}?t={token}")
    return template.format(base=settings.public_base_url.rstrip("/"), number=event.number, token=token)


def resident_url(settings: Settings, event: Event, resident_id: int) -> str | None:
    """The link a reporter's customer-service text carries (their own signed page), unless
    NOTIFY_LINK is ``none``. The official account has no other page to open."""
    if option(settings, "notify_link", "miniprogram") == "none":
        return None
    return h5_url(settings, event, staff=False, person_id=resident_id)


def digest_template(settings: Settings, openid: str, day: dt.date, community: str, counts: dict) -> dict:
    summary = f"待受理{counts['waiting']} 处置中{counts['processing']} 超期{counts['overdue']}"
    content = {
        "openid": openid,
        "template_id": option(settings, "wechat_template_digest", OA_TEMPLATES["WECHAT_TEMPLATE_DIGEST"]),
        "data": {
            "thing1": fit("thing", f"{community}每日汇总"),
            "time2": fit("time", day.strftime("%Y年%m月%d日")),
            "thing3": fit("thing", summary),
            "thing4": fit("thing", f"昨日新增{counts['new']} 办结{counts['closed']} 临期{counts['yellow']}"),
        },
    }
    content.update(link(settings, None, staff=True))
    if "miniprogram" in content:
        content["miniprogram"]["pagepath"] = option(settings, "mp_todo_page", "pages/task/list")
    return content


SMS_TEXTS = {
    "task": "【e家】新任务{number}：{title}，请于{due}前受理。",
    "urgent": "【e家】紧急事件{number}：{title}，请立即处理。",
    "urge": "【e家】督办：事件{number}（{title}）请尽快处理。",
    "overdue": "【e家】事件{number}（{title}）已超期，请尽快处理。",
    "remind": "【e家】事件{number}（{title}）已分派{minutes}分钟仍未受理，请尽快受理。",
}


def sms_content(kind: str, event: Event, recipient: str, minutes: int | None = None) -> dict:
    """SMS payload as stored: the text (console provider) and template params (Tencent).

    The phone number is NOT stored: the sender decrypts it from the staff row at send time.
    """
    title = fit("thing", event_title(event))
    due = local_time(task_due(event))
    text_kind = kind if kind in SMS_TEXTS else "task"
    text = SMS_TEXTS[text_kind].format(number=event.number, title=title, due=due, minutes=minutes or "")
    return {"recipient": recipient, "template": text_kind, "params": [event.number, title][:2], "text": text,
            "urgent": bool(event.urgent)}
