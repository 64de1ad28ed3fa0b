"""The one database proxy (STYLE §3) and the engines it can bind to.

Every model binds to ``db``; ``init_database(url)`` points it at SQLite (WAL) or
PostgreSQL. Connections are opened explicitly: per request by the web adapters and
per job by workers (``with db.connection_context():``).

The proxy can be routed, for one context (a request's thread, not the process), to a read
replica: ``backend.replica.reading_replica()`` does that around the report reads that may be
a few seconds stale; everything else — every write, and every read a write depends on — stays
on the primary the proxy was initialised with.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import select
import threading
import weakref
from pathlib import Path
from typing import Callable, Sequence, TypeVar
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect as connect_url
from playhouse.db_url import register_database
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase

_routed: contextvars.ContextVar[peewee.Database | None] = contextvars.ContextVar("ejia_db_routed", default=None)


class RoutingDatabaseProxy(peewee.DatabaseProxy):
    """peewee's ``DatabaseProxy`` whose ``obj`` — what every query, ``connect`` and
    ``atomic`` go through — is the database routed to in this context, else the primary.
    ``contextvars`` keep the route to the thread (or task) that set it; a thread started
    inside the block sees it only when run in a copy of the context (admin_metrics does)."""

    __slots__ = ("_primary",)

    @property
    def obj(self):
        routed = _routed.get()
        return routed if routed is not None else self._primary

    @obj.setter
    def obj(self, value):
        object.__setattr__(self, "_primary", value)

    @property
    def primary(self) -> peewee.Database | None:
        return self._primary

    def __setattr__(self, attr, value):
        object.__setattr__(self, attr, value)


@contextlib.contextmanager
def routed_to(database: peewee.Database | None):
    """Queries of this context go to ``database`` inside the block (None: the primary)."""
    token = _routed.set(database)
    try:
        yield
    finally:
        _routed.reset(token)


def routed() -> peewee.Database | None:
    """The database this context is routed to, if not the primary."""
    return _routed.get()


db = RoutingDatabaseProxy()
log = logging.getLogger("ejia.db")
#: What peewee raises when the database cannot be reached (refused, restarting, connection lost,
#: or every pooled connection busy for the pool's whole wait).
DATABASE_DOWN = (peewee.OperationalError, peewee.InterfaceError, MaxConnectionsExceeded)
T = TypeVar("T")

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "synchronous": "normal",
}

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CONNECT_TIMEOUT_SECONDS = 2  # libpq's minimum

_made: "weakref.WeakSet[peewee.Database]" = weakref.WeakSet()  # every database make_database built
_checkout = threading.local()  # .unprobed: this thread takes a pooled connection without the probe
_prepared: "weakref.WeakKeyDictionary[object, set[str]]" = weakref.WeakKeyDictionary()
_prepared_lock = threading.Lock()


class ProbingPostgresPool(PooledPostgresqlDatabase):
    """peewee's PostgreSQL pool (``postgresql+pool://``) that checks an idle connection on
    check-out without a round trip where it can: a connection PostgreSQL has closed (a
    restart, ``pg_terminate_backend``, an idle timeout) has bytes or EOF waiting on its socket
    — the server's goodbye — so a zero-timeout poll of the socket tells it from a live idle
    one. Only then does it pay peewee's ``SELECT 1`` probe (inside the pool's lock). So a
    handler never starts its work on a connection PostgreSQL has dropped, and a request on a
    healthy pool pays no extra round trip (docs/benchmarks.md, issue 18).
    ``connect(probe=False)`` skips even the poll for a caller whose first statement is safe to
    run again on a fresh connection (``run_on_live_connection``): its statement is the probe.
    What the poll cannot see — a host that vanished without closing its sockets — the
    connect and statement timeouts bound, as before."""

    def _is_closed(self, conn):
        if conn.closed:
            return True
        if self._adapter.txn_status(conn) == self._adapter.txn_idle:
            if getattr(_checkout, "unprobed", False) or not _socket_has_data(conn):
                return False  # locally known idle and the server has said nothing: alive
        return super()._is_closed(conn)


def _socket_has_data(conn) -> bool:
    """True when the server has sent something (or closed the socket) on an idle connection."""
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True  # cannot tell: let the real probe decide


register_database(ProbingPostgresPool, "postgres+pool", "postgresql+pool")


def connect(*, probe: bool = True) -> None:
    """Open this thread's connection (from the pool, if pooled) unless it is open already."""
    _checkout.unprobed = not probe
    try:
        db.connect(reuse_if_open=True)
    finally:
        _checkout.unprobed = False


