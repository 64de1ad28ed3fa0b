"""Official-account CLI commands, wired into ``python -m server`` by the composition root.

    python -m server staff bind-qr <staff-id> [--expire-seconds 600]

prints one JSON document: the staff member, the scene (``bind:<token>``), when it expires
and the URL of the QR picture to show them. Exit status 0 on success, 1 when the staff
member cannot be found or WeChat refuses (the message says which), 2 for bad settings.
"""
from __future__ import annotations

import json
import sys


def cmd_staff_bind_qr(args) -> int:
    from backend import config
    from backend.db import db, init_database, open_connection
    from backend.errors import DomainError
    from backend.redis_conn import connect as connect_redis
    from wechat.binding import make_bind_qr
    from wechat.client import OfficialAccount, WeChatError

    settings = config.current()
    if db.obj is None:
        init_database(settings.database_url)
    account = OfficialAccount(settings, connect_redis(settings))
    try:
        with open_connection():
            qr = make_bind_qr(int(args.staff_id), account, int(args.expire_seconds))
    except DomainError as err:
        print(f"{err.message} ({err.code})", file=sys.stderr)
        return 1
    except WeChatError as err:
        print(f"微信生成二维码失败：{err.errcode} {err.errmsg}", file=sys.stderr)
        return 1
    json.dump(qr.to_dict(), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0
