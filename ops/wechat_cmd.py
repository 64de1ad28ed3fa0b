"""``python -m server wechat menu``: the official account's menu (wechat/menu.py, wechat/cli.py)."""
from __future__ import annotations


def register(sub, bootstrap) -> None:
    p = sub.add_parser("wechat", help="official-account setup")
    wechat = p.add_subparsers(dest="wechat_command", required=True)
    q = wechat.add_parser("menu", help="create the menu: 我要上报 (with a building-QR scan button), 我的进度, 帮助 and staff entries")
    q.add_argument("--print", action="store_true", help="print the menu JSON instead of sending it")
    q.add_argument("--wait", type=float, default=0, help="seconds to keep trying while WeChat cannot be reached")
    q.set_defaults(func=lambda args: cmd_menu(args, bootstrap))


def cmd_menu(args, bootstrap) -> int:
    from backend import config
    from wechat.cli import cmd_wechat_menu

    settings = config.current() if args.print else bootstrap()
    return cmd_wechat_menu(args, settings)
