"""Outcome metrics computed in SQL, plus a monthly rollup for trends (DESIGN §8, §9).

``backend.metrics`` states the definitions and computes them over plain records; loading
every record into Python is fine for a community but not for a city with a million events.
This module computes the *same* figures with a handful of aggregate queries: each query
returns additive sums per ``(area_path, category_id)`` (counts, and seconds for the mean
times), and ``figures_from_sums`` turns summed rows into the figures ``metrics.figures``
returns. Grouping by area or by 大类 folds those small row sets in Python, keeping the
caller's administrative order — nothing is ever sorted by a figure.

Monthly trend: a completed month's sums are stored once in ``metric_month`` (migration
0004) and read back with one small query; the current month is always computed live.
A stored month can go stale when an old case is reopened or accepted again; the nightly
``refresh_recent_months`` (scheduler) and the console's 重新计算 button rebuild it. The
figures for the chosen period are always live.
"""
from __future__ import annotations

import contextvars
import datetime as dt
from typing import Any, Iterable, Sequence

import peewee

from backend import clock
from backend.db import db, is_postgres, transaction
from backend.metrics import NOT_CASES
from backend.replica import on_primary
from backend.models.rollups import MetricMonth, MetricMonthState

COUNT_FIELDS = (
    "due", "closed", "closed_on_time", "closed_in_period", "reopened", "accepted", "accept_seconds",
    "resolved", "resolve_seconds", "ratings", "satisfied_ratings", "revisits", "satisfied_revisits",
    "quick_record_count",
)
Key = tuple[str, int]  # (area_path, category_id); "" and 0 stand for none


ROLLUP_MODELS = (MetricMonth, MetricMonthState)


# ---- live aggregation ---------------------------------------------------------------------

def _param(value):
    """Datetimes as peewee stores them on SQLite (text); PostgreSQL takes them as they are."""
    if isinstance(value, dt.datetime) and not is_postgres():
        return str(value)
    return value


def _seconds_sum(flag: str, later: str) -> str:
    """SUM of ``later - created_at`` in seconds over the rows where ``flag`` holds.

    PostgreSQL sums the intervals and converts once: exact (microseconds), the same numeric
    value as summing ``EXTRACT(EPOCH ...)`` per row, and far cheaper than numeric per row.
    (An interval counts days in 32 bits: fine up to ≈ 2·10⁹ summed days.)
    """
    if is_postgres():
        return f"EXTRACT(EPOCH FROM SUM(CASE WHEN {flag} THEN {later} - created_at END))"
    return f"SUM(CASE WHEN {flag} THEN ((julianday({later}) - julianday(created_at)) * 86400.0) ELSE 0 END)"


