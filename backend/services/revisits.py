"""抽查回访 by WeChat (issue 14): the centre asks the reporter a short question instead of
calling, and the answer, given in the chat or the mini-program, is the revisit's result.

``ask_by_wechat`` marks the revisit ``asked`` and records the fact ``event.revisit_ask``; the
workers send the question on whatever channel reaches the resident (workers/reach.py).
``answer`` maps 满意 / 基本满意 / 不满意 onto the workflow's ``revisit`` action, taken in the
name of the operator who asked (the rule wants a centre actor; the note says the resident
answered): 不满意 reopens the case, as a phone revisit would. 基本满意 counts as satisfied —
as 12345 hotlines count it — and the note keeps the exact words.
"""
from __future__ import annotations

from backend import clock, outbox
from backend.db import transaction
from backend.errors import DomainError, Forbidden, NotFound
from backend.models import Event, Revisit, Staff
from backend.services import actions, queries
from backend.services.context import staff_actor

ANSWERS = {"满意": "satisfied", "非常满意": "satisfied", "基本满意": "satisfied", "一般": "satisfied",
           "不满意": "unsatisfied", "很不满意": "unsatisfied", "非常不满意": "unsatisfied"}
OPEN = ("pending", "asked")


def ask_by_wechat(revisit_id: int, operator: Staff) -> Revisit:
    revisit = Revisit.get_or_none((Revisit.id == revisit_id) & Revisit.status.in_(OPEN))
    if revisit is None:
        raise NotFound("revisit_not_found", "这条回访已完成或不存在")
    if operator.role not in ("centre_operator", "admin"):
        raise Forbidden("centre_only", "只有综治中心可以回访")
    event = Event.get_by_id(revisit.event_id)
    queries.check_can_see(event, staff_actor(operator))
    if event.reporter_resident_id is None:
        raise DomainError("no_reporter", "这件事没有可以联系的举报人（已删除或由工作人员上报）")
    with transaction():
        Revisit.update(status="asked", asked_at=clock.now(), channel="wechat", operator=operator.id
                       ).where(Revisit.id == revisit.id).execute()
        message = outbox.record("event.revisit_ask", event, None, {"revisit_id": revisit.id})
    outbox.publish([message.id])
    return Revisit.get_by_id(revisit.id)


def asked_of(resident_id: int) -> Revisit | None:
    """The question this resident was asked last and has not answered."""
    return (Revisit.select().join(Event)
            .where((Revisit.status == "asked") & (Event.reporter_resident == resident_id)
                   & (Event.status == "closed"))
            .order_by(Revisit.asked_at.desc(), Revisit.id.desc()).first())


def answer(resident_id: int, words: str, number: str | None = None) -> Event:
    """Record the resident's answer as the revisit's outcome (one answer; later ones refused)."""
    outcome = ANSWERS.get((words or "").strip())
    if outcome is None:
        raise DomainError("bad_answer", "请回答：满意、基本满意 或 不满意")
    revisit = asked_of(resident_id)
    if revisit is None or (number is not None and revisit.event.number != number):
        raise NotFound("no_question", "现在没有要回答的回访")
    operator = Staff.get_or_none(Staff.id == revisit.operator_id)
    if operator is None:
        raise NotFound("no_question", "现在没有要回答的回访")
    return actions.perform(revisit.event_id, staff_actor(operator), "revisit",
                           {"outcome": outcome, "note": f"居民微信回复：{words.strip()}"})