@contextlib.contextmanager
def open_connection(database: peewee.Database | None = None):
    """This thread's open connection to ``database`` (default: the proxy — a request's, say) if
    there is one; otherwise one opened for the block and closed after it. (peewee's
    ``connection_context`` would close a connection the caller had opened.)"""
    database = db if database is None else database
    opened = database.is_closed()
    if opened:
        database.connect()
    try:
        yield
    finally:
        if opened and not database.is_closed():
            database.close()


def run_on_live_connection(statement: Callable[[], T]) -> T:
    """Run ``statement`` (one statement, atomic on its own, safe to run twice); if the
    connection turns out to be dead (PostgreSQL restarted, a proxy dropped it), drop it,
    open a probed one and run the statement once more. The caller of a write must be ready
    for the rare case where the first run took effect before the line went down."""
    try:
        return statement()
    except (peewee.OperationalError, peewee.InterfaceError):
        if db.in_transaction() or not _connection_dead():
            raise
    log.warning("database connection was dead; running the statement on a fresh one")
    drop = getattr(db.obj, "manual_close", None)  # a pool must not hand the dead one out again
    drop() if drop is not None else db.close()
    db.connect()
    return statement()


def _connection_dead() -> bool:
    """psycopg2 marks a connection ``closed`` once the server side is gone (SQLite's never is)."""
    return bool(getattr(db.connection(), "closed", False))


def make_database(url: str) -> peewee.Database:
    scheme = urlparse(url).scheme
    if scheme.startswith("sqlite"):
        path = url.split("://", 1)[1].split("?", 1)[0]
        if path.startswith("/") and path != "/:memory:":
            path = path[1:] if path.startswith("//") else path
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        database = connect_url(url, pragmas=SQLITE_PRAGMAS, autoconnect=False)
    elif scheme.startswith("postgres"):
        # A host that does not answer (not one that refuses) would hold a request for the OS's
        # TCP timeout, minutes: give up in seconds, inside WeChat's budget (/wechat then spools).
        options = {} if "connect_timeout=" in url else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        database = connect_url(url, autoconnect=False, **options)
    else:
        raise ValueError(f"DATABASE_URL: unsupported scheme {scheme!r} (use sqlite:/// or postgresql://)")
    _made.add(database)
    return database


#: A web process's pool when DATABASE_URL names plain PostgreSQL: connections per process
#: (gthread threads plus the app's own writer threads), how long a request waits for one when
#: all are busy instead of failing, and the age after which one is replaced.
WEB_POOL_OPTIONS = {"max_connections": "32", "timeout": "10", "stale_timeout": "300"}


def pooled_url(url: str) -> str:
    """``postgresql://…`` as ``postgresql+pool://…`` (issue 18: a web process never opens a
    fresh PostgreSQL connection per request — ≈ 6 ms and a new backend process each time).
    A ``+pool`` URL gets the options it does not set; options in the URL win; other URLs are
    returned unchanged."""
    scheme, sep, rest = url.partition("://")
    if scheme.removesuffix("+pool") not in ("postgres", "postgresql"):
        return url
    scheme = scheme.removesuffix("+pool")
    present = {pair.split("=", 1)[0] for pair in urlparse(url).query.split("&") if pair}
    extra = "&".join(f"{k}={v}" for k, v in WEB_POOL_OPTIONS.items() if k not in present)
    joiner = "&" if "?" in rest else "?"
    return f"{scheme}+pool{sep}{rest}{joiner + extra if extra else ''}"


