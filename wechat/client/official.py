"""Official account (公众号) API calls the project makes. Each method is one WeChat API."""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from wechat.client.base import ApiClient, template_data
from wechat.client.errors import WeChatError

if TYPE_CHECKING:
    import redis

    from backend.config import Settings

SHOWQRCODE_BASE = "https://mp.weixin.qq.com"  # showqrcode lives on another host in production
OAUTH_BASE = "https://open.weixin.qq.com"  # the 网页授权 page (the code exchange is on the API host)
OAUTH_SCOPES = ("snsapi_base", "snsapi_userinfo")


class OfficialAccount(ApiClient):
    """``OfficialAccount(settings, redis, timeout=5.0)`` — settings.wechat_app_id / secret."""

    def __init__(self, settings: "Settings", redis: "redis.Redis", timeout: float = 5.0):
        super().__init__(settings, redis, settings.wechat_app_id, settings.wechat_app_secret, timeout)

    def send_template(self, openid: str, template_id: str, data: dict, *, url: str | None = None,
                      miniprogram: dict | None = None, client_msg_id: str) -> int:
        """Template message; returns WeChat's msgid. ``client_msg_id`` makes a resend within
        10 minutes a no-op at WeChat (wechatpy 1.8 cannot pass it, so the body is built here).
        If both ``url`` and ``miniprogram`` ({appid, pagepath}) are given the mini-program wins.

        https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
        """
        if not client_msg_id:
            raise ValueError("client_msg_id is required (de-duplicates resends)")
        body = {"touser": openid, "template_id": template_id, "client_msg_id": client_msg_id,
                "data": template_data(data)}
        if url:
            body["url"] = url
        if miniprogram:
            body["miniprogram"] = dict(miniprogram)
        return int(self.call("post", "cgi-bin/message/template/send", body=body).get("msgid") or 0)

    def send_text(self, openid: str, text: str) -> None:
        """Customer-service text message (only inside the 48-hour window; else 45015).

        https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
        """
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        self.call("post", "cgi-bin/message/custom/send", body=body)

    def download_media(self, media_id: str) -> tuple[bytes, str]:
        """Temporary media (a photo or voice note a user sent) → (content, content type).

        https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Get_temporary_materials.html
        """
        res = self.call("get", "cgi-bin/media/get", params={"media_id": media_id}, raw=True)
        if isinstance(res, dict):  # a JSON document that is not an error: video answers a URL
            raise ValueError(f"media {media_id} is not downloadable content: {sorted(res)}")
        return res.content, res.headers.get("Content-Type", "application/octet-stream").split(";")[0]

    def create_temp_qrcode(self, scene_str: str, expire_seconds: int = 600) -> dict:
        """Temporary parametric QR (QR_STR_SCENE) → {ticket, url, expire_seconds}.

        https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
        """
        if not 1 <= len(scene_str or "") <= 64:
            raise ValueError("scene_str must be 1–64 characters")
        if not 60 <= int(expire_seconds) <= 2592000:
            raise ValueError("expire_seconds must be 60–2592000")
        body = {"expire_seconds": int(expire_seconds), "action_name": "QR_STR_SCENE",
                "action_info": {"scene": {"scene_str": scene_str}}}
        result = self.call("post", "cgi-bin/qrcode/create", body=body)
        return {"ticket": result["ticket"], "url": result.get("url", ""),
                "expire_seconds": int(result.get("expire_seconds") or expire_seconds)}

    def qrcode_image_url(self, ticket: str) -> str:
        """Where the QR picture for ``ticket`` can be fetched (no token needed).

        https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
        """
        base = (self.settings.wechat_api_base or SHOWQRCODE_BASE).rstrip("/")
        return f"{base}/cgi-bin/showqrcode?ticket={quote(ticket, safe='')}"

    def create_menu(self, menu: dict) -> None:
        """Custom menu ({"button": [...]}).

        https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html
        """
        self.call("post", "cgi-bin/menu/create", body=menu)

    def private_templates(self) -> list[dict]:
        """The template messages added to this account: [{template_id, title, content, …}].

        https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
        """
        return list(self.call("get", "cgi-bin/template/get_all_private_template").get("template_list") or [])

    def user_info(self, openid: str) -> dict:
        """Follower profile: subscribe (0/1), subscribe_time, unionid …

        https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html
        """
        return self.call("get", "cgi-bin/user/info", params={"openid": openid, "lang": "zh_CN"})

    def oauth_authorize_url(self, redirect_uri: str, state: str, scope: str = "snsapi_base") -> str:
        """Where to send a browser inside WeChat for 网页授权; WeChat redirects back to
        ``redirect_uri?code=…&state=…`` (silently for ``snsapi_base``). ``state``: ≤ 128 of a-zA-Z0-9.

        https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
        """
        if scope not in OAUTH_SCOPES:
            raise ValueError(f"scope must be one of {', '.join(OAUTH_SCOPES)}")
        if not state.isalnum() or not state.isascii() or len(state) > 128:
            raise ValueError("state must be 1–128 letters and digits")
        query = urlencode({"appid": self.appid, "redirect_uri": redirect_uri, "response_type": "code",
                           "scope": scope, "state": state})
        base = (self.settings.wechat_oauth_base or OAUTH_BASE).rstrip("/")
        return f"{base}/connect/oauth2/authorize?{query}#wechat_redirect"

    def oauth_openid(self, code: str) -> str:
        """A 网页授权 ``code`` (single use, 5 minutes) → the user's openid for this account.
        Needs no access token; the web access token it also answers is not kept (snsapi_base
        has no use for it).

        https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
        """
        params = {"appid": self.appid, "secret": self._secret, "code": code, "grant_type": "authorization_code"}
        result = self.call("get", "sns/oauth2/access_token", params=params, with_token=False)
        openid = result.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WeChatError(-1, "oauth2 answer without openid", api="sns/oauth2/access_token", kind="other")
        return openid
