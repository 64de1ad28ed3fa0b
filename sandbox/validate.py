"""Payload checks the way WeChat makes them; each returns None or (errcode, errmsg).

Field-type rules (subscribe messages and the official account's category templates):
https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
"""
from __future__ import annotations

import re
from typing import Optional

# Real openids are 28 URL-safe ASCII characters; the sandbox also takes the test factories'
# "oa-张三" but never whitespace, slashes, markup or control characters.
OPENID_RE = re.compile(r"^[^\s/\\<>&\"'\x00-\x1f\x7f]{1,64}$")
JS_CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
NUMBER_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")
PHRASE_RE = re.compile(r"^[\u4e00-\u9fff]+$")
LETTER_RE = re.compile(r"^[A-Za-z]+$")
HAS_DIGIT = re.compile(r"[0-9]")

# key prefix → (max characters, extra check)
FIELD_RULES = {
    "thing": (20, None),
    "number": (32, NUMBER_RE),
    "letter": (32, LETTER_RE),
    "symbol": (5, None),
    "character_string": (32, None),
    "time": (32, HAS_DIGIT),
    "date": (32, HAS_DIGIT),
    "amount": (16, HAS_DIGIT),
    "phone_number": (17, HAS_DIGIT),
    "car_number": (8, None),
    "name": (20, None),
    "phrase": (5, PHRASE_RE),
    "const": (20, None),
}
OTHER_FIELD_MAX = 200  # old-style keys (first, keyword1, remark): generous but bounded
Error = Optional[tuple[int, str]]


def field_type(key: str) -> str | None:
    base = key.rstrip("0123456789")
    return base if base in FIELD_RULES else None


def check_data(data) -> Error:
    """``{"thing1": {"value": "…"}}`` with each value fitting its type → None, else 47003."""
    if not isinstance(data, dict) or not data:
        return 47003, "argument invalid! data is empty or not an object"
    for key, item in data.items():
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            return 47003, f"argument invalid! data.{key}.value must be a string"
        value = item["value"]
        kind = field_type(str(key))
        limit, pattern = FIELD_RULES[kind] if kind else (OTHER_FIELD_MAX, None)
        if not value.strip():
            return 47003, f"argument invalid! data.{key}.value is empty"
        if len(value) > limit:
            return 47003, f"argument invalid! data.{key}.value exceeds {limit} characters"
        if pattern is not None and not pattern.search(value):
            return 47003, f"argument invalid! data.{key}.value is not a valid {kind}"
    return None


def check_openid(openid) -> Error:
    if not isinstance(openid, str) or not OPENID_RE.match(openid):
        return 40003, "invalid openid"
    return None


def check_template(body: dict) -> Error:
    """message/template/send: touser, template_id, data; optional url, miniprogram."""
    err = check_openid(body.get("touser"))
    if err:
        return err
    if not isinstance(body.get("template_id"), str) or not body["template_id"]:
        return 40037, "invalid template_id"
    mini = body.get("miniprogram")
    if mini is not None and (not isinstance(mini, dict) or not isinstance(mini.get("appid"), str)):
        return 40165, "invalid weapp pagepath"
    url = body.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        return 40039, "invalid url"
    cmid = body.get("client_msg_id")
    if cmid is not None and (not isinstance(cmid, str) or len(cmid) > 64):
        return 47003, "argument invalid! client_msg_id"
    return check_data(body.get("data"))


def check_subscribe(body: dict) -> Error:
    """message/subscribe/send: touser, template_id, data, optional page and miniprogram_state."""
    err = check_openid(body.get("touser"))
    if err:
        return err
    if not isinstance(body.get("template_id"), str) or not body["template_id"]:
        return 40037, "invalid template_id"
    if body.get("miniprogram_state", "formal") not in ("developer", "trial", "formal"):
        return 47003, "argument invalid! miniprogram_state"
    page = body.get("page")
    if page is not None and (not isinstance(page, str) or len(page) > 1024):
        return 41030, "invalid page"
    return check_data(body.get("data"))


CUSTOM_TYPES = {"text", "image", "voice", "video", "music", "news", "mpnews", "msgmenu", "wxcard",
                "miniprogrampage"}


def check_custom(body: dict) -> Error:
    """message/custom/send: touser, msgtype and the matching content object."""
    err = check_openid(body.get("touser"))
    if err:
        return err
    msgtype = body.get("msgtype")
    if msgtype not in CUSTOM_TYPES:
        return 40008, "invalid message type"
    content = body.get(msgtype)
    if not isinstance(content, dict):
        return 47001, f"data format error: {msgtype} object missing"
    if msgtype == "text":
        text = content.get("content")
        if not isinstance(text, str) or not text:
            return 44004, "empty content"
        if len(text.encode("utf-8")) > 2048:
            return 45002, "content size out of limit"
    elif msgtype in ("image", "voice") and not content.get("media_id"):
        return 40007, "invalid media_id"
    return None


MENU_TYPES = {"click", "view", "miniprogram", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
              "pic_photo_or_album", "pic_weixin", "location_select", "media_id", "article_id",
              "article_view_limited"}


def check_menu(body: dict) -> Error:
    """menu/create: 1–3 buttons, each a leaf or ≤ 5 sub-buttons; names ≤ 16 / 60 bytes."""
    buttons = body.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return 40016, "invalid button size"
    for button in buttons:
        if not isinstance(button, dict):
            return 47001, "data format error"
        subs = button.get("sub_button")
        err = _check_name(button, 16)
        if err:
            return err
        if subs:
            if not isinstance(subs, list) or len(subs) > 5:
                return 40023, "invalid sub button size"
            for sub in subs:
                err = (_check_name(sub, 60) or _check_leaf(sub)) if isinstance(sub, dict) else (47001, "data format error")
                if err:
                    return err
        else:
            err = _check_leaf(button)
            if err:
                return err
    return None


def _check_name(button: dict, max_bytes: int) -> Error:
    name = button.get("name")
    if not isinstance(name, str) or not name or len(name.encode("utf-8")) > max_bytes:
        return 40018, "invalid button name size"
    return None


def _check_leaf(button: dict) -> Error:
    kind = button.get("type")
    if kind not in MENU_TYPES:
        return 40017, "invalid button type"
    if kind in ("click",) or kind.startswith(("scancode", "pic_", "location")):
        key = button.get("key")
        if not isinstance(key, str) or not key or len(key.encode("utf-8")) > 128:
            return 40019, "invalid button key size"
    if kind in ("view", "miniprogram") and not isinstance(button.get("url"), str):
        return 40055, "invalid button url domain"
    return None
