"""Outcome metrics computed in SQL (DESIGN §8, §9).

``backend.metrics`` states the definitions and computes them over plain records; loading
every record into Python is fine for a community but not for a city with a million events.
This module computes the *same* figures in SQL: each query returns additive sums per
``(area_path, category_id)`` (counts, and seconds for the mean times), and
``figures_from_sums`` turns summed rows into the figures ``metrics.figures`` returns.
Grouping by area or by 大类 folds those small row sets in Python, keeping the caller's
administrative order — nothing is ever sorted by a figure.

Two ways to the same sums, both exact:

- ``aggregate``: live, from the events, ratings and revisits of the period (the reference).
- ``period_sums`` and ``monthly_sums``: the whole local months from ``metric_sum``, sums the
  database's own triggers keep current in the transaction of every change (migration 0014),
  and only a period's days before and after its whole months live. A year of a million-event
  city is then a few thousand stored rows instead of a scan of the event table.
"""
from __future__ import annotations

import contextvars
import datetime as dt
from typing import Any, Iterable, Sequence

from backend import clock
from backend.db import db, is_postgres
from backend.metrics import NOT_CASES

COUNT_FIELDS = (
    "due", "closed", "closed_on_time", "closed_in_period", "reopened", "accepted", "accept_seconds",
    "resolved", "resolve_seconds", "ratings", "satisfied_ratings", "revisits", "satisfied_revisits",
    "quick_record_count",
)
Key = tuple[str, int]  # (area_path, category_id); "" and 0 stand for none


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


Range = tuple[dt.datetime, dt.datetime]


def aggregate(start: dt.datetime, end: dt.datetime, scope_path: str | None = None) -> dict[Key, dict]:
    """Additive sums over [start, end) per (area_path, category_id), for events under the scope,
    computed live from the events, ratings and revisits (``period_sums`` reads most of a long
    period from ``metric_sum`` instead; this is also its reference in the tests)."""
    return _collect(_live_queries([(start, end)], end, scope_path))


def _collect(queries: list[tuple[str, list, Any]]) -> dict[Key, dict]:
    """Run (sql, params, fold) queries side by side (``_run_all``) and fold their rows into one
    dict of sums per (area_path, category_id)."""
    out: dict[Key, dict] = {}
    for (_, _, fold_rows), rows in zip(queries, _run_all([query[:2] for query in queries])):
        fold_rows(rows, out)
    return out


def _add(out: dict[Key, dict], key, values: dict) -> None:
    row = out.setdefault((key[0] or "", key[1] or 0), dict.fromkeys(COUNT_FIELDS, 0))
    for name, value in values.items():
        row[name] += value or 0


