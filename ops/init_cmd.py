"""``python -m server init``: migrations, the default category tree, the top area and the first
admin with a one-time password printed once (backend/services/bootstrap.py)."""
from __future__ import annotations

import sys

from ops.cli import run_with


def register(sub, bootstrap) -> None:
    p = sub.add_parser("init", help="a real deployment's first run: migrations, categories, the first admin")
    p.add_argument("--admin", required=True, metavar="LOGIN", help="the first admin's login name")
    p.add_argument("--admin-name", default="系统管理员", help="their name (shown in the console)")
    p.add_argument("--area-code", help="code of the top area (the admin's scope), e.g. 350602003")
    p.add_argument("--area-name", help="its name, e.g. 通北街道")
    p.add_argument("--area-level", default="street", choices=("city", "district", "street"))
    p.add_argument("--reset-password", action="store_true",
                   help="the admin exists already: give them a new one-time password")
    p.set_defaults(func=lambda args: cmd_init(args, bootstrap))


def cmd_init(args, bootstrap) -> int:
    from backend.db import migrate
    from backend.models.areas import LEVEL_NAMES
    from backend.services.bootstrap import initialise

    settings = bootstrap()
    applied = migrate()  # opens and closes its own connection

    def body(settings) -> int:
        print("✓ 数据库迁移：" + ("、".join(applied) if applied else "已是最新"))
        result = initialise(args.admin, args.admin_name, area_code=args.area_code, area_name=args.area_name,
                            area_level=args.area_level, reset_password=args.reset_password)
        print(f"✓ 事件类别：新增 {result.categories_created} 个" if result.categories_created else "✓ 事件类别：已有")
        area = result.area
        print(f"✓ 最上级区域：{LEVEL_NAMES[area.level]} {area.code} {area.name}"
              + ("（新建）" if result.area_created else "（已有）"))
        admin = result.admin
        print(f"✓ 管理员：{admin.username}（{admin.name}）" + ("（新建）" if result.admin_created else ""))
        for note in result.notes:
            print(f"  {note}")
        if result.password:
            print(f"  一次性密码（只显示这一次，首次登录后必须修改）：{result.password}")
            print(f"  登录：{settings.public_base_url.rstrip('/')}/console/login")
        print("下一步：python -m server import areas 边界.geojson --dry-run；然后 import staff、import buildings；"
              "最后 python -m server check", file=sys.stderr)
        return 0

    return run_with(lambda: settings, body)
