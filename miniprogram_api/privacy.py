"""我的信息 / 删除我的信息 for residents of the mini-program (DESIGN §11, PIPL).

The same services as the chat (backend.services.personal_data): what we hold, masked; and
erasure after an explicit ``{"confirm": true}`` — the page shows what will happen first.
"""
from __future__ import annotations

from pydantic import Field

from backend.models import Resident
from backend.services import personal_data
from miniprogram_api.api import Api, Call
from miniprogram_api.errors import ApiError
from miniprogram_api.schemas import Input, Output

api = Api()


class MyDataOut(Output):
    channels: list[str] = Field(description="公众号 / 小程序: where we can reach you")
    nickname: str | None = Field(description="masked")
    phone: str | None = Field(description="masked; left for revisit calls")
    subscribe_opt_ins: int = Field(description="subscribe messages you allowed and we have not used yet")
    reports_open: int
    reports_ended: int = Field(description="ended reports that still carry your data")
    reports_anonymised: int
    follows: int
    since: str | None = Field(description="first contact, YYYY-MM-DD")
    erase_requested: bool
    erase_effects: str = Field(description="what 删除我的信息 does, to show before asking for confirmation")


class EraseIn(Input):
    confirm: bool = Field(description="must be true: the resident confirmed on the page")


class ErasedOut(Output):
    anonymised: int = Field(description="ended reports whose personal data was removed now")
    waiting: int = Field(description="open reports: their data is removed when they end")
    message: str


ERASE_EFFECTS = ("删除后：手机号、昵称和订阅通知会删掉；办完的事会去掉您的信息和照片（事情本身保留，用来统计）；"
                 "正在办的事办完后再去掉。")


def _resident(call: Call) -> Resident:
    return Resident.get_by_id(call.principal.id)


@api.operation("GET", "/me/data", summary="我的信息：系统存了我哪些信息（已打码）", tag="privacy", auth="resident",
               response=MyDataOut)
def my_data(call: Call):
    data = personal_data.my_data(_resident(call))
    return MyDataOut(**data.__dict__, erase_effects=ERASE_EFFECTS)


@api.operation("POST", "/me/erase", summary="删除我的信息（需确认）", tag="privacy", auth="resident", body=EraseIn,
               response=ErasedOut, limit="3/minute;10/day",
               description="Removes phone, nickname and subscribe opt-ins and anonymises ended reports at once; "
                           "open reports are anonymised when they end.")
def erase(call: Call):
    if call.body.confirm is not True:
        raise ApiError(400, "confirm_required", "请先确认要删除（confirm 须为 true）")
    done = personal_data.erase_resident(_resident(call))
    return ErasedOut(anonymised=done.anonymised, waiting=done.waiting,
                     message=f"已删除。办完的 {done.anonymised} 件已去掉您的信息；正在办的 {done.waiting} 件办完后会自动去掉。")