def aggregate(start: dt.datetime, end: dt.datetime, scope_path: str | None = None) -> dict[Key, dict]:
    """Additive sums over [start, end) per (area_path, category_id), for events under the scope.

    Two queries, run side by side on PostgreSQL (``_run_all``):

    - events: one pass over the events with any of the period's timestamps in [start, end)
      (a BitmapOr of the timestamp indexes). The inner select works out each event's
      conditions once, as flags; the outer one only counts flags. On PostgreSQL ``OFFSET 0``
      keeps the planner from inlining the flags back into every aggregate (≈ 30 % faster).
    - ratings and revisits given in the period, each joined to its event by primary key. On
      PostgreSQL the event is looked up in a ``LATERAL (… OFFSET 0)`` subquery, which makes
      the join a nested loop over the period's ratings: the planner would otherwise hash-join
      them against a sequential scan of the whole event table (≈ 4× slower at 1 M events,
      and growing with the table rather than with the period).
    """
    p = db.param
    pg = is_postgres()
    out: dict[Key, dict] = {}

    def add(key, values: dict):
        row = out.setdefault((key[0] or "", key[1] or 0), dict.fromkeys(COUNT_FIELDS, 0))
        for name, value in values.items():
            row[name] += value or 0

    scope_sql, scope_params = "", []
    if scope_path:
        scope_sql, scope_params = f" AND e.area_path LIKE {p}", [scope_path + "%"]
    s, e = _param(start), _param(end)
    in_p = lambda col: f"(e.{col} >= {p} AND e.{col} < {p})"  # noqa: E731
    not_cases = ", ".join(f"'{status}'" for status in NOT_CASES)
    fence = " OFFSET 0" if pg else ""
    sql = f"""
        SELECT area_path, category_id,
          SUM(CASE WHEN is_due THEN 1 ELSE 0 END),
          SUM(CASE WHEN is_due AND closed_by_end THEN 1 ELSE 0 END),
          SUM(CASE WHEN is_due AND closed_by_end AND closed_at <= resolve_due_at THEN 1 ELSE 0 END),
          SUM(CASE WHEN closed_in THEN 1 ELSE 0 END),
          SUM(CASE WHEN closed_in AND reopen_count > 0 THEN 1 ELSE 0 END),
          SUM(CASE WHEN is_accepted THEN 1 ELSE 0 END),
          {_seconds_sum('is_accepted', 'accepted_at')},
          SUM(CASE WHEN is_resolved THEN 1 ELSE 0 END),
          {_seconds_sum('is_resolved', 'resolved_at')},
          SUM(CASE WHEN is_quick THEN 1 ELSE 0 END)
        FROM (
          SELECT e.area_path, e.category_id, e.created_at, e.accepted_at, e.resolved_at, e.closed_at,
            e.resolve_due_at, e.reopen_count,
            (e.quick_record = {p} AND {in_p('resolve_due_at')} AND e.status NOT IN ({not_cases})) AS is_due,
            (e.status = 'closed' AND e.closed_at < {p}) AS closed_by_end,
            (e.quick_record = {p} AND e.status = 'closed' AND {in_p('closed_at')}) AS closed_in,
            (e.quick_record = {p} AND {in_p('accepted_at')} AND e.created_at IS NOT NULL) AS is_accepted,
            (e.quick_record = {p} AND {in_p('resolved_at')} AND e.created_at IS NOT NULL) AS is_resolved,
            (e.quick_record = {p} AND {in_p('created_at')}) AS is_quick
          FROM event e
          WHERE ({in_p('resolve_due_at')} OR {in_p('accepted_at')} OR {in_p('resolved_at')}
                 OR {in_p('closed_at')} OR (e.quick_record = {p} AND {in_p('created_at')})){scope_sql}{fence}
        ) m
        GROUP BY area_path, category_id
    """
    params = (
        [False, s, e]  # is_due
        + [e]  # closed_by_end
        + [False, s, e] * 3  # closed_in, is_accepted, is_resolved
        + [True, s, e]  # is_quick
        + [s, e, s, e, s, e, s, e, True, s, e] + scope_params
    )
    names = ("due", "closed", "closed_on_time", "closed_in_period", "reopened", "accepted",
             "accept_seconds", "resolved", "resolve_seconds", "quick_record_count")

    def with_event(alias: str) -> str:
        """``alias``'s event (area_path, category_id) as ``e``, if not a quick record and in scope."""
        if pg:
            return (f"CROSS JOIN LATERAL (SELECT e.area_path, e.category_id FROM event e "
                    f"WHERE e.id = {alias}.event_id AND e.quick_record = {p}{scope_sql} OFFSET 0) e")
        return f"JOIN event e ON e.id = {alias}.event_id AND e.quick_record = {p}{scope_sql}"

    feedback_sql = f"""
        SELECT 1, e.area_path, e.category_id, COUNT(*), SUM(CASE WHEN r.score >= 4 THEN 1 ELSE 0 END)
        FROM rating r {with_event('r')}
        WHERE r.created_at >= {p} AND r.created_at < {p}
        GROUP BY e.area_path, e.category_id
        UNION ALL
        SELECT 2, e.area_path, e.category_id, COUNT(*), SUM(CASE WHEN v.outcome = 'satisfied' THEN 1 ELSE 0 END)
        FROM revisit v {with_event('v')}
        WHERE v.status = 'done' AND v.outcome IN ('satisfied', 'unsatisfied')
          AND v.done_at >= {p} AND v.done_at < {p}
        GROUP BY e.area_path, e.category_id
    """
    feedback_params = [False] + scope_params + [s, e]
    main_rows, feedback_rows = _run_all([(sql, params), (feedback_sql, feedback_params * 2)])
    for row in main_rows:
        add(row[:2], {name: _number(v) for name, v in zip(names, row[2:])})
    for kind, *row in feedback_rows:
        if kind == 1:
            add(row[:2], {"ratings": _number(row[2]), "satisfied_ratings": _number(row[3])})
        else:
            add(row[:2], {"revisits": _number(row[2]), "satisfied_revisits": _number(row[3])})
    return out


