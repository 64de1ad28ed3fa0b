"""``python -m server keys issue|list|revoke|rotate``: Open311 api_keys (backend/services/api_keys.py).

``issue`` and ``rotate`` print one JSON document with the key — the only time it is shown."""
from __future__ import annotations

import json
import sys

from ops.cli import run_with


def register(sub, bootstrap) -> None:
    from backend.models.admin import API_SCOPES, DEFAULT_RATE_LIMIT
    from backend.services.api_keys import DEFAULT_GRACE_HOURS

    p = sub.add_parser("keys", help="Open311 api_keys for department systems")
    keys = p.add_subparsers(dest="keys_command", required=True)
    q = keys.add_parser("issue", help="a new key (printed once)")
    q.add_argument("--name", required=True, help="the system that will hold it")
    q.add_argument("--scope", action="append", choices=API_SCOPES, required=True, dest="scopes",
                   help="repeat for several: read_public, read_full (audited), write")
    q.add_argument("--rate-limit", type=int, default=DEFAULT_RATE_LIMIT, help="requests per minute")
    q.set_defaults(func=lambda args: run_with(bootstrap, lambda s: _issue(args)))
    q = keys.add_parser("list", help="every key: name, first characters, scopes, limit, last use, status")
    q.set_defaults(func=lambda args: run_with(bootstrap, lambda s: _list()))
    q = keys.add_parser("revoke", help="stop a key now")
    q.add_argument("key_id", type=int)
    q.set_defaults(func=lambda args: run_with(bootstrap, lambda s: _revoke(args)))
    q = keys.add_parser("rotate", help="a successor key (printed once); the old one works a while longer")
    q.add_argument("key_id", type=int)
    q.add_argument("--grace-hours", type=int, default=DEFAULT_GRACE_HOURS, help="0 stops the old key now")
    q.set_defaults(func=lambda args: run_with(bootstrap, lambda s: _rotate(args)))


def _shown(issued) -> int:
    row = issued.row
    json.dump({"id": row.id, "name": row.name, "scopes": row.scopes, "rate_limit": row.rate_limit,
               "key": issued.key}, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    print("这个密钥只显示这一次，请交给对方系统保存。", file=sys.stderr)
    return 0


def _issue(args) -> int:
    from backend.services import api_keys

    return _shown(api_keys.issue(args.name, args.scopes, args.rate_limit))


def _rotate(args) -> int:
    from backend.services import api_keys

    issued = _shown(api_keys.rotate(args.key_id, args.grace_hours))
    print(f"旧密钥 #{args.key_id} " + (f"{args.grace_hours} 小时后失效" if args.grace_hours else "已停用"),
          file=sys.stderr)
    return issued


def _revoke(args) -> int:
    from backend.services import api_keys

    row = api_keys.revoke(args.key_id)
    print(f"已停用 #{row.id} {row.name}（{row.prefix}…）")
    return 0


def _list() -> int:
    from backend import clock
    from backend.services import api_keys

    def when(value):
        return clock.to_local(value).strftime("%Y-%m-%d %H:%M") if value else "-"

    print("id\tname\tprefix\tscopes\trate/min\tcreated\tlast used\tstatus")
    for row in api_keys.list_keys():
        print(f"{row.id}\t{row.name}\t{row.prefix}…\t{','.join(row.scopes or [])}\t{row.rate_limit}\t"
              f"{when(row.created_at)}\t{when(row.last_used_at)}\t{api_keys.status_name(row)}")
    return 0
