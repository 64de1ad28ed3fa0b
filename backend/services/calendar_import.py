"""A year's 放假 and 调休上班 days from a small text file (``python -m server calendar import FILE``).

The installed chinese-calendar has no data after 2026; each year the State Council
(国务院办公厅) announces the next year's holidays in late autumn. An admin types them in, one
line per day or per span, as the notice reads:

    # 2027 年部分节假日安排（国务院办公厅通知）
    2027-01-01 休 元旦
    2027-02-06..2027-02-12 休 春节
    2027-02-14 班 春节调休

``休``/``放假``/``holiday`` marks days off, ``班``/``上班``/``workday`` make-up workdays (on a
weekend); the name is optional. Commas or tabs work too, so the same lines saved from Excel as
CSV (日期,类型,名称 — a header row is skipped) import as well. Blank lines and ``#`` comments
are ignored. Every line is checked first; one bad line and nothing is written. The days go
into ``HolidayOverride`` (the console's 节假日与调休 page shows and edits them); importing the
same file again changes nothing.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from backend import sla
from backend.db import transaction
from backend.errors import DomainError
from backend.models import HolidayOverride
from backend.services.imports import Problem, tabular

KINDS = {"休": False, "放假": False, "假": False, "holiday": False, "off": False,
         "班": True, "上班": True, "调休上班": True, "workday": True, "work": True}
_SPLIT = re.compile(r"\s*[,\t，]\s*|\s+")
_SPAN_SEPARATOR = re.compile(r"\.\.|~|～|至|到|—")
_DAY = re.compile(r"^(\d{4})(?:[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{2})(\d{2}))$")
MAX_SPAN_DAYS = 31
MAX_LINES = 2000


@dataclass
class CalendarFile:
    days: dict[dt.date, tuple[bool, str]] = field(default_factory=dict)  # day → (is_workday, name)
    errors: list[Problem] = field(default_factory=list)

    @property
    def years(self) -> list[int]:
        return sorted({d.year for d in self.days})


def _date(text: str) -> dt.date:
    """2027-10-01, 2027/10/1, 2027.10.1, 2027年10月1日 or 20271001; ValueError otherwise."""
    match = _DAY.match(text.strip())
    if not match:
        raise ValueError(text)
    year, month, day = match.group(1), match.group(2) or match.group(4), match.group(3) or match.group(5)
    return dt.date(int(year), int(month), int(day))


def parse(raw: bytes) -> CalendarFile:
    text, _encoding = tabular.decode(raw)
    result = CalendarFile()
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise DomainError("too_many_lines", f"一个文件最多 {MAX_LINES} 行")
    for number, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip().strip("\ufeff")
        if not line:
            continue
        parts = [p for p in _SPLIT.split(line, maxsplit=2) if p]
        if number == 1 and parts and not parts[0][:1].isdigit():
            continue  # a header row (日期,类型,名称)
        problem = _line(parts, result)
        if problem:
            result.errors.append(Problem(number, problem, line[:40]))
    if not result.days and not result.errors:
        raise DomainError("empty_file", "文件里没有日期")
    return result


def _line(parts: list[str], result: CalendarFile) -> str | None:
    if len(parts) < 2:
        return "每行应是：日期 休/班 名称（如 2027-10-01 休 国庆节）"
    ends = _SPAN_SEPARATOR.split(parts[0])
    if len(ends) > 2 or not all(_DAY.match(e.strip()) for e in ends):
        return f"日期 {parts[0]} 看不懂，请写成 2027-10-01 或 2027-10-01..2027-10-07"
    try:
        first = _date(ends[0])
        last = _date(ends[-1])
    except ValueError:
        return f"没有这一天：{parts[0]}"
    if not 2000 <= first.year <= 2100:
        return "年份超出范围"
    if last < first or (last - first).days >= MAX_SPAN_DAYS:
        return f"日期范围不对（结束要晚于开始，最长 {MAX_SPAN_DAYS} 天）"
    kind = parts[1].strip().lower()
    if kind not in KINDS:
        return f"“{parts[1]}”应是 休 或 班"
    name = (parts[2] if len(parts) > 2 else "").strip()
    if len(name) > 64:
        return "名称请控制在 64 字以内"
    day = first
    while day <= last:
        if day in result.days and result.days[day][0] != KINDS[kind]:
            return f"{day} 前面写过相反的安排"
        result.days[day] = (KINDS[kind], name)
        day += dt.timedelta(days=1)
    return None


def import_days(calendar: CalendarFile) -> dict:
    """Write the days (all or none); returns counts of new, changed and unchanged days."""
    if calendar.errors:
        raise DomainError("calendar_rejected", f"有 {len(calendar.errors)} 行看不懂，什么也没有导入")
    counts = {"create": 0, "update": 0, "same": 0}
    with transaction():
        existing = {o.day: o for o in HolidayOverride.select().where(HolidayOverride.day.in_(list(calendar.days)))}
        for day, (is_workday, name) in sorted(calendar.days.items()):
            row = existing.get(day)
            if row is None:
                HolidayOverride.create(day=day, is_workday=is_workday, name=name)
                counts["create"] += 1
            elif row.is_workday != is_workday or row.name != name:
                HolidayOverride.update(is_workday=is_workday, name=name).where(HolidayOverride.day == day).execute()
                counts["update"] += 1
            else:
                counts["same"] += 1
    sla.invalidate_calendar()
    return counts


def coverage(start: dt.date, days: int = 90) -> list[int]:
    """Years within [start, start + days] whose holidays nobody knows: not in chinese-calendar and
    no day entered for them. Empty means the working calendar covers the period."""
    calendar = sla.WorkCalendar()
    missing = []
    for year in range(start.year, (start + dt.timedelta(days=days)).year + 1):
        if calendar.is_official_data(year):
            continue
        if not HolidayOverride.select().where(
                (HolidayOverride.day >= dt.date(year, 1, 1)) & (HolidayOverride.day <= dt.date(year, 12, 31))
                & (HolidayOverride.is_workday == False)).exists():  # noqa: E712
            missing.append(year)
    return missing
