"""SLA calendar: expected values worked out by hand from the 2026 official calendar.

2026 per chinesecalendar 1.11.0 (checked in ``test_library_facts_we_rely_on``):
Spring Festival 02-15..02-23 off, make-up Saturdays 02-14 and 02-28; Mid-autumn 09-25 off;
National Day 10-01..10-07 off, make-up Sunday 09-20 and Saturday 10-10. Default office
hours 08:30-12:00 and 14:00-17:30, so a working day is 7 h. Times below are local
(Asia/Shanghai); ``local()`` turns them into the naive UTC the code stores.
"""
from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.clock import from_local, to_local
from backend.sla import (
    WorkCalendar,
    add_limit,
    deadlines_for,
    elapsed_fraction,
    parse_office_hours,
    sla_level,
)


def local(*args: int) -> dt.datetime:
    return from_local(dt.datetime(*args))


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


def test_library_facts_we_rely_on():
    off = [dt.date(2026, 10, d) for d in range(1, 8)] + [dt.date(2026, 2, d) for d in range(15, 24)]
    on = [dt.date(2026, 10, 10), dt.date(2026, 9, 20), dt.date(2026, 2, 14), dt.date(2026, 2, 28)]
    assert not any(chinese_calendar.is_workday(d) for d in off)
    assert all(chinese_calendar.is_workday(d) for d in on)
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(dt.date(2027, 1, 4))


def test_utc_conversion_is_applied(cal):
    # 16:00 Shanghai is 08:00 UTC; due 2026-10-08 11:00 local is 03:00 UTC.
    assert add_limit(dt.datetime(2026, 9, 30, 8, 0), 4, "work_hours", cal) == dt.datetime(2026, 10, 8, 3, 0)


def test_work_hours_skip_national_day(cal):
    # 16:00-17:30 on 09-30 uses 1.5 h; 10-01..07 off; 2.5 h more from 10-08 08:30.
    assert add_limit(local(2026, 9, 30, 16, 0), 4, "work_hours", cal) == local(2026, 10, 8, 11, 0)


def test_work_days_skip_national_day_and_count_makeup_saturday(cal):
    # Workdays after 09-30: 10-08, 10-09, 10-10 (调休 Sat), 10-12, 10-13.
    assert add_limit(local(2026, 9, 30, 10, 0), 5, "work_days", cal) == local(2026, 10, 13, 10, 0)


def test_friday_23h_before_makeup_saturday(cal):
    # Counting starts Sat 10-10 08:30: 3.5 h to 12:00, 0.5 h from 14:00.
    assert add_limit(local(2026, 10, 9, 23, 0), 4, "work_hours", cal) == local(2026, 10, 10, 14, 30)


def test_friday_23h_ordinary_weekend(cal):
    assert add_limit(local(2026, 10, 16, 23, 0), 4, "work_hours", cal) == local(2026, 10, 19, 14, 30)
    # Outside office hours a working day ends at the close of the day counting starts on.
    assert add_limit(local(2026, 10, 16, 23, 0), 1, "work_days", cal) == local(2026, 10, 19, 17, 30)
    assert add_limit(local(2026, 10, 16, 23, 0), 2, "work_days", cal) == local(2026, 10, 20, 17, 30)


def test_spring_festival(cal):
    # From Fri 02-13 15:00: Sat 02-14 is workday 1, then 02-15..23 off, 02-24 is workday 2.
    assert add_limit(local(2026, 2, 13, 15, 0), 2, "work_days", cal) == local(2026, 2, 24, 15, 0)
    # 0.5 h left on Sat 02-14 (17:00-17:30), 0.5 h on 02-24 from 08:30.
    assert add_limit(local(2026, 2, 14, 17, 0), 1, "work_hours", cal) == local(2026, 2, 24, 9, 0)
    # Natural units ignore the holiday.
    assert add_limit(local(2026, 2, 13, 15, 0), 48, "hours", cal) == local(2026, 2, 15, 15, 0)
    assert add_limit(local(2026, 2, 13, 15, 0), 1, "days", cal) == local(2026, 2, 14, 15, 0)