def _live_queries(ranges: list[Range], closed_before: dt.datetime, scope_path: str | None,
                  carried: Range | None = None) -> list[tuple[str, list, Any]]:
    """The live queries for the timestamps in ``ranges``, as (sql, params, fold(rows, out)).

    ``closed_before`` is the period's end (结案数 counts closings before it). ``carried`` is the
    span of whole months ``metric_sum`` answers for, when it answers for some; their cases'
    closings inside ``ranges`` (after the stored months) are counted here.

    Two queries, run side by side on PostgreSQL (``_run_all``):

    - events: one pass over the events with any of the period's timestamps in the ranges
      (a BitmapOr of the timestamp indexes). The inner select works out each event's
      conditions once, as flags; the outer one only counts flags. On PostgreSQL ``OFFSET 0``
      keeps the planner from inlining the flags back into every aggregate (≈ 30 % faster).
    - ratings and revisits given in the ranges, each joined to its event by primary key. On
      PostgreSQL the event is looked up in a ``LATERAL (… OFFSET 0)`` subquery, which makes
      the join a nested loop over the period's ratings: the planner would otherwise hash-join
      them against a sequential scan of the whole event table (≈ 4× slower at 1 M events,
      and growing with the table rather than with the period).
    """
    p = db.param
    pg = is_postgres()
    scope_sql, scope_params = "", []
    if scope_path:
        scope_sql, scope_params = f" AND e.area_path LIKE {p}", [scope_path + "%"]
    bounds = [_param(value) for pair in ranges for value in pair]

    def in_ranges(column: str) -> str:
        return "(" + " OR ".join(f"({column} >= {p} AND {column} < {p})" for _ in ranges) + ")"

    in_p = lambda col: in_ranges(f"e.{col}")  # noqa: E731
    not_cases = ", ".join(f"'{status}'" for status in NOT_CASES)
    fence = " OFFSET 0" if pg else ""
    if carried:  # due in the stored months, closed after them (closed_by_end caps it)
        carried_sql = (f"(e.quick_record = {p} AND e.resolve_due_at >= {p} AND e.resolve_due_at < {p} "
                       f"AND e.status NOT IN ({not_cases}) AND e.closed_at >= {p})")
        carried_params = [False, _param(carried[0]), _param(carried[1]), _param(carried[1])]
    else:
        carried_sql, carried_params = "(1 = 0)", []
    sql = f"""
        SELECT area_path, category_id,
          SUM(CASE WHEN is_due THEN 1 ELSE 0 END),
          SUM(CASE WHEN (is_due OR is_carried) AND closed_by_end THEN 1 ELSE 0 END),
          SUM(CASE WHEN (is_due OR is_carried) AND closed_by_end AND closed_at <= resolve_due_at THEN 1 ELSE 0 END),
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
            {carried_sql} AS is_carried,
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
        [False, *bounds]  # is_due
        + carried_params  # is_carried
        + [_param(closed_before)]  # closed_by_end
        + [False, *bounds] * 3  # closed_in, is_accepted, is_resolved
        + [True, *bounds]  # is_quick
        + bounds * 4 + [True, *bounds] + scope_params
    )
    names = ("due", "closed", "closed_on_time", "closed_in_period", "reopened", "accepted",
             "accept_seconds", "resolved", "resolve_seconds", "quick_record_count")

    def fold_events(rows, out):
        for row in rows:
            _add(out, row[:2], {name: _number(v) for name, v in zip(names, row[2:])})

    def with_event(alias: str) -> str:
        """``alias``'s event (area_path, category_id) as ``e``, if not a quick record and in scope."""
        if pg:
            return (f"CROSS JOIN LATERAL (SELECT e.area_path, e.category_id FROM event e "
                    f"WHERE e.id = {alias}.event_id AND e.quick_record = {p}{scope_sql} OFFSET 0) e")
        return f"JOIN event e ON e.id = {alias}.event_id AND e.quick_record = {p}{scope_sql}"

    feedback_sql = f"""
        SELECT 1, e.area_path, e.category_id, COUNT(*), SUM(CASE WHEN r.score >= 4 THEN 1 ELSE 0 END)
        FROM rating r {with_event('r')}
        WHERE {in_ranges('r.created_at')}
        GROUP BY e.area_path, e.category_id
        UNION ALL
        SELECT 2, e.area_path, e.category_id, COUNT(*), SUM(CASE WHEN v.outcome = 'satisfied' THEN 1 ELSE 0 END)
        FROM revisit v {with_event('v')}
        WHERE v.status = 'done' AND v.outcome IN ('satisfied', 'unsatisfied')
          AND {in_ranges('v.done_at')}
        GROUP BY e.area_path, e.category_id
    """
    feedback_params = [False] + scope_params + bounds

    def fold_feedback(rows, out):
        for kind, *row in rows:
            if kind == 1:
                _add(out, row[:2], {"ratings": _number(row[2]), "satisfied_ratings": _number(row[3])})
            else:
                _add(out, row[:2], {"revisits": _number(row[2]), "satisfied_revisits": _number(row[3])})

    return [(sql, params, fold_events), (feedback_sql, feedback_params * 2, fold_feedback)]


# ---- the stored sums (metric_sum, migration 0014) -----------------------------------------

KIND_DUE, KIND_CLOSED, KIND_ACCEPTED, KIND_RESOLVED, KIND_QUICK, KIND_RATING, KIND_REVISIT = range(1, 8)
# Sums of metric_sum rows per figure, as SQL; the "closed by the end" ones compare closed_month
# with a cut-off that _stored_query supplies ({cut}).
_STORED_FIGURES = (
    ("due", f"kind = {KIND_DUE}", "n"),
    ("closed", f"kind = {KIND_DUE} AND closed_month <> 0 AND closed_month {{cut}}", "n"),
    ("closed_on_time", f"kind = {KIND_DUE} AND closed_month <> 0 AND closed_month {{cut}}", "n2"),
    ("closed_in_period", f"kind = {KIND_CLOSED}", "n"),
    ("reopened", f"kind = {KIND_CLOSED}", "n2"),
    ("accepted", f"kind = {KIND_ACCEPTED}", "n"),
    ("accept_seconds", f"kind = {KIND_ACCEPTED}", "us"),
    ("resolved", f"kind = {KIND_RESOLVED}", "n"),
    ("resolve_seconds", f"kind = {KIND_RESOLVED}", "us"),
    ("quick_record_count", f"kind = {KIND_QUICK}", "n"),
    ("ratings", f"kind = {KIND_RATING}", "n"),
    ("satisfied_ratings", f"kind = {KIND_RATING}", "n2"),
    ("revisits", f"kind = {KIND_REVISIT}", "n"),
    ("satisfied_revisits", f"kind = {KIND_REVISIT}", "n2"),
)


def month_key(day: dt.date | dt.datetime) -> int:
    """The YYYYMM integer ``metric_sum`` keys a local month by."""
    return day.year * 100 + day.month


