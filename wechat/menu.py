"""The official account's custom menu (自定义菜单), created by ``python -m server wechat menu``.

Residents first: 我要上报 (tell or photograph a problem, or scan a building's QR so 楼栋/单元 are
never typed), 我的进度; under 帮助 the help text and the staff entries (a menu is the same
for every follower; a resident who taps a staff entry is told how staff bind). CLICK keys are
the dialog's (``wechat.dialog.engine.MENU_KEYS``); a scan button sends ``scancode_waitmsg``
with what the QR says, which the dialog reads like a scanned poster.
https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html
"""
from __future__ import annotations

MENU = {"button": [
    {"name": "我要上报", "sub_button": [
        {"type": "click", "name": "说一说、拍一拍", "key": "REPORT"},
        {"type": "scancode_waitmsg", "name": "扫楼栋二维码上报", "key": "SCAN_BUILDING"},
    ]},
    {"type": "click", "name": "我的进度", "key": "PROGRESS"},
    {"name": "帮助", "sub_button": [
        {"type": "click", "name": "使用帮助", "key": "HELP"},
        {"type": "click", "name": "工作人员：我的待办", "key": "TODO"},
        {"type": "click", "name": "工作人员：即报即办", "key": "QUICK"},
    ]},
]}


def leaves(menu: dict = MENU) -> list[dict]:
    """Every button that does something, in menu order."""
    out = []
    for button in menu.get("button", []):
        out += button.get("sub_button") or [button]
    return out


def click_buttons(menu: dict = MENU) -> list[tuple[str, str]]:
    """(key, name) of the CLICK buttons: what the chat simulator offers to press."""
    return [(leaf["key"], leaf["name"]) for leaf in leaves(menu) if leaf.get("type") == "click"]
