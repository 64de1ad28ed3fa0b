"""The 已办 (done) list at a million events (issue 18): let the holder-chain prefix use its index.

``visible_clause`` tests ``holder_path`` by prefix for community heads, street centres and
admins (the holder's chain). As with ``area_path`` in 0003, a prefix test can use the btree
``event_holder_path`` only under a byte-order collation; without it a community head's done
count was a parallel sequential scan of the whole table (≈ 0.9 s at 1 000 000 events,
bench/bench_todo.py). Paths are ASCII digits and slashes: ``COLLATE "C"`` changes no order
that matters and PostgreSQL rebuilds the index. No model change. SQLite needs nothing.
"""
import peewee


def _postgres(db) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)


def up(migrator, db):
    if _postgres(db):
        db.execute_sql('ALTER TABLE "event" ALTER COLUMN "holder_path" TYPE VARCHAR(255) COLLATE "C"')


def down(migrator, db):
    if _postgres(db):
        db.execute_sql('ALTER TABLE "event" ALTER COLUMN "holder_path" TYPE VARCHAR(255) COLLATE "default"')