def _stored_values(row: Sequence) -> dict:
    return {name: (int(value or 0) / 1_000_000 if column == "us" else int(value or 0))
            for (name, _, column), value in zip(_STORED_FIGURES, row)}


def _stored_query(group: str, first: int, end: int, scope_path: str | None, cut: str) -> tuple[str, list]:
    """SUMs of ``metric_sum`` over the months [first, end) (YYYYMM), grouped by ``group``."""
    p = db.param
    sums = ",\n          ".join(f"SUM(CASE WHEN {condition.format(cut=cut)} THEN {column} ELSE 0 END)"
                                 for _, condition, column in _STORED_FIGURES)
    scope_sql, params = "", [first, end]
    if scope_path:
        scope_sql = f" AND area_path LIKE {p}"
        params.append(scope_path + "%")
    return (f"SELECT {group},\n          {sums}\n        FROM metric_sum WHERE month >= {p} AND month < {p}"
            f"{scope_sql} GROUP BY {group}", params)


def _local_month_start(value: dt.datetime, later: bool) -> dt.datetime:
    """The start of the local month ``value`` (naive UTC) falls in, or with ``later`` the first
    local month start at or after it."""
    start, end = month_bounds(month_label(clock.to_local(value)))
    return end if later and value != start else start


def period_sums(start: dt.datetime, end: dt.datetime, scope_path: str | None = None) -> dict[Key, dict]:
    """``aggregate``'s sums over [start, end), exact, with the period's whole local months read
    from ``metric_sum`` and only the days before and after them counted live.

    结案数 is not a sum of months: a case due in a stored month and closed after it, but before
    the period's end, counts as closed. The stored rows know the month of the closing, so the
    months' own query counts the closings up to the last whole month; the live query counts
    those after it (``carried``)."""
    first, last = _local_month_start(start, later=True), _local_month_start(end, later=False)
    if first >= last:  # no whole month inside: all live
        return aggregate(start, end, scope_path)
    last_key = month_key(clock.to_local(last))
    queries: list[tuple[str, list, Any]] = []
    sql, params = _stored_query("area_path, category_id", month_key(clock.to_local(first)), last_key,
                                scope_path, f"< {db.param}")
    cut_params = [last_key] * sum(1 for _, condition, _ in _STORED_FIGURES if "{cut}" in condition)

    def fold_stored(rows, out):
        for row in rows:
            _add(out, row[:2], _stored_values(row[2:]))

    queries.append((sql, cut_params + params, fold_stored))
    edges = [pair for pair in ((start, first), (last, end)) if pair[0] < pair[1]]
    if edges:
        queries += _live_queries(edges, end, scope_path, carried=(first, last) if last < end else None)
    return _collect(queries)


def compact() -> int:
    """Fold each key's appended rows of ``metric_sum`` into one (PostgreSQL; SQLite's triggers
    add in place). One statement: a reader sees the rows before or after, never both. Rows a
    transaction commits meanwhile stay for the next run. Returns the rows folded away."""
    if not is_postgres():
        return 0
    key = "area_path, category_id, kind, month, closed_month"
    joined = " AND ".join(f"s.{column} = k.{column}" for column in key.split(", "))
    with db.atomic():
        cursor = db.execute_sql(f"""
            WITH keys AS (SELECT DISTINCT {key} FROM metric_sum WHERE fresh),
            gone AS (DELETE FROM metric_sum s USING keys k WHERE {joined}
                     RETURNING s.area_path, s.category_id, s.kind, s.month, s.closed_month, s.n, s.n2, s.us),
            kept AS (INSERT INTO metric_sum ({key}, n, n2, us, fresh)
                     SELECT {key}, SUM(n), SUM(n2), SUM(us), false FROM gone GROUP BY {key}
                     HAVING SUM(n) <> 0 OR SUM(n2) <> 0 OR SUM(us) <> 0 RETURNING 1)
            SELECT (SELECT COUNT(*) FROM gone) - (SELECT COUNT(*) FROM kept)""")
        return int(cursor.fetchone()[0])


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


def monthly_sums(labels: Sequence[str], scope_path: str | None = None) -> dict[str, dict]:
    """Sums per local month (labels "YYYY-MM", consecutive) for the scope, each month's 结案数
    counting closings before that month's end: one query on ``metric_sum``, exact for every
    month, the running one included."""
    out = {label: empty_sums() for label in labels}
    if not labels:
        return out
    keys = {int(label.replace("-", "")): label for label in labels}
    end = month_key(clock.to_local(month_bounds(max(labels))[1]))
    sql, params = _stored_query("month", min(keys), end, scope_path, "<= month")
    for row in db.execute_sql(sql, params).fetchall():
        if row[0] in keys:
            out[keys[row[0]]] = _stored_values(row[1:])
    return out


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
