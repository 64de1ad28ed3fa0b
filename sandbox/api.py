"""The WeChat HTTP APIs the project calls, answered like WeChat answers them (see
``endpoint.wechat_api`` for what happens before each handler runs)."""
from __future__ import annotations

import base64
import io
import secrets
import time

from flask import Blueprint, Response, request

from sandbox import validate
from sandbox.endpoint import err as _err, state as _state, wechat_api
from sandbox.state import SandboxState

bp = Blueprint("sandbox_api", __name__)
MEDIA_LIMITS = {"image": 10 << 20, "voice": 2 << 20, "video": 10 << 20, "thumb": 64 << 10}
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


# ---------------------------------------------------------------------- token
def _app_credentials(state: SandboxState, appid, secret):
    apps = state.apps()
    if appid not in apps:
        return _err(40013, "invalid appid")
    if secret != apps[appid]:
        return _err(40125, "invalid appsecret")
    return None


@bp.get("/cgi-bin/token")
@wechat_api("token", token=False)
def token(body):
    """https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html"""
    args = request.args
    if args.get("grant_type") != "client_credential":
        return _err(40002, "invalid grant_type")
    state = _state()
    err = _app_credentials(state, args.get("appid"), args.get("secret"))
    if err:
        return err
    access_token, expires_in = state.issue_token(args["appid"], stable=False)
    return {"access_token": access_token, "expires_in": expires_in}


@bp.post("/cgi-bin/stable_token")
@wechat_api("stable_token", token=False)
def stable_token(body):
    """https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html"""
    if body.get("grant_type") != "client_credential":
        return _err(40002, "invalid grant_type")
    state = _state()
    err = _app_credentials(state, body.get("appid"), body.get("secret"))
    if err:
        return err
    access_token, expires_in = state.issue_token(body["appid"], stable=True, force=body.get("force_refresh") is True)
    return {"access_token": access_token, "expires_in": expires_in}


# ---------------------------------------------------------------------- messages
@bp.post("/cgi-bin/message/template/send")
@wechat_api("message/template/send")
def template_send(body):
    err = validate.check_template(body)
    if err:
        return _err(*err)
    state = _state()
    cmid = body.get("client_msg_id")
    now = time.time()
    with state.lock:
        previous = state.sent_client_msg_ids.get((body["touser"], cmid)) if cmid else None
        if previous and now - previous[1] < 600:
            return {"errcode": 0, "errmsg": "ok", "msgid": previous[0]}
        msgid = state.new_msgid()
        if cmid:
            state.sent_client_msg_ids[(body["touser"], cmid)] = (msgid, now)
    return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


@bp.post("/cgi-bin/message/custom/send")
@wechat_api("message/custom/send")
def custom_send(body):
    err = validate.check_custom(body)
    return _err(*err) if err else {"errcode": 0, "errmsg": "ok"}


@bp.post("/cgi-bin/message/subscribe/send")
@wechat_api("message/subscribe/send", app="mp")
def subscribe_send(body):
    err = validate.check_subscribe(body)
    return _err(*err) if err else {"errcode": 0, "errmsg": "ok", "msgid": _state().new_msgid()}


# ---------------------------------------------------------------------- media
@bp.post("/cgi-bin/media/upload")
@wechat_api("media/upload", json_body=False)
def media_upload(body):
    kind = request.args.get("type")
    if kind not in MEDIA_LIMITS:
        return _err(40004, "invalid media type")
    upload = request.files.get("media")
    if upload is None:
        return _err(41005, "media data missing")
    content = upload.read(MEDIA_LIMITS[kind] + 1)
    if not content:
        return _err(41005, "media data missing")
    if len(content) > MEDIA_LIMITS[kind]:
        return _err(40006, "invalid media size")
    if kind in ("image", "thumb") and not content.startswith(IMAGE_MAGIC):
        return _err(40005, "invalid file type")
    media_id = _state().add_media(content, upload.mimetype or "application/octet-stream", kind)
    return {"type": kind, "media_id": media_id, "created_at": int(time.time())}


@bp.get("/cgi-bin/media/get")
@wechat_api("media/get")
def media_get(body):
    media = _state().media.get(request.args.get("media_id", ""))
    if media is None:
        return _err(40007, "invalid media_id")
    ext = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "audio/amr": "amr"}.get(media.content_type, "bin")
    return Response(media.content, content_type=media.content_type,
                    headers={"Content-disposition": f'attachment; filename="{media.kind}.{ext}"'})


# ---------------------------------------------------------------------- QR codes
@bp.post("/cgi-bin/qrcode/create")
@wechat_api("qrcode/create")
def qrcode_create(body):
    """https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html"""
    action = body.get("action_name")
    scene = (body.get("action_info") or {}).get("scene") if isinstance(body.get("action_info"), dict) else None
    if action not in ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE") or not isinstance(scene, dict):
        return _err(40053, "invalid action info")
    if action.endswith("STR_SCENE"):
        value = scene.get("scene_str")
        if not isinstance(value, str) or not 1 <= len(value) <= 64:
            return _err(40053, "invalid action info: scene_str must be 1-64 characters")
    else:
        value = scene.get("scene_id")
        limit = 100000 if action == "QR_LIMIT_SCENE" else 2**32 - 1
        if not isinstance(value, int) or not 1 <= value <= limit:
            return _err(40053, "invalid action info: scene_id")
    permanent = "LIMIT" in action
    expire = body.get("expire_seconds", 60)
    if not permanent and (not isinstance(expire, int) or not 1 <= expire <= 2592000):
        return _err(40053, "invalid expire_seconds")
    ticket = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode()
    url = f"{request.host_url}_sandbox/qrcodes/{ticket}"
    with _state().lock:
        _state().qrcodes[ticket] = {"ticket": ticket, "scene": str(value), "action_name": action, "url": url,
                                    "expires_at": None if permanent else time.time() + expire}
    answer = {"ticket": ticket, "url": url}
    if not permanent:
        answer["expire_seconds"] = expire
    return answer


