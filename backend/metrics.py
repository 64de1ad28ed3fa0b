"""Outcome metrics (DESIGN §8) after the 数字城管 definitions of GB/T 30428.

Pure core: ``figures`` and ``compute`` work over plain records (dicts or objects), one
per event, with the Event fields ``status``, ``category`` (the category *code*),
``area_path``, ``created_at``, ``accepted_at``, ``resolved_at``, ``closed_at``,
``resolve_due_at``, ``quick_record``, ``reopen_count``, plus ``ratings`` (items with
``score``, ``created_at``) and ``revisits`` (items with ``status``, ``outcome``,
``done_at``). Times are naive UTC; a period is the half-open interval [start, end).

Definitions (all over events that are *not* 即报即办 quick records):

- 应结案数 ``due``: events whose ``resolve_due_at`` falls in the period, except those
  never taken on as cases (``rejected``, ``merged``, ``withdrawn``). Cases due earlier and
  closed late in this period belong to the period they were due in.
- 结案数 ``closed``: of ``due``, status ``closed`` with ``closed_at < end``.
- 按期结案数 ``closed_on_time``: of ``closed``, ``closed_at <= resolve_due_at``.
- 结案率 = closed / due; 按期结案率 = closed_on_time / due.
- 平均受理时长 / 平均处置时长 (hours): mean of ``accepted_at − created_at`` over events
  accepted in the period, and of ``resolved_at − created_at`` over events resolved in it.
- 返工率 = of the events closed in the period (``closed_at`` in it), those with
  ``reopen_count > 0``, divided by the events closed in the period.
- 满意率 = ratings given in the period with score ≥ 4 / ratings given in the period.
- 回访满意率 = revisits done in the period with outcome ``satisfied`` / those with outcome
  ``satisfied`` or ``unsatisfied`` (``unreachable`` is excluded from both).
- ``quick_record_count``: quick records created in the period, shown apart, never a rate.

The console computes the same figures in SQL (backend/services/admin_metrics.py), from sums the
database keeps with triggers written after these definitions (migration 0014): a change here
needs a migration there; the tests hold all three to the same numbers.

Every rate is a fraction in [0, 1], or None when its denominator is 0. There is no login,
online-time or activity figure, and rows keep the order the caller gives (administrative
order) — nothing here sorts by a rate.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Sequence

NOT_CASES = ("rejected", "merged", "withdrawn")
GROUP_BY = (None, "area", "category")
_GROUP_FIELD = {"area": "area_path", "category": "category"}


def _get(record: Any, name: str, default: Any = None) -> Any:
    if isinstance(record, dict):
        return record.get(name, default)
    return getattr(record, name, default)


def _in(value: dt.datetime | None, start: dt.datetime, end: dt.datetime) -> bool:
    return value is not None and start <= value < end


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _mean_hours(spans: list[dt.timedelta]) -> float | None:
    if not spans:
        return None
    return sum(span.total_seconds() for span in spans) / len(spans) / 3600


def figures(records: Iterable[Any], start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """All figures for one set of records over [start, end); see the module docstring."""
    due = closed = on_time = closed_in_period = reopened = quick = 0
    ratings = satisfied_ratings = revisits = satisfied_revisits = 0
    to_accept: list[dt.timedelta] = []
    to_resolve: list[dt.timedelta] = []
    for record in records:
        created_at = _get(record, "created_at")
        if _get(record, "quick_record"):
            quick += _in(created_at, start, end)
            continue
        status = _get(record, "status")
        closed_at = _get(record, "closed_at")
        due_at = _get(record, "resolve_due_at")
        if _in(due_at, start, end) and status not in NOT_CASES:
            due += 1
            if status == "closed" and closed_at is not None and closed_at < end:
                closed += 1
                on_time += closed_at <= due_at
        if status == "closed" and _in(closed_at, start, end):
            closed_in_period += 1
            reopened += (_get(record, "reopen_count") or 0) > 0
        accepted_at = _get(record, "accepted_at")
        if _in(accepted_at, start, end) and created_at is not None:
            to_accept.append(accepted_at - created_at)
        resolved_at = _get(record, "resolved_at")
        if _in(resolved_at, start, end) and created_at is not None:
            to_resolve.append(resolved_at - created_at)
        for rating in _get(record, "ratings") or ():
            if _in(_get(rating, "created_at"), start, end):
                ratings += 1
                satisfied_ratings += _get(rating, "score") >= 4
        for revisit in _get(record, "revisits") or ():
            outcome = _get(revisit, "outcome")
            if (_get(revisit, "status") == "done" and outcome in ("satisfied", "unsatisfied")
                    and _in(_get(revisit, "done_at"), start, end)):
                revisits += 1
                satisfied_revisits += outcome == "satisfied"
    return {
        "due": due,
        "closed": closed,
        "closed_on_time": on_time,
        "close_rate": _ratio(closed, due),
        "on_time_rate": _ratio(on_time, due),
        "accepted": len(to_accept),
        "mean_hours_to_accept": _mean_hours(to_accept),
        "resolved": len(to_resolve),
        "mean_hours_to_resolve": _mean_hours(to_resolve),
        "closed_in_period": closed_in_period,
        "reopened": reopened,
        "rework_rate": _ratio(reopened, closed_in_period),
        "ratings": ratings,
        "satisfied_ratings": satisfied_ratings,
        "satisfaction_rate": _ratio(satisfied_ratings, ratings),
        "revisits": revisits,
        "satisfied_revisits": satisfied_revisits,
        "revisit_satisfaction_rate": _ratio(satisfied_revisits, revisits),
        "quick_record_count": quick,
    }


def compute(records: Iterable[Any], start: dt.datetime, end: dt.datetime,
            group_by: str | None = None, groups: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Figures per group, one row each, ``{"key": ..., **figures}``.

    ``group_by=None`` gives one row (key None). ``'area'`` matches ``area_path`` and
    ``'category'`` matches the category code against the group keys *as prefixes*
    (an area path like "/1/4/" covers its grids; "03" covers 0301–0305); a record goes
    to the first group that covers it. ``groups`` is the caller's order — administrative
    order for areas — and is kept as given, rows with no records included. Without
    ``groups`` the distinct exact keys are used in ascending order. Records no group
    covers (no place, no category) form a last row with key None, only if there are any.
    """
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {GROUP_BY}, not {group_by!r}")
    records = list(records)
    if group_by is None:
        return [{"key": None, **figures(records, start, end)}]
    field = _GROUP_FIELD[group_by]
    if groups is None:
        groups = sorted({key for key in (_get(r, field) for r in records) if key is not None})
    members: dict[str, list[Any]] = {key: [] for key in groups}
    unmatched: list[Any] = []
    for record in records:
        value = _get(record, field)
        key = next((g for g in groups if value is not None and str(value).startswith(g)), None)
        (members[key] if key is not None else unmatched).append(record)
    rows = [{"key": key, **figures(members[key], start, end)} for key in groups]
    if unmatched:
        rows.append({"key": None, **figures(unmatched, start, end)})
    return rows


