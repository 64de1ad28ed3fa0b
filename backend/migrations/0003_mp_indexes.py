"""Mini-program task lists at a million events: an index for the 'done' list's area-prefix test.

``staff_tasks(view="done")`` selects closed events whose ``area_path`` starts with the staff
member's area path (``LIKE '/1/4/9/%'``). PostgreSQL's ordinary btree on ``area_path`` cannot
serve a prefix LIKE under a non-C collation, so without this the list was a sequential scan
(≈ 1.2 s at 1 000 000 events, bench/bench_todo.py). A partial ``varchar_pattern_ops`` index over
closed events serves it. The todo and doing lists already use ``event (holder_area_id, status)``.

SQLite needs nothing here (its LIKE is not index-assisted either way, and its test data is small);
the model declares no Meta index for this because peewee cannot express operator classes.
"""

import peewee

INDEX = "event_area_path_closed_pattern"


def _postgres(db) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)


def up(migrator, db):
    if _postgres(db):
        db.execute_sql(
            f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "event" ("area_path" varchar_pattern_ops, "closed_at") '
            "WHERE status = 'closed'"
        )


def down(migrator, db):
    if _postgres(db):
        db.execute_sql(f'DROP INDEX IF EXISTS "{INDEX}"')