@bp.get("/cgi-bin/showqrcode")
def showqrcode():
    """A real PNG encoding the ticket's URL (needs no token, like WeChat's)."""
    import qrcode
    from qrcode.image.pure import PyPNGImage

    state = _state()
    ticket = request.args.get("ticket", "")
    state.record("showqrcode", request.args.to_dict(), None)
    info = state.qrcodes.get(ticket)
    if info is None or (info["expires_at"] and info["expires_at"] < time.time()):
        return Response("invalid or expired ticket", status=404, content_type="text/plain")
    out = io.BytesIO()
    qrcode.make(info["url"], image_factory=PyPNGImage, box_size=8, border=2).save(out)
    return Response(out.getvalue(), content_type="image/png")


# ---------------------------------------------------------------------- mini-program
@bp.get("/sns/jscode2session")
@wechat_api("sns/jscode2session", token=False)
def jscode2session(body):
    """openid = "sandbox-" + js_code. https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html"""
    args, state = request.args, _state()
    if args.get("grant_type") != "authorization_code":
        return _err(40002, "invalid grant_type")
    err = _app_credentials(state, args.get("appid"), args.get("secret"))
    if err:
        return err
    code = args.get("js_code", "")
    if not code:
        return _err(41008, "missing code")
    if not validate.JS_CODE_RE.match(code) or len("sandbox-" + code) > 64:
        return _err(40029, "invalid code")
    with state.lock:
        if state.config.get("single_use_codes") and code in state.used_js_codes:
            return _err(40163, "code been used")
        state.used_js_codes.add(code)
    session_key = base64.b64encode(secrets.token_bytes(16)).decode()
    return {"openid": "sandbox-" + code, "session_key": session_key}


@bp.post("/wxa/business/getuserphonenumber")
@wechat_api("wxa/business/getuserphonenumber", app="mp")
def getuserphonenumber(body):
    """Codes registered with POST /_sandbox/phone-codes; single use, 5 minutes (unless reusable)."""
    state = _state()
    code = body.get("code")
    if not isinstance(code, str) or not code:
        return _err(47001, "data format error: code")
    with state.lock:
        entry = state.phone_codes.get(code)
        if entry is None or entry["expires_at"] < time.time():
            return _err(40029, "invalid code")
        if not entry["reusable"]:
            del state.phone_codes[code]
    phone = entry["phone"]
    return {"errcode": 0, "errmsg": "ok", "phone_info": {
        "phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86",
        "watermark": {"timestamp": int(time.time()), "appid": state.settings.mp_app_id}}}


# ---------------------------------------------------------------------- account
@bp.post("/cgi-bin/menu/create")
@wechat_api("menu/create")
def menu_create(body):
    err = validate.check_menu(body)
    if err:
        return _err(*err)
    with _state().lock:
        _state().menu = body
    return {"errcode": 0, "errmsg": "ok"}


@bp.get("/cgi-bin/menu/get")
@wechat_api("menu/get")
def menu_get(body):
    menu = _state().menu
    return {"menu": menu} if menu else _err(46003, "menu no exist")


@bp.get("/cgi-bin/template/get_all_private_template")
@wechat_api("template/get_all_private_template")
def private_templates(body):
    """https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html"""
    return {"template_list": [{"template_id": t, "title": f"沙盒模板 {t}", "primary_industry": "政府与公共事业",
                               "deputy_industry": "政务民生", "content": "{{thing1.DATA}}", "example": ""}
                              for t in _state().config["templates"]]}


@bp.get("/wxaapi/newtmpl/gettemplate")
@wechat_api("wxaapi/newtmpl/gettemplate", app="mp")
def subscribe_templates(body):
    """https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/getTemplateList.html"""
    return {"errcode": 0, "errmsg": "ok", "data": [
        {"priTmplId": t, "title": f"沙盒订阅模板 {t}", "content": "{{thing1.DATA}}", "example": "", "type": 2}
        for t in _state().config["subscribe_templates"]]}


@bp.get("/cgi-bin/user/info")
@wechat_api("user/info")
def user_info(body):
    openid = request.args.get("openid")
    err = validate.check_openid(openid)
    if err:
        return _err(*err)
    if openid in _state().unsubscribed:
        return {"subscribe": 0, "openid": openid}
    return {"subscribe": 1, "openid": openid, "language": "zh_CN", "subscribe_time": 1700000000,
            "remark": "", "groupid": 0, "tagid_list": [], "subscribe_scene": "ADD_SCENE_QR_CODE",
            "qr_scene": 0, "qr_scene_str": ""}
