"""Official-account CLI commands, wired into ``python -m server`` by the composition root.

    python -m server staff bind-qr <staff-id> [--expire-seconds 600]
    python -m server wechat menu [--print] [--wait SECONDS]

``bind-qr`` prints one JSON document: the staff member, the scene (``bind:<token>``), when it
expires and the URL of the QR picture to show them. ``wechat menu`` creates the account's menu
(wechat/menu.py). Exit status 0 on success, 1 when the staff member cannot be found or WeChat
cannot be reached or refuses (the message says what to do), 2 for bad settings.
"""
from __future__ import annotations

import json
import sys
import time

SANDBOX_HINT = ("演示/测试：先运行 python -m server sandbox --port 8001，并设置 WECHAT_API_BASE=http://127.0.0.1:8001"
                "（python -m server run 会自动这样做）")
EXPLAINED = {
    40013: "WECHAT_APP_ID 不对：微信不认识这个 AppID（公众号后台 → 设置与开发 → 基本配置）",
    40125: "WECHAT_APP_SECRET 不对：请在公众号后台“基本配置”重置 AppSecret 后更新",
    40164: "本机的出口 IP 不在公众号的 IP 白名单里：在公众号后台“基本配置 → IP白名单”加上它",
    61004: "本机的出口 IP 不在公众号的 IP 白名单里：在公众号后台“基本配置 → IP白名单”加上它",
    48001: "公众号没有这个接口的权限（生成带参数二维码、自定义菜单、模板消息需要认证的服务号）",
    45009: "今天调用这个接口的次数用完了，明天再试",
}


def explain(err, settings) -> str:
    """What a WeChatError means for the operator, and what to do about it."""
    from wechat.client.base import api_base

    base = api_base(settings)
    if err.source == "network":
        where = ("生产环境：本机要能访问 api.weixin.qq.com（出站 HTTPS 443）。" if "weixin.qq.com" in base
                 else f"WECHAT_API_BASE 指向 {base}，那里没有回应。")
        return f"连不上微信接口 {base}（{err.errmsg}）。{where}{SANDBOX_HINT}"
    if err.source == "http":
        return f"微信接口 {base} 回答了 HTTP {err.http_status}：WECHAT_API_BASE 是否指向微信接口或本地沙盒？"
    return EXPLAINED.get(err.errcode, f"微信返回 {err.errcode} {err.errmsg}")


def _account(settings):
    from backend.redis_conn import connect as connect_redis
    from wechat.client import OfficialAccount

    return OfficialAccount(settings, connect_redis(settings))


def cmd_staff_bind_qr(args) -> int:
    from backend import config
    from backend.db import db, init_database, open_connection
    from backend.errors import DomainError
    from wechat.binding import make_bind_qr
    from wechat.client import WeChatError

    settings = config.current()
    if db.obj is None:
        init_database(settings.database_url)
    account = _account(settings)
    try:
        with open_connection():
            qr = make_bind_qr(int(args.staff_id), account, int(args.expire_seconds))
    except DomainError as err:
        print(f"{err.message} ({err.code})", file=sys.stderr)
        return 1
    except WeChatError as err:
        print(f"微信生成二维码失败：{explain(err, settings)}", file=sys.stderr)
        print("不用微信接口也能绑定：在控制台“人员”页给他发绑定码，或用 python -m server import staff 打印绑定码表；"
              "本人在公众号里发送“绑定 绑定码”。", file=sys.stderr)
        return 1
    json.dump(qr.to_dict(), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


def cmd_wechat_menu(args, settings) -> int:
    """Create the menu (wechat/menu.py) through the client; ``--wait`` retries while WeChat (the
    sandbox, just starting) cannot be reached."""
    from wechat.client import WeChatError
    from wechat.menu import MENU

    if args.print:
        json.dump(MENU, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return 0
    account = _account(settings)
    deadline = time.monotonic() + max(0, args.wait)
    while True:
        try:
            account.create_menu(MENU)
            break
        except WeChatError as err:
            if err.source == "network" and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            print(f"✗ 菜单没有创建：{explain(err, settings)}", file=sys.stderr)
            return 1
    names = " | ".join(b["name"] for b in MENU["button"])
    print(f"✓ 公众号菜单已创建：{names}（微信客户端最多 5 分钟后更新）")
    return 0
