"""Mini-program (小程序) server API calls the project makes."""
from __future__ import annotations

from typing import TYPE_CHECKING

from wechat.client.base import ApiClient, template_data

if TYPE_CHECKING:
    import redis

    from backend.config import Settings

MINIPROGRAM_STATES = ("developer", "trial", "formal")


class MiniProgram(ApiClient):
    """``MiniProgram(settings, redis, timeout=5.0)`` — settings.mp_app_id / mp_app_secret."""

    def __init__(self, settings: "Settings", redis: "redis.Redis", timeout: float = 5.0):
        super().__init__(settings, redis, settings.mp_app_id, settings.mp_app_secret, timeout)

    def code_to_session(self, js_code: str) -> dict:
        """wx.login code → {openid, session_key, unionid?}. Needs no access token (wechatpy
        1.8 attaches one anyway, forcing a token fetch). Keep ``session_key`` on the server.

        https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
        """
        params = {"appid": self.appid, "secret": self._secret, "js_code": js_code,
                  "grant_type": "authorization_code"}
        result = self.call("get", "sns/jscode2session", params=params, with_token=False)
        return {k: result[k] for k in ("openid", "session_key", "unionid") if k in result}

    def get_phone_number(self, code: str) -> str:
        """getPhoneNumber button code (single use, 5 minutes) → purePhoneNumber.

        https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-info/phone-number/getPhoneNumber.html
        """
        result = self.call("post", "wxa/business/getuserphonenumber", body={"code": code})
        return str(result["phone_info"]["purePhoneNumber"])

    def send_subscribe(self, openid: str, template_id: str, data: dict, *, page: str | None = None,
                       miniprogram_state: str = "formal") -> None:
        """Subscribe message (one per user opt-in, else 43101; strict field types → 47003).

        https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
        """
        if miniprogram_state not in MINIPROGRAM_STATES:
            raise ValueError(f"miniprogram_state must be one of {', '.join(MINIPROGRAM_STATES)}")
        body = {"touser": openid, "template_id": template_id, "data": template_data(data),
                "miniprogram_state": miniprogram_state, "lang": "zh_CN"}
        if page:
            body["page"] = page
        self.call("post", "cgi-bin/message/subscribe/send", body=body)

    def subscribe_templates(self) -> list[dict]:
        """The subscribe-message templates added to this mini-program: [{priTmplId, title, …}].

        https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/getTemplateList.html
        """
        return list(self.call("get", "wxaapi/newtmpl/gettemplate").get("data") or [])
