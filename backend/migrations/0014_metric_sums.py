"""Exact metric sums kept by the database itself (``metric_sum``), in place of ``metric_month``.

The metrics page aggregated its period live: a year of a million-event city was a sequential
scan (≈ 0.3–1.2 s). ``metric_month`` held completed months, but only for the trend: it went
stale when an old case changed, and 结案数 is not a sum of months.

``metric_sum`` holds what every figure of ``backend.metrics`` adds up, per local month (Asia/
Shanghai, UTC+8 without daylight saving since 1991), per (area_path, category_id) and per
*kind* — the timestamp the figure is counted by (``backend.services.admin_metrics.KIND_*``):

====  ==============================  ===============================  =========================
kind  rows                            ``month`` is the month of        n / n2 / us
====  ==============================  ===============================  =========================
1     cases with a due time           ``resolve_due_at``               cases / closed on time /
      (not rejected, merged,          (``closed_month``: of            —
      withdrawn)                      ``closed_at`` if closed, else 0)
2     closed cases                    ``closed_at``                    cases / reopened / —
3     accepted cases                  ``accepted_at``                  cases / — / µs to accept
4     resolved cases                  ``resolved_at``                  cases / — / µs to resolve
5     即报即办 records                ``created_at``                   records / — / —
6     ratings                         the rating's ``created_at``      ratings / score ≥ 4 / —
7     done revisits (satisfied or     ``done_at``                      revisits / satisfied / —
      unsatisfied)
====  ==============================  ===============================  =========================

Kinds 1–4, 6 and 7 leave out 即报即办 records, as the definitions do. Triggers on ``event``,
``rating`` and ``revisit`` add, for every statement, what the changed rows contribute now
minus what they contributed before, so the sums are always those of the rows as committed:
a reopened, re-accepted, moved or re-classified case changes them in the same transaction.

- PostgreSQL: statement triggers with transition tables append the statement's net change
  as new rows (``fresh``); nothing is updated in place, so concurrent transitions never wait
  on one another or deadlock on a shared sum. ``admin_metrics.compact()`` (every minute, the
  scheduler) folds each key's rows into one, in one statement.
- SQLite: row triggers add into the key's one row (UPSERT); SQLite has one writer at a time.

Microseconds are integers, so the sums stay exact however many rows fold into them (SQLite
keeps times to the millisecond).

The definitions live here a second time, in SQL: changing one of ``backend.metrics`` means a new
migration that replaces the three trigger functions and rebuilds ``metric_sum`` (``backfill``).
tests/integration/test_console_metrics.py and test_metric_sums.py hold both to the definitions.

Upgrading: the existing rows are summed once, with writes to events, ratings and revisits held
for that time (docs/deploy.md §8 has the figure). This migration **removes** ``metric_month``:
the old code's metrics page fails until the web hosts are restarted, so restart right after.
"""
from peewee import *

NOT_CASES = "'rejected', 'merged', 'withdrawn'"
KEY_COLUMNS = "area_path, category_id, kind, month, closed_month"
COLUMNS = KEY_COLUMNS + ", n, n2, us"
EVENT_COLUMNS = ("status", "area_path", "category_id", "resolve_due_at", "closed_at", "accepted_at",
                 "resolved_at", "created_at", "quick_record", "reopen_count")


def _month(pg: bool):
    if pg:
        return lambda t: f"(to_char(({t}) + interval '8 hours', 'YYYYMM'))::int"
    return lambda t: f"CAST(strftime('%Y%m', {t}, '+8 hours') AS INTEGER)"


def _micros(pg: bool):
    if pg:
        return lambda a, b: f"(EXTRACT(EPOCH FROM ({b}) - ({a})) * 1000000)::bigint"
    return lambda a, b: f"(CAST(ROUND((julianday({b}) - julianday({a})) * 86400000.0) AS INTEGER) * 1000)"