def _run_all(queries: list[tuple[str, list]]) -> list[list[tuple]]:
    """Run independent read queries. On PostgreSQL, outside a transaction, each runs on its own
    connection in a thread, so the page waits for the slowest query rather than their sum
    (PostgreSQL uses the other cores); elsewhere — SQLite, or inside a transaction whose
    uncommitted rows other connections could not see — one after the other.

    On PostgreSQL each query runs in its own short transaction with ``SET LOCAL jit = off``:
    the planner's cost for a few months of events crosses ``jit_above_cost``, and compiling
    (≈ 15–20 ms, more once optimisation kicks in for a year) costs more than it saves on
    queries of this size. Inside the caller's transaction the setting is left alone."""
    if not is_postgres() or db.in_transaction():
        return [db.execute_sql(sql, params).fetchall() for sql, params in queries]

    def run_here(query):
        with db.atomic():
            db.execute_sql("SET LOCAL jit = off")
            return db.execute_sql(*query).fetchall()

    if len(queries) < 2:
        return [run_here(query) for query in queries]
    from concurrent.futures import ThreadPoolExecutor

    def run(query):
        with db.connection_context():
            return run_here(query)

    with ThreadPoolExecutor(max_workers=len(queries) - 1, thread_name_prefix="metrics") as pool:
        # each in a copy of this context: a request reading from the replica reads all from it
        others = [pool.submit(contextvars.copy_context().run, run, query) for query in queries[1:]]
        first = run_here(queries[0])
        return [first] + [future.result() for future in others]


def _number(value):
    if value is None:
        return 0
    return float(value) if not isinstance(value, int) else value


# ---- from sums to figures ---------------------------------------------------------------

def _ratio(numerator, denominator):
    return numerator / denominator if denominator else None


def empty_sums() -> dict:
    return dict.fromkeys(COUNT_FIELDS, 0)


def add_sums(target: dict, source: dict) -> dict:
    for name in COUNT_FIELDS:
        target[name] += source.get(name) or 0
    return target


def figures_from_sums(sums: dict) -> dict[str, Any]:
    """The dict ``backend.metrics.figures`` returns, from additive sums."""
    s = sums
    return {
        "due": s["due"], "closed": s["closed"], "closed_on_time": s["closed_on_time"],
        "close_rate": _ratio(s["closed"], s["due"]),
        "on_time_rate": _ratio(s["closed_on_time"], s["due"]),
        "accepted": s["accepted"],
        "mean_hours_to_accept": s["accept_seconds"] / s["accepted"] / 3600 if s["accepted"] else None,
        "resolved": s["resolved"],
        "mean_hours_to_resolve": s["resolve_seconds"] / s["resolved"] / 3600 if s["resolved"] else None,
        "closed_in_period": s["closed_in_period"], "reopened": s["reopened"],
        "rework_rate": _ratio(s["reopened"], s["closed_in_period"]),
        "ratings": s["ratings"], "satisfied_ratings": s["satisfied_ratings"],
        "satisfaction_rate": _ratio(s["satisfied_ratings"], s["ratings"]),
        "revisits": s["revisits"], "satisfied_revisits": s["satisfied_revisits"],
        "revisit_satisfaction_rate": _ratio(s["satisfied_revisits"], s["revisits"]),
        "quick_record_count": s["quick_record_count"],
    }


def fold(sums: dict[Key, dict], groups: Sequence[tuple[str, str]] | None, group_by: str | None,
         category_codes: dict[int, str] | None = None, leftover: str = "") -> list[dict]:
    """Rows ``{"key", "name", **figures}`` in the given group order (administrative order).

    ``group_by='area'`` matches area paths against the group keys as prefixes; ``'category'``
    matches category codes (via ``category_codes``) against 大类 codes. Sums no group covers
    make a last row (key None) only if there are any — as ``backend.metrics.compute`` does.
    """
    if group_by is None:
        total = empty_sums()
        for row in sums.values():
            add_sums(total, row)
        return [{"key": None, "name": leftover or "全部", **figures_from_sums(total)}]
    keys = [key for key, _ in groups or ()]
    names = dict(groups or ())
    members = {key: empty_sums() for key in keys}
    unmatched, any_unmatched = empty_sums(), False
    for (area_path, category_id), row in sums.items():
        value = area_path if group_by == "area" else (category_codes or {}).get(category_id)
        key = next((g for g in keys if value and str(value).startswith(g)), None)
        if key is None:
            add_sums(unmatched, row)
            any_unmatched = True
        else:
            add_sums(members[key], row)
    rows = [{"key": key, "name": names[key], **figures_from_sums(members[key])} for key in keys]
    if any_unmatched:
        rows.append({"key": None, "name": leftover, **figures_from_sums(unmatched)})
    return rows


# ---- months and the rollup ----------------------------------------------------------------

