"""Deadlines on the Chinese working calendar (DESIGN §3): 时限, 黄牌 at 70 %, 红牌 when overdue.

A pure core (STYLE §8): ``WorkCalendar`` and the functions over it take plain data and
naive-UTC datetimes; only ``load_calendar`` reads the database. Counting happens in
Asia/Shanghai wall time, which has had no DST since 1991, so naive local arithmetic is exact.

The one deadline rule for ``work_hours`` and ``work_days``: **the due time is the earliest
instant at which the required working time has elapsed.** Consequences, all tested:

- counting starts at ``start`` when it is inside office hours, otherwise at the next
  office period (a Friday 23:00 report starts counting on Monday 08:30, or on a 调休 Saturday);
- a limit that exactly fills a period is due at that period's *end*, never at the next
  period's start: 3.5 working hours from 08:30 are due 12:00 (not 14:00);
- a working day is one day of office time (7 h by default). From a start inside office hours
  N working days are due at the same local time-of-day N workdays later; from a start
  outside office hours they are due at the *close* of the Nth workday (1 working day from
  Friday 23:00 → Monday 17:30, the same working instant as Tuesday 08:30 but the wall time
  a handler reads as "by end of Monday"); from a start in the lunch break (counting from
  14:00) they are due at 12:00 of the Nth workday.

``hours`` and ``days`` are natural time. A limit of 0 is due at ``start`` itself.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, Iterator, Mapping

import chinese_calendar

from backend.clock import from_local, to_local

log = logging.getLogger("ejia.sla")

DEFAULT_OFFICE_HOURS = "08:30-12:00,14:00-17:30"
WORK_UNITS = ("work_hours", "work_days")
LIMIT_UNITS = ("work_hours", "work_days", "hours", "days")  # mirrors backend.models.categories
STAGES = ("accept", "resolve", "verify")
CACHE_SECONDS = 60.0
_ZERO = dt.timedelta(0)

Period = tuple[dt.time, dt.time]


def parse_office_hours(raw: str) -> tuple[Period, ...]:
    """Read ``"08:30-12:00,14:00-17:30"`` into sorted, non-overlapping periods.

    The error names OFFICE_HOURS because that is what an admin has to fix.
    """
    hint = f"expected e.g. OFFICE_HOURS={DEFAULT_OFFICE_HOURS!r}"
    periods = []
    for part in (raw or "").split(","):
        try:
            begin_raw, end_raw = part.split("-")
            begin = dt.datetime.strptime(begin_raw.strip(), "%H:%M").time()
            end = dt.datetime.strptime(end_raw.strip(), "%H:%M").time()
        except ValueError:
            raise ValueError(f"OFFICE_HOURS: cannot read {part.strip()!r} in {raw!r}; {hint}") from None
        if begin >= end:
            raise ValueError(f"OFFICE_HOURS: period {part.strip()!r} ends before it starts; {hint}")
        periods.append((begin, end))
    periods.sort()
    for (_, previous_end), (begin, _) in zip(periods, periods[1:]):
        if begin < previous_end:
            raise ValueError(f"OFFICE_HOURS: periods overlap in {raw!r}; {hint}")
    return tuple(periods)


class WorkCalendar:
    """Which local days are workdays and when the office is open on them.

    Authority: the admin's overrides (HolidayOverride), then ``chinese_calendar``, then — for
    years the library does not know — Monday–Friday. That guess is logged once per year and
    listed by ``years_without_data()`` so the console can ask an admin to enter the holidays:
    a deadline must never crash, and a guessed calendar must never pass silently.
    """

    def __init__(self, overrides: Mapping[dt.date, bool] | None = None,
                 office_hours: str = DEFAULT_OFFICE_HOURS, *, warned_years: set[int] | None = None):
        # warned_years may be shared so a process-wide cache that rebuilds calendars
        # warns once per process rather than once per rebuild.
        self.overrides = dict(overrides or {})
        self.periods = parse_office_hours(office_hours)
        self.day_length = sum((_span(begin, end) for begin, end in self.periods), _ZERO)
        self._official: dict[int, bool] = {}
        self._missing: set[int] = set()
        self._warned = set() if warned_years is None else warned_years

    def is_official_data(self, year: int) -> bool:
        """Does chinese_calendar know this year's holidays and 调休 days?"""
        if year not in self._official:
            try:
                chinese_calendar.is_workday(dt.date(year, 1, 1))
                self._official[year] = True
            except NotImplementedError:
                self._official[year] = False
        return self._official[year]

    def years_without_data(self) -> list[int]:
        """Years this calendar has had to guess for (Mon–Fri plus overrides), ascending."""
        return sorted(self._missing)

    def is_workday(self, day: dt.date) -> bool:
        official = self.is_official_data(day.year)
        if not official:
            self._note_missing(day.year)
        if day in self.overrides:
            return self.overrides[day]
        return chinese_calendar.is_workday(day) if official else day.weekday() < 5

    def _note_missing(self, year: int) -> None:
        self._missing.add(year)
        if year in self._warned:
            return
        self._warned.add(year)
        count = sum(1 for day in self.overrides if day.year == year)
        log.warning(
            "No official holiday data for %d in chinese_calendar: counting Monday–Friday as "
            "workdays plus %d admin override(s). An admin should add %d's holidays and 调休 "
            "make-up days in the console.", year, count, year)

    def periods_on(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """Office periods of ``day`` as local naive datetimes; none on a day off."""
        if not self.is_workday(day):
            return []
        return [(dt.datetime.combine(day, begin), dt.datetime.combine(day, end))
                for begin, end in self.periods]

    def _segments_from(self, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Office time from ``start`` onwards, period by period (clipped at ``start``).

        Ends because overrides are finite and every other week has workdays.
        """
        day = start.date()
        while True:
            for begin, end in self.periods_on(day):
                if end > start:
                    yield max(begin, start), end
            day += dt.timedelta(days=1)

    def add_working_time(self, start: dt.datetime, amount: dt.timedelta) -> dt.datetime:
        """Earliest local instant by which ``amount`` of office time has passed since ``start``."""
        if amount <= _ZERO:
            return start
        remaining = amount
        for begin, end in self._segments_from(start):
            if remaining <= end - begin:
                return begin + remaining
            remaining -= end - begin
        raise AssertionError("unreachable: _segments_from never ends")

    def working_time(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """Office time between two local instants (zero if ``end`` ≤ ``start``)."""
        total = _ZERO
        day = start.date()
        while day <= end.date():
            for begin, finish in self.periods_on(day):
                low, high = max(begin, start), min(finish, end)
                if high > low:
                    total += high - low
            day += dt.timedelta(days=1)
        return total


def _span(begin: dt.time, end: dt.time) -> dt.timedelta:
    day = dt.date(2000, 1, 1)
    return dt.datetime.combine(day, end) - dt.datetime.combine(day, begin)


def _local(value: dt.datetime) -> dt.datetime:
    """Naive UTC → naive Asia/Shanghai wall time (safe to add to: no DST)."""
    return to_local(value).replace(tzinfo=None)


def _check_unit(unit: str) -> None:
    if unit not in LIMIT_UNITS:
        raise ValueError(f"unknown time-limit unit {unit!r}; expected one of {LIMIT_UNITS}")


def add_limit(start: dt.datetime, limit: float, unit: str, calendar: WorkCalendar) -> dt.datetime:
    """Due time (naive UTC) of a ``limit`` in ``unit`` counted from ``start`` (naive UTC).

    See the module docstring for the rule on starts outside office hours and boundaries.
    """
    _check_unit(unit)
    if limit < 0:
        raise ValueError(f"time limit must not be negative, got {limit!r}")
    if unit == "hours":
        return start + dt.timedelta(hours=limit)
    if unit == "days":
        return start + dt.timedelta(days=limit)
    amount = dt.timedelta(hours=limit) if unit == "work_hours" else calendar.day_length * limit
    return from_local(calendar.add_working_time(_local(start), amount))


def _spent_and_allowed(start: dt.datetime, due: dt.datetime, now: dt.datetime,
                       unit: str, calendar: WorkCalendar) -> tuple[dt.timedelta, dt.timedelta]:
    """(time used, time allowed), in office time for work_* units, else natural time."""
    _check_unit(unit)
    now = min(max(now, start), due)
    if unit in WORK_UNITS:
        local_start = _local(start)
        return (calendar.working_time(local_start, _local(now)),
                calendar.working_time(local_start, _local(due)))
    return now - start, due - start


def elapsed_fraction(start: dt.datetime, due: dt.datetime, now: dt.datetime,
                     calendar: WorkCalendar, unit: str) -> float:
    """Share of the allowed time used, 0.0–1.0 (a National Day week uses none of a working limit).

    Clamped at 1.0: past ``due`` the wall clock, not this fraction, says "overdue". A limit
    that allows no time at all counts as fully used.
    """
    spent, allowed = _spent_and_allowed(start, due, now, unit, calendar)
    return 1.0 if allowed <= _ZERO else spent / allowed


def sla_level(start: dt.datetime, due: dt.datetime, now: dt.datetime,
              unit: str, calendar: WorkCalendar) -> str:
    """'red' when ``now`` is past ``due``; 'yellow' from 70 % of the allowed time; else 'ok'."""
    if now > due:
        return "red"
    spent, allowed = _spent_and_allowed(start, due, now, unit, calendar)
    # Integer comparison on timedeltas: exactly 70 % is yellow, with no float rounding.
    return "yellow" if spent * 10 >= allowed * 7 else "ok"


def deadlines_for(category: Any, start: dt.datetime,
                  calendar: WorkCalendar) -> dict[str, dt.datetime | None]:
    """accept/resolve/verify due times, all counted from ``start``.

    ``category`` is anything with Category's ``<stage>_limit`` / ``<stage>_unit`` attributes;
    a stage whose limit is None has no deadline. A caller that counts a stage from when it
    begins (resolve from acceptance, say) calls ``add_limit`` with that moment instead.
    """
    result: dict[str, dt.datetime | None] = {}
    for stage in STAGES:
        limit = getattr(category, f"{stage}_limit")
        unit = getattr(category, f"{stage}_unit")
        result[f"{stage}_due_at"] = None if limit is None else add_limit(start, limit, unit, calendar)
    return result


_cache: dict[str, tuple[float, WorkCalendar]] = {}
_warned_years: set[int] = set()


def load_calendar(office_hours: str = DEFAULT_OFFICE_HOURS) -> WorkCalendar:
    """Calendar with the admin's HolidayOverride rows; needs an open DB connection.

    Cached per process for 60 s, so a console edit reaches every worker within a minute
    even where ``invalidate_calendar()`` was not called.
    """
    hit = _cache.get(office_hours)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    # Imported here so this pure core never drags the ORM in at import time and models
    # may one day import sla without a cycle.
    from backend.models.admin import HolidayOverride

    rows = HolidayOverride.select(HolidayOverride.day, HolidayOverride.is_workday)
    calendar = WorkCalendar({row.day: row.is_workday for row in rows}, office_hours,
                            warned_years=_warned_years)
    _cache[office_hours] = (time.monotonic(), calendar)
    return calendar


def invalidate_calendar() -> None:
    """Forget cached calendars (call after an admin edits HolidayOverride)."""
    _cache.clear()