def _select(e: str, kind: int, month: str, closed_month: str, n: str, n2: str, us: str) -> str:
    return (f"SELECT COALESCE({e}.area_path, '') AS area_path, COALESCE({e}.category_id, 0) AS category_id, "
            f"{kind} AS kind, {month} AS month, {closed_month} AS closed_month, {n} AS n, {n2} AS n2, {us} AS us")


def event_parts(pg: bool, e: str, source: str, sign: int) -> list[str]:
    """SELECTs of (COLUMNS) for the events ``e`` (an alias in ``source``, or NEW / OLD)."""
    month, micros = _month(pg), _micros(pg)
    case = f"NOT {e}.quick_record"
    closed = f"{e}.status = 'closed' AND {e}.closed_at IS NOT NULL"
    return [
        _select(e, 1, month(f"{e}.resolve_due_at"), f"CASE WHEN {closed} THEN {month(f'{e}.closed_at')} ELSE 0 END",
                f"{sign}", f"CASE WHEN {closed} AND {e}.closed_at <= {e}.resolve_due_at THEN {sign} ELSE 0 END", "0")
        + f" {source} WHERE {case} AND {e}.resolve_due_at IS NOT NULL AND {e}.status NOT IN ({NOT_CASES})",
        _select(e, 2, month(f"{e}.closed_at"), "0", f"{sign}",
                f"CASE WHEN {e}.reopen_count > 0 THEN {sign} ELSE 0 END", "0")
        + f" {source} WHERE {case} AND {closed}",
        _select(e, 3, month(f"{e}.accepted_at"), "0", f"{sign}", "0",
                f"{sign} * {micros(f'{e}.created_at', f'{e}.accepted_at')}")
        + f" {source} WHERE {case} AND {e}.accepted_at IS NOT NULL AND {e}.created_at IS NOT NULL",
        _select(e, 4, month(f"{e}.resolved_at"), "0", f"{sign}", "0",
                f"{sign} * {micros(f'{e}.created_at', f'{e}.resolved_at')}")
        + f" {source} WHERE {case} AND {e}.resolved_at IS NOT NULL AND {e}.created_at IS NOT NULL",
        _select(e, 5, month(f"{e}.created_at"), "0", f"{sign}", "0", "0")
        + f" {source} WHERE {e}.quick_record AND {e}.created_at IS NOT NULL",
    ]


def rating_part(pg: bool, e: str, x: str, source: str, join: str, sign: int) -> str:
    """The ratings ``x`` of the events ``e``; ``join`` ties them (``AND …``)."""
    return (_select(e, 6, _month(pg)(f"{x}.created_at"), "0", f"{sign}",
                    f"CASE WHEN {x}.score >= 4 THEN {sign} ELSE 0 END", "0")
            + f" {source} WHERE NOT {e}.quick_record AND {x}.created_at IS NOT NULL {join}")


def revisit_part(pg: bool, e: str, x: str, source: str, join: str, sign: int) -> str:
    return (_select(e, 7, _month(pg)(f"{x}.done_at"), "0", f"{sign}",
                    f"CASE WHEN {x}.outcome = 'satisfied' THEN {sign} ELSE 0 END", "0")
            + f" {source} WHERE NOT {e}.quick_record AND {x}.status = 'done' "
            f"AND {x}.outcome IN ('satisfied', 'unsatisfied') AND {x}.done_at IS NOT NULL {join}")


def _net(parts: list[str]) -> str:
    """One INSERT of the parts' net sums per key (PostgreSQL; nothing when a change nets out)."""
    union = "\n      UNION ALL ".join(parts)
    return (f"INSERT INTO metric_sum ({COLUMNS})\n    SELECT {KEY_COLUMNS}, SUM(n), SUM(n2), SUM(us) FROM (\n"
            f"      {union}\n    ) AS c\n    GROUP BY {KEY_COLUMNS}\n"
            f"    HAVING SUM(n) <> 0 OR SUM(n2) <> 0 OR SUM(us) <> 0;")


