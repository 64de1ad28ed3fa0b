"""``metric_sum`` — the sums the triggers of migration 0014 keep — always equals the live
aggregate, whatever is written to events, ratings and revisits and however (one row, many
rows in one statement, deletes), across local month boundaries, and through compaction.

Hypothesis writes arbitrary rows, including combinations the workflow never makes (a closed_at
on an open case, a revisit done without an outcome), because the triggers must follow the
definitions for any row, not only for the rows today's code writes.
"""
from __future__ import annotations

import datetime as dt
import importlib
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import clock
from backend.db import db, is_postgres
from backend.models import Event, MetricSum, Rating, Revisit
from backend.services import admin_metrics
from tests.factories import make_world

BASE = dt.datetime(2025, 1, 1)
MONTH_STARTS = [clock.from_local(dt.datetime(2025, month, 1)) for month in range(1, 8)]  # 16:00 UTC the day before
STATUSES = ("closed", "closed", "processing", "resolved", "assigned", "rejected", "merged", "withdrawn")
COUNTS = [name for name in admin_metrics.COUNT_FIELDS if not name.endswith("_seconds")]


@pytest.fixture
def world(clean_db):
    return make_world()


def instants():
    """Any instant of the first half of 2025, a local month's first moment, or a moment either side."""
    near = st.sampled_from(MONTH_STARTS).flatmap(
        lambda at: st.sampled_from([at, at - dt.timedelta(microseconds=1000), at + dt.timedelta(seconds=1)]))
    anywhere = st.integers(0, 180 * 24 * 3600).map(lambda s: BASE + dt.timedelta(seconds=s, milliseconds=s % 997))
    return st.one_of(near, anywhere)


def maybe(strategy):
    return st.one_of(st.none(), strategy)


def event_rows(world):
    paths = [world.grid_a.path, world.grid_b.path, world.other_grid.path, world.community.path, None]
    categories = [world.cat_photo.id, world.cat_nophoto.id, world.cat_urgent.id, None]
    return st.fixed_dictionaries({
        "status": st.sampled_from(STATUSES), "quick_record": st.booleans(),
        "area_path": st.sampled_from(paths), "category": st.sampled_from(categories),
        "created_at": instants(), "accepted_at": maybe(instants()), "resolved_at": maybe(instants()),
        "closed_at": maybe(instants()), "resolve_due_at": maybe(instants()), "reopen_count": st.integers(0, 2),
        "rating": maybe(st.tuples(st.integers(1, 5), instants())),
        "revisits": st.lists(st.tuples(st.sampled_from(["done", "done", "pending"]),
                                       st.sampled_from(["satisfied", "unsatisfied", "unreachable", None]),
                                       maybe(instants())), max_size=2),
    })


def changes(world):
    """One change to the stored rows: (what, index of the row it picks, value)."""
    return st.one_of(
        st.tuples(st.just("event"), st.integers(0, 99), event_rows(world).flatmap(
            lambda row: st.sampled_from(sorted(set(row) - {"rating", "revisits"})).map(lambda name: (name, row[name])))),
        st.tuples(st.just("many"), st.integers(0, 99), st.sampled_from(
            [("area_path", world.grid_b.path), ("category", world.cat_urgent.id), ("quick_record", False),
             ("status", "closed"), ("area_path", None)])),
        st.tuples(st.just("rating"), st.integers(0, 99), st.tuples(st.integers(1, 5), instants())),
        st.tuples(st.just("revisit"), st.integers(0, 99), st.sampled_from(["satisfied", "unsatisfied", "unreachable"])),
        st.tuples(st.just("drop revisit"), st.integers(0, 99), st.none()),
        st.tuples(st.just("compact"), st.just(0), st.none()),
    )


def store(rows: list[dict], serial: list[int]) -> None:
    for row in rows:
        serial[0] += 1
        event = Event.create(number=f"M{serial[0]:06d}", description="指标", updated_at=row["created_at"],
                             **{k: v for k, v in row.items() if k not in ("rating", "revisits")})
        if row["rating"]:
            Rating.create(event=event, score=row["rating"][0], created_at=row["rating"][1])
        for reason, (status, outcome, done_at) in zip(("sample", "low_rating"), row["revisits"]):
            Revisit.create(event=event, reason=reason, status=status, outcome=outcome, done_at=done_at)


