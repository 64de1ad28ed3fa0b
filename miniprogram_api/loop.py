"""Hearing back (issue 14) for mini-program residents: subscribe-message opt-ins, 没修好, and the
answer to the centre's 回访 question. The messages themselves are sent by the workers, on the
channel that reaches the resident (workers/reach.py)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from backend.models import Resident
from backend.services import actions, opt_ins, personal_data, revisits
from miniprogram_api import presenters
from miniprogram_api.api import Api, Call
from miniprogram_api.event_schemas import EventDetailOut
from miniprogram_api.residents import visible_event
from miniprogram_api.schemas import Input, Output, text

api = Api()
TemplateId = Annotated[str, Field(min_length=1, max_length=64)]


class SubscriptionsIn(Input):
    answers: dict[TemplateId, Literal["accept", "reject", "ban", "filter"]] = Field(
        description="what wx.requestSubscribeMessage returned: template id → accept / reject / ban / filter",
        min_length=1, max_length=opt_ins.MAX_ANSWERS)


class SubscriptionsOut(Output):
    remaining: dict[str, int] = Field(description="one-time messages we may still send, per template id")


class ComplainIn(Input):
    reason: text(500, 2) = Field(description="什么没修好")


class RevisitAnswerIn(Input):
    answer: Literal["满意", "基本满意", "不满意"]


@api.operation("POST", "/subscriptions", summary="记录订阅消息授权（wx.requestSubscribeMessage 的结果）",
               tag="residents", auth="resident", body=SubscriptionsIn, response=SubscriptionsOut,
               limit="30/minute", description="Each `accept` pays for exactly one progress message; `ban` clears "
                                              "what is left. Unknown template ids → 400.")
def record_subscriptions(call: Call):
    left = opt_ins.record_answers(Resident.get_by_id(call.principal.id), dict(call.body.answers))
    return SubscriptionsOut(remaining=left)


@api.operation("POST", "/events/<number>/complain", summary="没修好：办结后不满意，退回原处理人返工",
               tag="residents", auth="resident", body=ComplainIn, response=EventDetailOut, errors=(409,),
               limit="5/minute")
def complain(call: Call):
    event = visible_event(call)
    event = actions.perform(event.number, call.principal.actor, "complain",
                            {"note": f"居民说没修好：{call.body.reason.strip()}"})
    return presenters.event_detail(event, call.principal.actor)


@api.operation("POST", "/events/<number>/revisit", summary="回答综治中心的回访：满意 / 基本满意 / 不满意",
               tag="residents", auth="resident", body=RevisitAnswerIn, response=EventDetailOut, errors=(404,),
               limit="5/minute")
def answer_revisit(call: Call):
    event = visible_event(call)
    event = revisits.answer(call.principal.id, call.body.answer, event.number)
    return presenters.event_detail(event, call.principal.actor)


class PhoneIn(Input):
    code: text(128, 1) = Field(description="the code from a getPhoneNumber button (one tap; no typing)")


class PhoneOut(Output):
    phone: str = Field(description="masked, e.g. 139****5678")


@api.operation("POST", "/me/phone", summary="留一个手机号，办完后方便电话回访（一键授权，可随时删除）",
               tag="residents", auth="resident", body=PhoneIn, response=PhoneOut, errors=(503,),
               limit="5/minute;20/day",
               description="Exchanges the getPhoneNumber code with WeChat; stored encrypted, shown masked, "
                           "decrypted only for an operator placing a revisit call (audited).")
def keep_phone(call: Call):
    from miniprogram_api.auth import _wechat_call, mini_program

    phone = _wechat_call(mini_program().get_phone_number, call.body.code)
    return PhoneOut(phone=personal_data.keep_phone(Resident.get_by_id(call.principal.id), phone))
