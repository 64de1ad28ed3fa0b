"""Staff task lists at a million events: let the area-prefix test use the ``area_path`` index.

``staff_tasks(view="done")`` and other scope queries select events whose ``area_path`` starts
with the staff member's area path (``LIKE '/1/4/9/%'``). Under a non-C collation PostgreSQL
cannot turn a prefix LIKE into an index range, so the existing ``event_area_path`` btree went
unused and the done list was a sequential scan (≈ 1.2 s at 1 000 000 events,
bench/bench_todo.py). Paths are ASCII digits and slashes, so byte order is their natural order:
declaring the column ``COLLATE "C"`` makes the same index serve the prefix (PostgreSQL rebuilds
it). No model change: the column's type, length and index stay as the models declare them.

SQLite needs nothing: its LIKE is case-insensitive and never index-assisted by default, and
test data there is small. (The todo and doing lists use ``event (holder_area_id, status)``.)
"""
import peewee


def _postgres(db) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)


def up(migrator, db):
    if _postgres(db):
        db.execute_sql('ALTER TABLE "event" ALTER COLUMN "area_path" TYPE VARCHAR(255) COLLATE "C"')


def down(migrator, db):
    if _postgres(db):
        db.execute_sql('ALTER TABLE "event" ALTER COLUMN "area_path" TYPE VARCHAR(255) COLLATE "default"')
