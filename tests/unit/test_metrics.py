"""Metric formulas on hand-built records; every expected figure is worked out by hand."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from backend.metrics import compute, figures, format_rate

START, END = dt.datetime(2025, 3, 1), dt.datetime(2025, 4, 1)  # March 2025, [start, end)
JIA, YI = "/1/2/", "/1/3/"  # two streets; administrative order is 乙 before 甲 in these tests


def t(month, day, hour=0):
    return dt.datetime(2025, month, day, hour)


def event(area, category, status="closed", created=None, accepted=None, resolved=None, closed=None,
          due=None, reopen=0, quick=False, ratings=(), revisits=()):
    return {"area_path": area, "category": category, "status": status, "created_at": created,
            "accepted_at": accepted, "resolved_at": resolved, "closed_at": closed,
            "resolve_due_at": due, "reopen_count": reopen, "quick_record": quick,
            "ratings": [{"score": s, "created_at": at} for s, at in ratings],
            "revisits": [{"status": st, "outcome": o, "done_at": at} for st, o, at in revisits]}


RECORDS = [
    # A: due 3-10, closed 3-9 (on time); accept 2 h, resolve 72 h; rated 5; revisit satisfied.
    event(JIA, "0301", created=t(3, 5), accepted=t(3, 5, 2), resolved=t(3, 8), closed=t(3, 9), due=t(3, 10),
          ratings=[(5, t(3, 9))], revisits=[("done", "satisfied", t(3, 11))]),
    # B: due 3-10, closed 3-12 (late), reopened once; accept 4 h, resolve 144 h; rated 2; unsatisfied.
    event(YI, "0501", created=t(3, 6), accepted=t(3, 6, 4), resolved=t(3, 12), closed=t(3, 12), due=t(3, 10),
          reopen=1, ratings=[(2, t(3, 13))], revisits=[("done", "unsatisfied", t(3, 14))]),
    # C: due 3-20, still processing; accept 6 h; a pending revisit (not counted).
    event(JIA, "0501", "processing", created=t(3, 15), accepted=t(3, 15, 6), due=t(3, 20),
          revisits=[("pending", None, None)]),
    # D: due 4-2 (next period) but closed 3-25; accept 24 h, resolve 96 h; rated 4; unreachable.
    event(YI, "0301", created=t(3, 20), accepted=t(3, 21), resolved=t(3, 24), closed=t(3, 25), due=t(4, 2),
          ratings=[(4, t(3, 26))], revisits=[("done", "unreachable", t(3, 27))]),
    # E: rejected (不予受理) although due 3-15: never a case; no category.
    event(JIA, None, "rejected", created=t(3, 14), due=t(3, 15)),
    # F: due 2-25, closed 3-2, reopened twice; accepted in February; resolve 2-20 → 3-1 12:00 = 228 h.
    event(JIA, "0301", created=t(2, 20), accepted=t(2, 20, 1), resolved=t(3, 1, 12), closed=t(3, 2),
          due=t(2, 25), reopen=2, ratings=[(3, t(3, 3))]),
    # G: 即报即办 in March — counted apart only, even though it has times.
    event(YI, None, created=t(3, 7), accepted=t(3, 7), resolved=t(3, 7), closed=t(3, 7), quick=True,
          ratings=[(5, t(3, 8))]),
    # H: 即报即办 in February — not this period.
    event(JIA, None, created=t(2, 28), closed=t(2, 28), quick=True),
    # I: due 3-31 23:00, closed 4-1 01:00 — due, not closed in time for the period; accept 12 h, resolve 46 h.
    event(YI, "0501", created=t(3, 30), accepted=t(3, 30, 12), resolved=t(3, 31, 22), closed=t(4, 1, 1),
          due=t(3, 31, 23)),
    # J: due exactly 4-1 00:00 (outside the half-open period), closed 3-31; accept 1 h, resolve 3 h;
    #    its revisit is done in April.
    event(JIA, "0301", created=t(3, 31), accepted=t(3, 31, 1), resolved=t(3, 31, 3), closed=t(3, 31),
          due=t(4, 1), revisits=[("done", "satisfied", t(4, 2))]),
]


def test_totals_worked_by_hand():
    row = figures(RECORDS, START, END)
    # 应结案 = A, B, C, I (E rejected; D, F, J due outside March) = 4
    # 结案 = A, B (I closed after the period) = 2; 按期 = A = 1
    assert (row["due"], row["closed"], row["closed_on_time"]) == (4, 2, 1)
    assert row["close_rate"] == 2 / 4 and row["on_time_rate"] == 1 / 4
    # accepted in March: A 2, B 4, C 6, D 24, I 12, J 1 h → 49 / 6 (F in Feb; G quick)
    assert row["accepted"] == 6 and row["mean_hours_to_accept"] == pytest.approx(49 / 6)
    # resolved in March: A 72, B 144, D 96, F 228, I 46, J 3 h → 589 / 6
    assert row["resolved"] == 6 and row["mean_hours_to_resolve"] == pytest.approx(589 / 6)
    # closed in March: A, B, D, F, J = 5 (I in April, G quick); reopened among them: B, F → 2 / 5
    assert (row["closed_in_period"], row["reopened"], row["rework_rate"]) == (5, 2, 0.4)
    # ratings in March: A 5, B 2, D 4, F 3 (G quick) → ≥ 4: A, D → 2 / 4
    assert (row["ratings"], row["satisfied_ratings"], row["satisfaction_rate"]) == (4, 2, 0.5)
    # revisits done in March: A satisfied, B unsatisfied (D unreachable, C pending, J April) → 1 / 2
    assert (row["revisits"], row["satisfied_revisits"], row["revisit_satisfaction_rate"]) == (2, 1, 0.5)
    assert row["quick_record_count"] == 1  # G only
    assert not any(word in key for key in row for word in ("login", "online", "activity", "quota"))


def test_by_area_worked_by_hand_and_in_the_callers_order():
    yi, jia = compute(RECORDS, START, END, group_by="area", groups=[YI, JIA])
    assert (yi["key"], jia["key"]) == (YI, JIA)
    # 乙: due B, I; closed B (late) → 1/2, 0/2; accept 4, 24, 12 → 40/3; resolve 144, 96, 46 → 286/3;
    #     closed in March B, D, reopened B → 1/2; ratings 2, 4 → 1/2; revisits B unsatisfied → 0/1; quick G.
    assert (yi["due"], yi["closed"], yi["close_rate"], yi["on_time_rate"]) == (2, 1, 0.5, 0.0)
    assert yi["mean_hours_to_accept"] == pytest.approx(40 / 3)
    assert yi["mean_hours_to_resolve"] == pytest.approx(286 / 3)
    assert (yi["rework_rate"], yi["satisfaction_rate"], yi["revisit_satisfaction_rate"]) == (0.5, 0.5, 0.0)
    assert yi["quick_record_count"] == 1
    # 甲: due A, C; closed A (on time) → 1/2, 1/2; accept 2, 6, 1 → 3; resolve 72, 228, 3 → 101;
    #     closed in March A, F, J, reopened F → 1/3; ratings 5, 3 → 1/2; revisits A satisfied → 1/1.
    assert (jia["due"], jia["closed"], jia["close_rate"], jia["on_time_rate"]) == (2, 1, 0.5, 0.5)
    assert jia["mean_hours_to_accept"] == pytest.approx(3.0)
    assert jia["mean_hours_to_resolve"] == pytest.approx(101.0)
    assert jia["rework_rate"] == pytest.approx(1 / 3)
    assert (jia["satisfaction_rate"], jia["revisit_satisfaction_rate"]) == (0.5, 1.0)
    assert jia["quick_record_count"] == 0


@pytest.mark.parametrize("order", [[YI, JIA], [JIA, YI], ["/1/9/", JIA, YI]])
def test_rows_keep_the_given_order_whatever_the_rates(order):
    rows = compute(RECORDS, START, END, group_by="area", groups=order)
    assert [row["key"] for row in rows] == order
    by_key = {row["key"]: row for row in rows}
    assert by_key[JIA]["on_time_rate"] != by_key[YI]["on_time_rate"]  # the rates do differ
    assert all(row["due"] == 0 and row["close_rate"] is None for row in rows if row["key"] == "/1/9/")


def test_areas_match_by_path_prefix():
    grid_records = [dict(r, area_path=r["area_path"] + "7/") for r in RECORDS]
    rows = compute(grid_records, START, END, group_by="area", groups=[YI, JIA])
    assert [(row["key"], row["due"]) for row in rows] == [(YI, 2), (JIA, 2)]


def test_by_category_prefix_with_a_trailing_row_for_the_uncategorised():
    rows = compute(RECORDS, START, END, group_by="category", groups=["05", "03"])
    assert [row["key"] for row in rows] == ["05", "03", None]
    environment, fire, uncategorised = rows
    # 05: due B, C, I; closed B (late). 03: due A; closed A (on time).
    assert (environment["due"], environment["closed"], environment["closed_on_time"]) == (3, 1, 0)
    assert (fire["due"], fire["closed"], fire["closed_on_time"]) == (1, 1, 1)
    # E (rejected), G and H (quick) have no category: nothing due, one quick record (G).
    assert (uncategorised["due"], uncategorised["quick_record_count"]) == (0, 1)


def test_without_groups_keys_are_sorted_not_ranked():
    rows = compute(RECORDS, START, END, group_by="category")
    assert [row["key"] for row in rows] == ["0301", "0501", None]


def test_bulletin_check_972_911_737():
    """City bulletin: 应结案 972, 结案 911 → 93.72 %; 按期结案 737 → 75.82 %."""
    due, late = t(3, 15), t(3, 20)
    records = (
        [event(JIA, "0501", created=t(3, 1), closed=t(3, 14), due=due) for _ in range(737)]     # on time
        + [event(JIA, "0501", created=t(3, 1), closed=late, due=due) for _ in range(911 - 737)]  # late
        + [event(JIA, "0501", "processing", created=t(3, 1), due=due) for _ in range(972 - 911)]  # open
        + [event(JIA, "0501", "rejected", created=t(3, 1), due=due) for _ in range(30)]  # not cases
        + [event(JIA, "0501", created=t(3, 1), closed=t(3, 2), due=t(4, 3)) for _ in range(20)]  # due later
        + [event(JIA, "0501", created=t(3, 9), closed=t(3, 9), due=due, quick=True) for _ in range(50)]
    )
    row = figures(records, START, END)
    assert (row["due"], row["closed"], row["closed_on_time"]) == (972, 911, 737)
    assert format_rate(row["close_rate"]) == "93.72%"
    assert format_rate(row["on_time_rate"]) == "75.82%"
    assert row["quick_record_count"] == 50


def test_quick_records_are_kept_apart():
    quick = [event(JIA, "0301", created=t(3, 2), accepted=t(3, 2), resolved=t(3, 2, 1), closed=t(3, 2, 1),
                   due=t(3, 3), reopen=1, quick=True, ratings=[(5, t(3, 4))],
                   revisits=[("done", "satisfied", t(3, 5))]) for _ in range(3)]
    row = figures(quick, START, END)
    assert row["quick_record_count"] == 3
    assert all(row[key] == 0 for key in ("due", "closed", "accepted", "resolved", "closed_in_period",
                                          "reopened", "ratings", "revisits"))


def test_zero_denominators_give_none():
    for records in ([], [event(JIA, "0301", "processing", created=t(3, 2))]):
        row = figures(records, START, END)
        for key in ("close_rate", "on_time_rate", "rework_rate", "satisfaction_rate",
                    "revisit_satisfaction_rate", "mean_hours_to_accept", "mean_hours_to_resolve"):
            assert row[key] is None, key
    assert format_rate(None) == "—"
    assert compute([], START, END) == [{"key": None, **figures([], START, END)}]


def test_objects_work_like_dicts():
    objects = [SimpleNamespace(**{**r, "ratings": [SimpleNamespace(**x) for x in r["ratings"]],
                                  "revisits": [SimpleNamespace(**x) for x in r["revisits"]]})
               for r in RECORDS]
    assert figures(objects, START, END) == figures(RECORDS, START, END)


def test_unknown_grouping_is_refused():
    with pytest.raises(ValueError):
        compute(RECORDS, START, END, group_by="staff")