def _pg_event_parts(rows: str, sign: int) -> list[str]:
    return event_parts(True, "e", f"FROM {rows} e", sign) + [
        rating_part(True, "e", "x", f"FROM {rows} e JOIN rating x ON x.event_id = e.id", "", sign),
        revisit_part(True, "e", "x", f"FROM {rows} e JOIN revisit x ON x.event_id = e.id", "", sign),
    ]


def _pg_function(name: str, old_parts: list[str], new_parts: list[str]) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_net(new_parts)}
  ELSIF TG_OP = 'UPDATE' THEN
    {_net(old_parts + new_parts)}
  ELSE
    {_net(old_parts)}
  END IF;
  RETURN NULL;
END
$body$"""


def _pg_triggers(table: str, function: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_metric_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {table}_metric_update AFTER UPDATE ON {table} "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {table}_metric_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]


def postgres_statements() -> list[str]:
    def feedback(part):
        return lambda rows, sign: [part(True, "e", "x", f"FROM {rows} x JOIN event e ON e.id = x.event_id", "", sign)]

    rating, revisit = feedback(rating_part), feedback(revisit_part)
    return [
        _pg_function("metric_event_delta", _pg_event_parts("old_rows", -1), _pg_event_parts("new_rows", 1)),
        _pg_function("metric_rating_delta", rating("old_rows", -1), rating("new_rows", 1)),
        _pg_function("metric_revisit_delta", revisit("old_rows", -1), revisit("new_rows", 1)),
        *_pg_triggers("event", "metric_event_delta"),
        *_pg_triggers("rating", "metric_rating_delta"),
        *_pg_triggers("revisit", "metric_revisit_delta"),
    ]


def _sqlite_add(parts: list[str]) -> str:
    union = " UNION ALL ".join(parts)
    return (f"INSERT INTO metric_sum ({COLUMNS}) SELECT * FROM ({union}) WHERE true "
            f"ON CONFLICT ({KEY_COLUMNS}) DO UPDATE SET n = n + excluded.n, n2 = n2 + excluded.n2, "
            f"us = us + excluded.us;")


def sqlite_statements() -> list[str]:
    def event_rows(row: str, sign: int) -> list[str]:
        return event_parts(False, row, "", sign) + [
            rating_part(False, row, "x", "FROM rating x", f"AND x.event_id = {row}.id", sign),
            revisit_part(False, row, "x", "FROM revisit x", f"AND x.event_id = {row}.id", sign),
        ]

    def feedback_rows(part, row: str, sign: int) -> list[str]:
        return [part(False, "e", row, "FROM event e", f"AND e.id = {row}.event_id", sign)]

    statements = []
    for table, rows, columns in (
            ("event", event_rows, EVENT_COLUMNS),
            ("rating", lambda row, sign: feedback_rows(rating_part, row, sign), ("score", "created_at", "event_id")),
            ("revisit", lambda row, sign: feedback_rows(revisit_part, row, sign),
             ("status", "outcome", "done_at", "event_id"))):
        statements += [
            f"CREATE TRIGGER {table}_metric_insert AFTER INSERT ON {table} BEGIN {_sqlite_add(rows('NEW', 1))} END",
            f"CREATE TRIGGER {table}_metric_update AFTER UPDATE OF {', '.join(columns)} ON {table} "
            f"BEGIN {_sqlite_add(rows('OLD', -1) + rows('NEW', 1))} END",
            f"CREATE TRIGGER {table}_metric_delete AFTER DELETE ON {table} BEGIN {_sqlite_add(rows('OLD', -1))} END",
        ]
    return statements


def backfill(pg: bool) -> str:
    parts = event_parts(pg, "e", "FROM event e", 1) + [
        rating_part(pg, "e", "x", "FROM rating x JOIN event e ON e.id = x.event_id", "", 1),
        revisit_part(pg, "e", "x", "FROM revisit x JOIN event e ON e.id = x.event_id", "", 1),
    ]
    union = "\n  UNION ALL ".join(parts)
    return (f"INSERT INTO metric_sum ({COLUMNS}, fresh)\nSELECT {KEY_COLUMNS}, SUM(n), SUM(n2), SUM(us), "
            f"{'false' if pg else '0'} FROM (\n  {union}\n) AS c\nGROUP BY {KEY_COLUMNS}")


def _metric_month_models(db):
    class MetricMonth(Model):
        month = CharField(max_length=7)
        area_path = CharField(max_length=255, default="")
        category_id = IntegerField(default=0)
        due = IntegerField(default=0)
        closed = IntegerField(default=0)
        closed_on_time = IntegerField(default=0)
        closed_in_period = IntegerField(default=0)
        reopened = IntegerField(default=0)
        accepted = IntegerField(default=0)
        accept_seconds = DoubleField(default=0)
        resolved = IntegerField(default=0)
        resolve_seconds = DoubleField(default=0)
        ratings = IntegerField(default=0)
        satisfied_ratings = IntegerField(default=0)
        revisits = IntegerField(default=0)
        satisfied_revisits = IntegerField(default=0)
        quick_record_count = IntegerField(default=0)

        class Meta:
            database = db
            table_name = "metric_month"
            indexes = ((("month", "area_path", "category_id"), True),)

    class MetricMonthState(Model):
        month = CharField(max_length=7, primary_key=True)
        refreshed_at = DateTimeField()

        class Meta:
            database = db
            table_name = "metric_month_state"

    return [MetricMonth, MetricMonthState]


def up(migrator, db):
    pg = isinstance(db, PostgresqlDatabase)
    if pg:
        db.execute_sql(
            "CREATE TABLE metric_sum (id BIGSERIAL PRIMARY KEY, area_path VARCHAR(255) NOT NULL, "
            "category_id INTEGER NOT NULL, kind SMALLINT NOT NULL, month INTEGER NOT NULL, "
            "closed_month INTEGER NOT NULL, n BIGINT NOT NULL, n2 BIGINT NOT NULL, us BIGINT NOT NULL, "
            "fresh BOOLEAN NOT NULL DEFAULT true)")
        db.execute_sql(f"CREATE INDEX metric_sum_key ON metric_sum (month, {KEY_COLUMNS.replace(', month', '')})")
        db.execute_sql("CREATE INDEX metric_sum_fresh ON metric_sum (id) WHERE fresh")
    else:
        db.execute_sql(
            "CREATE TABLE metric_sum (id INTEGER PRIMARY KEY AUTOINCREMENT, area_path VARCHAR(255) NOT NULL, "
            "category_id INTEGER NOT NULL, kind INTEGER NOT NULL, month INTEGER NOT NULL, "
            "closed_month INTEGER NOT NULL, n INTEGER NOT NULL, n2 INTEGER NOT NULL, us INTEGER NOT NULL, "
            "fresh INTEGER NOT NULL DEFAULT 0)")
        db.execute_sql(f"CREATE UNIQUE INDEX metric_sum_key ON metric_sum ({KEY_COLUMNS})")
    if pg:  # no row may change between the backfill and the triggers
        db.execute_sql("LOCK TABLE event, rating, revisit IN SHARE ROW EXCLUSIVE MODE")
    db.execute_sql(backfill(pg))
    for statement in postgres_statements() if pg else sqlite_statements():
        db.execute_sql(statement)
    db.drop_tables(_metric_month_models(db))


def down(migrator, db):
    pg = isinstance(db, PostgresqlDatabase)
    for table in ("event", "rating", "revisit"):
        for what in ("insert", "update", "delete"):
            db.execute_sql(f"DROP TRIGGER IF EXISTS {table}_metric_{what}" + (f" ON {table}" if pg else ""))
    if pg:
        for name in ("metric_event_delta", "metric_rating_delta", "metric_revisit_delta"):
            db.execute_sql(f"DROP FUNCTION IF EXISTS {name}()")
    db.execute_sql("DROP TABLE metric_sum")
    db.create_tables(_metric_month_models(db))