def month_label(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(label: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local month as naive UTC."""
    year, month = (int(part) for part in label.split("-"))
    start = dt.datetime(year, month, 1)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1)
    return clock.from_local(start), clock.from_local(end)


def months_ending(last: dt.date, count: int) -> list[str]:
    """``count`` month labels ending with ``last``'s month, oldest first."""
    year, month = last.year, last.month
    labels = []
    for _ in range(count):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return labels[::-1]


def refresh_month(label: str) -> int:
    """Recompute and store one month's sums for every area; returns the rows written."""
    start, end = month_bounds(label)
    sums = aggregate(start, end)
    rows = [{"month": label, "area_path": key[0], "category_id": key[1], **values}
            for key, values in sums.items()]
    with transaction():
        MetricMonth.delete().where(MetricMonth.month == label).execute()
        for offset in range(0, len(rows), 500):
            MetricMonth.insert_many(rows[offset:offset + 500]).execute()
        (MetricMonthState.insert(month=label, refreshed_at=clock.now())
         .on_conflict(conflict_target=[MetricMonthState.month],
                      update={MetricMonthState.refreshed_at: clock.now()}).execute())
    return len(rows)


def refresh_recent_months(count: int = 3, now: dt.datetime | None = None) -> list[str]:
    """The nightly job: rebuild the last ``count`` completed months (late reopen, re-accept)."""
    now = now or clock.now()
    this_month = month_label(clock.to_local(now).date())
    labels = [label for label in months_ending(clock.to_local(now).date(), count + 1) if label != this_month]
    for label in labels:
        refresh_month(label)
    return labels


def monthly_sums(labels: Sequence[str], scope_path: str | None = None, now: dt.datetime | None = None,
                 known: dict[tuple[dt.datetime, dt.datetime], dict[Key, dict]] | None = None) -> dict[str, dict]:
    """Sums per month for the scope: completed months from the rollup (computed once if
    missing), the month still running (or future) live — or from ``known``, live sums the
    caller already has for exactly that month and scope (the metrics page's own period)."""
    now = now or clock.now()
    complete = [label for label in labels if month_bounds(label)[1] <= now]
    stored = {row.month for row in MetricMonthState.select(MetricMonthState.month)
              .where(MetricMonthState.month.in_(complete))} if complete else set()
    missing = [label for label in complete if label not in stored]
    if missing:
        # A rollup is written (on the primary) and read straight back: from the primary too, as
        # a replica may not have it yet (a read a write depends on).
        with on_primary():
            for label in missing:
                refresh_month(label)
            return _monthly_sums_from(labels, complete, scope_path, known)
    return _monthly_sums_from(labels, complete, scope_path, known)


def _monthly_sums_from(labels, complete, scope_path, known) -> dict[str, dict]:
    out = {label: empty_sums() for label in labels}
    if complete:
        query = (MetricMonth.select(MetricMonth.month, *[peewee.fn.SUM(getattr(MetricMonth, name))
                                                         for name in COUNT_FIELDS])
                 .where(MetricMonth.month.in_(complete)).group_by(MetricMonth.month))
        if scope_path:
            query = query.where(MetricMonth.area_path.startswith(scope_path))
        for row in query.tuples():
            out[row[0]] = {name: _number(value) for name, value in zip(COUNT_FIELDS, row[1:])}
    for label in labels:
        if label not in complete:
            start, end = month_bounds(label)
            total = empty_sums()
            sums = (known or {}).get((start, end))
            for values in (sums if sums is not None else aggregate(start, end, scope_path)).values():
                add_sums(total, values)
            out[label] = total
    return out


def stored_months() -> dict[str, dt.datetime]:
    return {row.month: row.refreshed_at for row in MetricMonthState.select()}


def category_code_map() -> dict[int, str]:
    from backend.models import Category

    return {c.id: c.code for c in Category.select(Category.id, Category.code)}


def rows_for(start: dt.datetime, end: dt.datetime, scope_path: str | None,
             area_groups: Iterable[tuple[str, str]], category_groups: Iterable[tuple[str, str]]) -> dict:
    """Everything the metrics page shows for one period, from one set of live queries."""
    return fold_period(aggregate(start, end, scope_path), area_groups, category_groups)


def fold_period(sums: dict[Key, dict], area_groups: Iterable[tuple[str, str]],
                category_groups: Iterable[tuple[str, str]]) -> dict:
    return {
        "total": fold(sums, None, None)[0],
        "by_area": fold(sums, list(area_groups), "area", leftover="位置不明"),
        "by_category": fold(sums, list(category_groups), "category", category_code_map(), leftover="未分类"),
    }
