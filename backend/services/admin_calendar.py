"""The working calendar's admin overrides (HolidayOverride) and the missing-year warning.

``chinese_calendar`` ships the State Council's holidays and 调休 make-up days only for
years already announced; for a later year ``backend.sla`` falls back to Monday–Friday.
The console warns when next year has no official data yet, so an admin enters the
announced days here before deadlines start being counted on the wrong days.
"""
from __future__ import annotations

import datetime as dt

from backend import clock, sla
from backend.db import transaction
from backend.errors import DomainError, NotFound
from backend.models import HolidayOverride


def overrides_for(year: int) -> list[HolidayOverride]:
    return list(HolidayOverride.select()
                .where((HolidayOverride.day >= dt.date(year, 1, 1)) & (HolidayOverride.day <= dt.date(year, 12, 31)))
                .order_by(HolidayOverride.day))


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        raise DomainError("bad_day", "日期格式应为 2026-10-01") from None


def set_override(day: dt.date, is_workday: bool, name: str = "") -> HolidayOverride:
    name = (name or "").strip()
    if len(name) > 64:
        raise DomainError("bad_name", "说明请控制在 64 字以内")
    if not 2000 <= day.year <= 2100:
        raise DomainError("bad_day", "日期超出范围")
    with transaction():
        (HolidayOverride.insert(day=day, is_workday=bool(is_workday), name=name)
         .on_conflict(conflict_target=[HolidayOverride.day],
                      update={HolidayOverride.is_workday: bool(is_workday), HolidayOverride.name: name})
         .execute())
    sla.invalidate_calendar()
    return HolidayOverride.get(HolidayOverride.day == day)


def delete_override(day: dt.date) -> None:
    with transaction():
        deleted = HolidayOverride.delete().where(HolidayOverride.day == day).execute()
    if not deleted:
        raise NotFound("override_not_found", "没有这一天的设置")
    sla.invalidate_calendar()


def years_needing_data(today: dt.date | None = None) -> list[dict]:
    """This year and next, if chinese_calendar lacks them: [{year, overrides}] for the warning."""
    today = today or clock.local_today()
    calendar = sla.WorkCalendar()
    out = []
    for year in (today.year, today.year + 1):
        if not calendar.is_official_data(year):
            count = HolidayOverride.select().where(
                (HolidayOverride.day >= dt.date(year, 1, 1)) & (HolidayOverride.day <= dt.date(year, 12, 31))).count()
            out.append({"year": year, "overrides": count})
    return out