def test_boundaries_take_the_earliest_instant(cal):
    monday = (2026, 10, 12)
    assert add_limit(local(*monday, 8, 30), 3.5, "work_hours", cal) == local(*monday, 12, 0)
    assert add_limit(local(*monday, 8, 30), 4, "work_hours", cal) == local(*monday, 14, 30)
    assert add_limit(local(*monday, 9, 0), 1, "work_days", cal) == local(2026, 10, 13, 9, 0)
    assert add_limit(local(*monday, 8, 30), 1, "work_days", cal) == local(*monday, 17, 30)
    # Lunch break: counting starts 14:00, 7 h later is 12:00 the next workday.
    assert add_limit(local(*monday, 12, 30), 1, "work_days", cal) == local(2026, 10, 13, 12, 0)
    assert add_limit(local(*monday, 12, 30), 0, "work_hours", cal) == local(*monday, 12, 30)


def test_january_2027_falls_back_to_weekdays_and_warns_once(cal, caplog):
    caplog.set_level(logging.WARNING, logger="ejia.sla")
    start = local(2026, 12, 31, 16, 0)
    # Without data 2027-01-01 (a Friday) counts as a workday: workday 1, Mon 01-04 workday 2.
    assert add_limit(start, 1, "work_days", cal) == local(2027, 1, 1, 16, 0)
    assert add_limit(start, 2, "work_days", cal) == local(2027, 1, 4, 16, 0)
    # 1.5 h on 12-31, 3.5 h in the morning of 01-01, 3 h from 14:00.
    assert add_limit(start, 8, "work_hours", cal) == local(2027, 1, 1, 17, 0)
    warnings = [r for r in caplog.records if r.name == "ejia.sla" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "2027" in warnings[0].getMessage() and "console" in warnings[0].getMessage()
    assert cal.years_without_data() == [2027]
    assert cal.is_official_data(2026) and not cal.is_official_data(2027)


def test_shared_warned_years_warn_once_across_calendars(caplog):
    caplog.set_level(logging.WARNING, logger="ejia.sla")
    warned: set[int] = set()
    for _ in range(3):
        calendar = WorkCalendar(warned_years=warned)
        assert calendar.is_workday(dt.date(2027, 3, 1))
        assert calendar.years_without_data() == [2027]
    assert len([r for r in caplog.records if r.name == "ejia.sla"]) == 1


def test_overrides_win_in_a_year_without_data():
    start = local(2026, 12, 31, 16, 0)
    holiday = WorkCalendar({dt.date(2027, 1, 1): False})
    assert add_limit(start, 2, "work_days", holiday) == local(2027, 1, 5, 16, 0)
    with_saturday = WorkCalendar({dt.date(2027, 1, 1): False, dt.date(2027, 1, 2): True})
    assert add_limit(start, 1, "work_days", with_saturday) == local(2027, 1, 2, 16, 0)
    assert with_saturday.years_without_data() == [2027]


def test_overrides_win_over_the_library():
    # A Sunday inside the National Day week declared a workday: 2.5 h from 10-04 08:30.
    sunday_on = WorkCalendar({dt.date(2026, 10, 4): True})
    assert add_limit(local(2026, 9, 30, 16, 0), 4, "work_hours", sunday_on) == local(2026, 10, 4, 11, 0)
    # The make-up Saturday cancelled: counting starts Monday 10-12.
    saturday_off = WorkCalendar({dt.date(2026, 10, 10): False})
    assert add_limit(local(2026, 10, 9, 23, 0), 4, "work_hours", saturday_off) == local(2026, 10, 12, 14, 30)


def test_yellow_and_red_in_working_hours(cal):
    start = local(2026, 10, 12, 8, 30)
    due = add_limit(start, 4, "work_hours", cal)
    assert due == local(2026, 10, 12, 14, 30)
    # 70 % of 240 min is 168 min: 08:30 + 2 h 48 min = 11:18.
    assert sla_level(start, due, local(2026, 10, 12, 11, 17), "work_hours", cal) == "ok"
    assert sla_level(start, due, local(2026, 10, 12, 11, 18), "work_hours", cal) == "yellow"
    assert elapsed_fraction(start, due, local(2026, 10, 12, 11, 18), cal, "work_hours") == pytest.approx(0.7)
    # Lunch does not count: at 13:00, 210 of 240 min are used.
    assert elapsed_fraction(start, due, local(2026, 10, 12, 13, 0), cal, "work_hours") == pytest.approx(0.875)
    assert sla_level(start, due, due, "work_hours", cal) == "yellow"
    assert sla_level(start, due, due + dt.timedelta(seconds=1), "work_hours", cal) == "red"
    assert elapsed_fraction(start, due, due + dt.timedelta(days=3), cal, "work_hours") == 1.0


def test_holiday_week_uses_no_working_time(cal):
    start = local(2026, 9, 30, 10, 0)
    due = add_limit(start, 1, "work_days", cal)
    assert due == local(2026, 10, 8, 10, 0)  # 5.5 h on 09-30, 1.5 h on 10-08
    assert sla_level(start, due, local(2026, 9, 30, 15, 0), "work_days", cal) == "ok"  # 3 of 7 h
    assert elapsed_fraction(start, due, local(2026, 10, 5, 12, 0), cal, "work_days") == pytest.approx(5.5 / 7)
    assert sla_level(start, due, local(2026, 10, 5, 12, 0), "work_days", cal) == "yellow"


def test_yellow_in_natural_time(cal):
    start = local(2026, 10, 1, 0, 0)
    due = add_limit(start, 10, "hours", cal)
    assert sla_level(start, due, local(2026, 10, 1, 6, 59), "hours", cal) == "ok"
    assert sla_level(start, due, local(2026, 10, 1, 7, 0), "hours", cal) == "yellow"
    assert sla_level(start, due, local(2026, 10, 1, 10, 1), "hours", cal) == "red"


def test_deadlines_for_category(cal):
    category = SimpleNamespace(accept_limit=4, accept_unit="work_hours", resolve_limit=5,
                               resolve_unit="work_days", verify_limit=24, verify_unit="hours")
    assert deadlines_for(category, local(2026, 9, 30, 16, 0), cal) == {
        "accept_due_at": local(2026, 10, 8, 11, 0),
        "resolve_due_at": local(2026, 10, 13, 16, 0),  # 10-08, 09, 10 (Sat), 12, 13
        "verify_due_at": local(2026, 10, 1, 16, 0),
    }
    category.verify_limit = None
    assert deadlines_for(category, local(2026, 9, 30, 16, 0), cal)["verify_due_at"] is None


def test_custom_office_hours_and_bad_input():
    assert parse_office_hours(" 14:00-17:30 , 08:30-12:00") == (
        (dt.time(8, 30), dt.time(12)), (dt.time(14), dt.time(17, 30)))
    eight_hours = WorkCalendar(office_hours="09:00-17:00")
    assert eight_hours.day_length == dt.timedelta(hours=8)
    assert add_limit(local(2026, 10, 12, 16, 0), 2, "work_hours", eight_hours) == local(2026, 10, 13, 10, 0)
    for bad in ["", "8-12", "08:30-12:00;14:00-17:30", "12:00-08:30", "08:30-12:00,11:00-13:00", "25:00-26:00"]:
        with pytest.raises(ValueError, match="OFFICE_HOURS"):
            WorkCalendar(office_hours=bad)
    with pytest.raises(ValueError, match="unit"):
        add_limit(local(2026, 10, 12, 9, 0), 1, "fortnights", WorkCalendar())
    with pytest.raises(ValueError, match="negative"):
        add_limit(local(2026, 10, 12, 9, 0), -1, "work_hours", WorkCalendar())


# --- properties over 2025 – mid 2027 (library data, then the Mon–Fri fallback) -----------

PROPERTY_CAL = WorkCalendar({dt.date(2026, 10, 11): True, dt.date(2027, 1, 1): False})
starts = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 6, 30))
units = st.sampled_from(["work_hours", "work_days", "hours", "days"])


@settings(max_examples=200, deadline=None)
@given(start=starts, limit=st.integers(0, 60), extra=st.integers(0, 30), unit=units)
def test_due_not_before_start_and_monotone_in_limit(start, limit, extra, unit):
    due = add_limit(start, limit, unit, PROPERTY_CAL)
    assert due >= start
    assert add_limit(start, limit + extra, unit, PROPERTY_CAL) >= due


@settings(max_examples=200, deadline=None)
@given(start=starts, limit=st.integers(1, 60), unit=st.sampled_from(["work_hours", "work_days"]))
def test_working_deadline_lies_inside_office_hours_on_a_workday(start, limit, unit):
    due = to_local(add_limit(start, limit, unit, PROPERTY_CAL)).replace(tzinfo=None)
    assert PROPERTY_CAL.is_workday(due.date())
    assert any(begin < due <= end for begin, end in PROPERTY_CAL.periods_on(due.date()))
    # Round trip: the office time between start and due is exactly the limit.
    amount = dt.timedelta(hours=limit) if unit == "work_hours" else PROPERTY_CAL.day_length * limit
    local_start = to_local(start).replace(tzinfo=None)
    assert PROPERTY_CAL.working_time(local_start, due) == amount