def _forget_inherited_connections() -> None:
    """In a forked child (RQ's forking worker, gunicorn with a preloaded app): the parent's
    connections are the parent's — the child must neither use nor close them (closing would end
    the parent's session on the shared socket). Drop them from every pool and every database's
    state (the primary, a replica, any made by ``make_database``); the child opens its own."""
    databases = set(_made)
    if db.obj is not None:
        databases.add(db.obj)
    for database in databases:
        if hasattr(database, "_in_use"):
            database._connections, database._in_use = [], {}
        database._state.reset()


os.register_at_fork(after_in_child=_forget_inherited_connections)


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


class Statement:
    """A read query on a hot path whose SQL is built once per database engine, then run
    again and again with new ids or keys.

    peewee builds a query's SQL afresh on every call, walking every column; for a 45-column
    row that costs the worker more CPU than PostgreSQL spends answering (docs/benchmarks.md,
    "one report's job path"). ``build`` is called once per engine with a marker value for
    each argument; the SQL is kept with the markers' positions, and each call passes its own
    values there and the query's other parameters (its constants) as they were. Rows come
    back as the built query would give them (model instances, joins and all).

    ``kinds`` names each argument's type, ``int`` (ids, counts) or ``str`` (keys): values
    peewee sends as given, so no conversion is skipped — an argument peewee would convert
    (a date, a JSON value) does not reach the SQL as its marker, and compiling refuses it.
    ``build`` must give the same query for every value (no branching on them);
    tests/integration/test_statement.py compares every Statement in use with its query."""

    def __init__(self, build: Callable[..., peewee.Query], *kinds: type):
        arity = build.__code__.co_argcount
        self.kinds = kinds or (int,) * arity
        if len(self.kinds) != arity or any(kind not in (int, str) for kind in self.kinds):
            raise TypeError(f"{build.__qualname__}: one kind, int or str, per argument")
        self.build = build
        self._compiled: dict[type, tuple] = {}
        self._lock = threading.Lock()

    def _markers(self) -> list:
        return [-(2**62) - i if kind is int else f"\x00ejia-marker-{i}" for i, kind in enumerate(self.kinds)]

    def _compile(self, engine: type):
        compiled = self._compiled.get(engine)
        if compiled is not None:
            return compiled
        with self._lock:
            compiled = self._compiled.get(engine)
            if compiled is None:
                markers = self._markers()
                query = self.build(*markers)
                sql, params = query.sql()
                slots = []
                for value in params:
                    index = next((i for i, m in enumerate(markers) if type(value) is type(m) and value == m), None)
                    slots.append((True, index) if index is not None else (False, value))
                missing = set(range(len(markers))) - {index for is_arg, index in slots if is_arg}
                if missing:
                    raise ValueError(f"{self.build.__qualname__}: arguments {sorted(missing)} do not reach the SQL "
                                     "as given (an argument must be a value peewee sends unconverted)")
                compiled = self._compiled[engine] = (query, sql, slots)
            return compiled

    def rows(self, *args):
        """The query's cursor wrapper (iterate it for rows), for these arguments."""
        if len(args) != len(self.kinds) or any(type(a) is not kind for a, kind in zip(args, self.kinds)):
            raise TypeError(f"{self.build.__qualname__} takes {[k.__name__ for k in self.kinds]}, got {args!r}")
        query, sql, slots = self._compile(type(db.obj))
        params = [args[value] if is_arg else value for is_arg, value in slots]
        return query._get_cursor_wrapper(db.execute_sql(sql, params))

    def first(self, *args):
        """The first row, or None."""
        for row in self.rows(*args):
            return row
        return None
