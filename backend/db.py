"""The one database proxy (STYLE §3) and the engines it can bind to.

Every model binds to ``db``; ``init_database(url)`` points it at SQLite (WAL) or
PostgreSQL. Connections are opened explicitly: per request by the web adapters and
per job by workers (``with db.connection_context():``).
"""
from __future__ import annotations

import threading
import weakref
from pathlib import Path
from typing import Sequence
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect as connect_url

db = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "synchronous": "normal",
}

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_prepared: "weakref.WeakKeyDictionary[object, set[str]]" = weakref.WeakKeyDictionary()
_prepared_lock = threading.Lock()


def make_database(url: str) -> peewee.Database:
    scheme = urlparse(url).scheme
    if scheme.startswith("sqlite"):
        path = url.split("://", 1)[1].split("?", 1)[0]
        if path.startswith("/") and path != "/:memory:":
            path = path[1:] if path.startswith("//") else path
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        database = connect_url(url, pragmas=SQLITE_PRAGMAS, autoconnect=False)
    elif scheme.startswith("postgres"):
        database = connect_url(url, autoconnect=False)
    else:
        raise ValueError(f"DATABASE_URL: unsupported scheme {scheme!r} (use sqlite:/// or postgresql://)")
    return database


def init_database(url: str) -> peewee.Database:
    database = make_database(url)
    db.initialize(database)
    return database


def is_postgres() -> bool:
    return isinstance(db.obj, peewee.PostgresqlDatabase)


def migrate(database: peewee.Database | None = None) -> list[str]:
    """Apply pending numbered migrations; returns the names applied."""
    from playhouse.migrations import Runner

    database = database or db.obj
    with database.connection_context():
        return Runner(database, directory=str(MIGRATIONS_DIR)).up()


def transaction():
    """A write transaction. SQLite takes the write lock up front (BEGIN IMMEDIATE) so two
    processes never both read-then-write the same row; PostgreSQL uses row locks."""
    if isinstance(db.obj, peewee.SqliteDatabase):
        return db.obj.atomic(lock_type="IMMEDIATE")
    return db.atomic()


def for_update(query):
    """Row lock on PostgreSQL; SQLite already holds the write lock (see transaction())."""
    return query.for_update() if is_postgres() else query


def execute_prepared(name: str, sql: str, params: Sequence):
    """PostgreSQL: run ``sql`` (``$1 … $n`` placeholders) as the named prepared statement
    ``name`` of the current connection — parsed and planned once per connection instead of
    on every call. For the few statements on a hot path (the /wechat callback writes one
    per push; planning it cost more than running it, docs/benchmarks.md). Prepared
    statements live as long as the server session, so a transaction-pooling pgbouncer in
    front of PostgreSQL would lose them: a missing statement is prepared again.
    """
    connection = db.connection()
    with _prepared_lock:
        names = _prepared.setdefault(connection, set())
    prepare = f"PREPARE {name} AS {sql}"
    execute = f"EXECUTE {name}({', '.join(['%s'] * len(params))})"
    if name not in names:
        db.execute_sql(prepare)
        names.add(name)
    try:
        return db.execute_sql(execute, tuple(params))
    except peewee.DatabaseError as exc:  # InvalidSqlStatementName (26000): the session lost it
        if getattr(getattr(exc, "orig", None), "pgcode", None) != "26000" or db.in_transaction():
            raise
    db.execute_sql(prepare)
    return db.execute_sql(execute, tuple(params))