def format_rate(rate: float | None) -> str:
    """0.93724… → "93.72%"; None → "—" (nothing due, so no rate)."""
    return "—" if rate is None else f"{rate * 100:.2f}%"


# ---- database shell ---------------------------------------------------------------------

def _group_areas(area_path_prefix: str | None) -> list[tuple[str, str]]:
    """(path, name) of the areas one level below the scope, in administrative order."""
    from backend.models import Area

    if area_path_prefix:
        scope = Area.get_or_none(Area.path == area_path_prefix)
        if scope is None:
            raise ValueError(f"no area with path {area_path_prefix!r}")
        parents = [scope]
    else:
        parents = list(Area.select().where(Area.parent.is_null()).order_by(Area.sort_order, Area.code))
        if len(parents) != 1:  # several roots: list the roots themselves
            return [(a.path, a.name) for a in parents]
    children = (Area.select(Area.path, Area.name).where(Area.parent == parents[0])
                .order_by(Area.sort_order, Area.code))
    return [(a.path, a.name) for a in children]


def _group_categories() -> list[tuple[str, str]]:
    from backend.models import Category

    majors = (Category.select(Category.code, Category.name).where(Category.parent.is_null())
              .order_by(Category.sort_order, Category.code))
    return [(c.code, c.name) for c in majors]