def apply(change) -> None:
    what, pick, value = change
    ids = [e.id for e in Event.select(Event.id).order_by(Event.id)]
    if what == "event":
        name, new = value
        Event.update({getattr(Event, name): new}).where(Event.id == ids[pick % len(ids)]).execute()
    elif what == "many":  # one statement over many rows
        name, new = value
        Event.update({getattr(Event, name): new}).where(Event.id.in_(ids[pick % 3::3])).execute()
    elif what == "rating":
        rating = Rating.select().order_by(Rating.id).offset(pick % max(1, Rating.select().count())).first()
        if rating:
            Rating.update(score=value[0], created_at=value[1]).where(Rating.id == rating.id).execute()
    elif what in ("revisit", "drop revisit"):
        revisit = Revisit.select().order_by(Revisit.id).offset(pick % max(1, Revisit.select().count())).first()
        if revisit and what == "revisit":
            Revisit.update(outcome=value, status="done").where(Revisit.id == revisit.id).execute()
        elif revisit:
            revisit.delete_instance()
    else:
        admin_metrics.compact()


def totals(sums: dict) -> dict:
    out = admin_metrics.empty_sums()
    for row in sums.values():
        admin_metrics.add_sums(out, row)
    return out


def assert_same(stored: dict, live: dict, context) -> None:
    for name in COUNTS:
        assert stored[name] == live[name], (name, context)
    for name, count in (("accept_seconds", "accepted"), ("resolve_seconds", "resolved")):
        # exact on PostgreSQL (up to the order floats are added in); SQLite keeps milliseconds
        assert stored[name] == pytest.approx(
            live[name], rel=1e-12, abs=1e-9 if is_postgres() else 1e-3 * max(1, live[count])), \
            (name, context)


def assert_stored_equals_live(scope: str | None, periods) -> None:
    for start, end in periods:
        live, stored = admin_metrics.aggregate(start, end, scope), admin_metrics.period_sums(start, end, scope)
        assert set(k for k, v in stored.items() if any(v.values())) == set(k for k, v in live.items() if any(v.values()))
        for key, values in live.items():
            assert_same(stored.get(key, admin_metrics.empty_sums()), values, (start, end, key))
        assert_same(totals(stored), totals(live), (start, end))
    labels = [f"2025-{month:02d}" for month in range(1, 7)]
    monthly = admin_metrics.monthly_sums(labels, scope)
    for label in labels:
        assert_same(monthly[label], totals(admin_metrics.aggregate(*admin_metrics.month_bounds(label), scope)), label)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_stored_sums_equal_the_live_aggregate_after_any_writes(world, data):
    serial = [Event.select().count()]
    store(data.draw(st.lists(event_rows(world), min_size=1, max_size=12), label="events"), serial)
    for change in data.draw(st.lists(changes(world), max_size=12), label="changes"):
        apply(change)
    bounds = sorted(data.draw(st.lists(instants(), min_size=2, max_size=2), label="period"))
    periods = [tuple(bounds), (MONTH_STARTS[0], MONTH_STARTS[6]), (MONTH_STARTS[1], bounds[1]),
               (bounds[0], MONTH_STARTS[5])]
    scope = data.draw(st.sampled_from([None, world.community.path, world.street.path]), label="scope")
    assert_stored_equals_live(scope, [(s, e) for s, e in periods if s < e])


