"""``python -m server calendar import FILE`` and ``calendar show [YEAR]``: the year's 放假/调休上班
days (backend/services/calendar_import.py documents the format)."""
from __future__ import annotations

import sys
from pathlib import Path

from ops.cli import run_with


def register(sub, bootstrap) -> None:
    p = sub.add_parser("calendar", help="the working calendar: import a year's holidays and make-up days")
    cal = p.add_subparsers(dest="calendar_command", required=True)
    q = cal.add_parser("import", help="放假/调休上班 days from a text or CSV file (format: docs/deploy.md)")
    q.add_argument("file")
    q.add_argument("--dry-run", action="store_true")
    q.set_defaults(func=lambda args: run_with(bootstrap, lambda s: cmd_import(args)))
    q = cal.add_parser("show", help="what the working calendar knows of a year")
    q.add_argument("year", type=int, nargs="?")
    q.set_defaults(func=lambda args: run_with(bootstrap, lambda s: cmd_show(args)))


def cmd_import(args) -> int:
    from backend.errors import DomainError
    from backend.services import calendar_import

    path = Path(args.file)
    if not path.is_file() or path.stat().st_size > 1024 * 1024:
        raise DomainError("no_file", f"找不到文件 {args.file}（或超过 1 MB）")
    calendar = calendar_import.parse(path.read_bytes())
    for problem in calendar.errors:
        print("✗ " + problem.text())
    if calendar.errors:
        print(f"共 {len(calendar.errors)} 行看不懂，什么也没有导入。")
        return 1
    off = sum(1 for w, _ in calendar.days.values() if not w)
    summary = f"{'、'.join(map(str, calendar.years))} 年：放假 {off} 天，调休上班 {len(calendar.days) - off} 天"
    if args.dry_run:
        print(f"✓ 检查通过（试运行，什么也没有写入）：{summary}")
        return 0
    counts = calendar_import.import_days(calendar)
    print(f"✓ 已导入 {summary}（新增 {counts['create']}，修改 {counts['update']}，未变 {counts['same']}）")
    return 0


def cmd_show(args) -> int:
    from backend import clock, sla
    from backend.services.admin_calendar import overrides_for

    year = args.year or clock.local_today().year
    calendar = sla.WorkCalendar()
    source = "chinese-calendar 自带国务院安排" if calendar.is_official_data(year) else "chinese-calendar 没有这一年的数据"
    rows = overrides_for(year)
    print(f"{year} 年：{source}；另录入 {len(rows)} 天")
    for row in rows:
        print(f"{row.day.isoformat()}\t{'班' if row.is_workday else '休'}\t{row.name}")
    if not calendar.is_official_data(year) and not rows:
        print(f"没有 {year} 年的放假安排：期限会按周一到周五计算。国务院通知发布后运行 python -m server calendar import FILE",
              file=sys.stderr)
    return 0