def load_records(start: dt.datetime, end: dt.datetime,
                 area_path_prefix: str | None = None) -> list[dict[str, Any]]:
    """Every event under the prefix that can count in [start, end), as plain records."""
    from peewee import JOIN

    from backend.models import Category, Event, Rating, Revisit

    def in_period(column):
        return (column >= start) & (column < end)

    scope = [Event.area_path.startswith(area_path_prefix)] if area_path_prefix else []
    rated = Rating.select(Rating.event).where(in_period(Rating.created_at))
    revisited = Revisit.select(Revisit.event).where(in_period(Revisit.done_at))
    relevant = (in_period(Event.resolve_due_at) | in_period(Event.accepted_at)
                | in_period(Event.resolved_at) | in_period(Event.closed_at)
                | ((Event.quick_record == True) & in_period(Event.created_at))  # noqa: E712
                | Event.id.in_(rated) | Event.id.in_(revisited))
    query = (Event.select(Event.id, Event.status, Event.area_path, Event.quick_record,
                          Event.reopen_count, Event.created_at, Event.accepted_at,
                          Event.resolved_at, Event.closed_at, Event.resolve_due_at,
                          Category.code.alias("category"))
             .join(Category, JOIN.LEFT_OUTER, on=(Event.category == Category.id))
             .where(relevant, *scope)
             .order_by(Event.id)
             .dicts())
    records = {row["id"]: {**row, "ratings": [], "revisits": []} for row in query}
    ratings = (Rating.select(Rating.event, Rating.score, Rating.created_at).join(Event)
               .where(in_period(Rating.created_at), *scope).tuples())
    for event_id, score, created_at in ratings:
        if event_id in records:
            records[event_id]["ratings"].append({"score": score, "created_at": created_at})
    revisits = (Revisit.select(Revisit.event, Revisit.status, Revisit.outcome, Revisit.done_at)
                .join(Event).where(in_period(Revisit.done_at), *scope).tuples())
    for event_id, status, outcome, done_at in revisits:
        if event_id in records:
            records[event_id]["revisits"].append({"status": status, "outcome": outcome, "done_at": done_at})
    return list(records.values())


def metrics_for(start: dt.datetime, end: dt.datetime, area_path_prefix: str | None = None,
                group_by: str | None = None) -> list[dict[str, Any]]:
    """Rows of figures for events under ``area_path_prefix`` over [start, end).

    ``group_by='area'``: one row per area directly below the scope area (below the single
    root when no prefix is given), in administrative order (sort_order, then code).
    ``group_by='category'``: one row per 大类 in catalogue order. Each row carries ``name``;
    a trailing row ``key None`` gathers events outside every group (位置不明 / 未分类).
    Needs an open connection (``db.connection_context()``); SQLite and PostgreSQL alike.
    """
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {GROUP_BY}, not {group_by!r}")
    if group_by == "area":
        named = _group_areas(area_path_prefix)
        leftover = "位置不明"
    elif group_by == "category":
        named = _group_categories()
        leftover = "未分类"
    else:
        named, leftover = [], "全部"
    records = load_records(start, end, area_path_prefix)
    groups = [key for key, _ in named] if group_by else None
    names = dict(named)
    rows = compute(records, start, end, group_by, groups)
    for row in rows:
        row["name"] = names.get(row["key"], leftover) if row["key"] is not None else leftover
    return rows