def test_the_backfill_of_0014_equals_the_triggers(world):
    """A database upgraded with events already in it gets the same sums the triggers keep."""
    import random

    rng = random.Random(5)
    serial = [0]
    rows = []
    for n in range(60):
        created = BASE + dt.timedelta(hours=rng.randrange(0, 24 * 170), microseconds=rng.randrange(0, 10**6))
        status = rng.choice(STATUSES)
        closed = created + dt.timedelta(hours=rng.uniform(1, 900)) if status == "closed" else None
        rows.append({"status": status, "quick_record": rng.random() < 0.1,
                     "area_path": rng.choice([world.grid_a.path, world.other_grid.path, None]),
                     "category": rng.choice([world.cat_photo.id, None]), "created_at": created,
                     "accepted_at": created + dt.timedelta(hours=rng.uniform(0, 40)),
                     "resolved_at": closed and closed - dt.timedelta(hours=1), "closed_at": closed,
                     "resolve_due_at": created + dt.timedelta(days=rng.choice([1, 5, 20])),
                     "reopen_count": rng.choice([0, 0, 1]),
                     "rating": (rng.randint(1, 5), closed + dt.timedelta(days=2)) if closed else None,
                     "revisits": [("done", "satisfied", closed + dt.timedelta(days=30))] if closed else []})
    store(rows, serial)
    by_triggers = sorted(_folded())
    MetricSum.delete().execute()
    migration = importlib.import_module("backend.migrations.0014_metric_sums")
    db.execute_sql(migration.backfill(is_postgres()))
    assert sorted(_folded()) == by_triggers and by_triggers


def _folded() -> list[tuple]:
    return [tuple(row) for row in db.execute_sql(
        "SELECT area_path, category_id, kind, month, closed_month, SUM(n), SUM(n2), SUM(us) FROM metric_sum "
        "GROUP BY area_path, category_id, kind, month, closed_month "
        "HAVING SUM(n) <> 0 OR SUM(n2) <> 0 OR SUM(us) <> 0").fetchall()]


@pytest.mark.skipif("not __import__('backend.db', fromlist=['is_postgres']).is_postgres()")
def test_compaction_beside_concurrent_transitions_loses_nothing(world, settings):
    """PostgreSQL: writers append while the minutely fold runs; no change is lost or counted
    twice, each key ends as one row, and a reader never sees a half-folded table."""
    from backend.db import make_database

    serial = [0]
    store([{"status": "processing", "quick_record": False, "area_path": world.grid_a.path,
            "category": world.cat_photo.id, "created_at": BASE + dt.timedelta(days=n % 150),
            "accepted_at": None, "resolved_at": None, "closed_at": None,
            "resolve_due_at": BASE + dt.timedelta(days=n % 150 + 3), "reopen_count": 0, "rating": None,
            "revisits": []} for n in range(40)], serial)
    ids = [e.id for e in Event.select(Event.id)]
    period = (MONTH_STARTS[0], MONTH_STARTS[6])
    expected_due = totals(admin_metrics.aggregate(*period))["due"]
    stop, errors = threading.Event(), []

    def writer(offset):
        own = make_database(settings.database_url)
        try:
            with own.connection_context():
                for round_ in range(30):
                    for event_id in ids[offset::2]:
                        closing = round_ % 2 == 0
                        own.execute_sql(
                            "UPDATE event SET status = %s, closed_at = %s WHERE id = %s",
                            ["closed" if closing else "processing",
                             BASE + dt.timedelta(days=40, hours=round_) if closing else None, event_id])
        except Exception as error:  # surfaced below
            errors.append(error)

    writers = [threading.Thread(target=writer, args=(offset,)) for offset in (0, 1)]
    fold = threading.Thread(target=lambda: _fold_until(stop))
    fold.start()
    for thread in writers:
        thread.start()
    seen = []
    while not seen or any(thread.is_alive() for thread in writers):
        seen.append(totals(admin_metrics.period_sums(*period))["due"])
    for thread in writers:
        thread.join()
    stop.set()
    fold.join()
    assert not errors
    assert set(seen) == {expected_due}  # a read mid-fold never double-counts or misses a case
    admin_metrics.compact()
    assert_stored_equals_live(None, [period])
    rows = db.execute_sql("SELECT COUNT(*), COUNT(DISTINCT (area_path, category_id, kind, month, closed_month)) "
                          "FROM metric_sum").fetchone()
    assert rows[0] == rows[1]  # one row per key once folded
    assert not db.execute_sql("SELECT 1 FROM metric_sum WHERE fresh").fetchall()


def _fold_until(stop: threading.Event) -> None:
    with db.connection_context():
        while not stop.is_set():
            admin_metrics.compact()
