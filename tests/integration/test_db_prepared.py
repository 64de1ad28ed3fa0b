"""backend.db.execute_prepared: a statement prepared once per connection (PostgreSQL)."""
from __future__ import annotations

import pytest

from backend.db import db, execute_prepared
from tests.conftest import TEST_DB

pytestmark = pytest.mark.skipif(TEST_DB != "postgres", reason="prepared statements are a PostgreSQL path")


def _prepared_names() -> set[str]:
    return {row[0] for row in db.execute_sql("SELECT name FROM pg_prepared_statements").fetchall()}


def test_prepared_once_per_connection_and_parameters_bound(clean_db):
    for value, expected in (("甲", "甲!"), (None, None), ("x'); DROP TABLE area; --", "x'); DROP TABLE area; --!")):
        row = execute_prepared("ejia_test_concat", "SELECT $1::text || '!'", (value,)).fetchone()
        assert row[0] == expected
    assert "ejia_test_concat" in _prepared_names()
    assert db.execute_sql("SELECT count(*) FROM area").fetchone()[0] == 0  # the table is still there


def test_a_session_that_lost_its_statements_prepares_again(clean_db):
    execute_prepared("ejia_test_lost", "SELECT $1::int + 1", (1,))
    db.execute_sql("DEALLOCATE ALL")  # what a pooler or DISCARD ALL does behind our back
    assert execute_prepared("ejia_test_lost", "SELECT $1::int + 1", (41,)).fetchone()[0] == 42


def test_a_new_connection_prepares_its_own(clean_db):
    execute_prepared("ejia_test_new", "SELECT $1::int * 2", (2,))
    first = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    db.close()
    db.connect()
    if db.execute_sql("SELECT pg_backend_pid()").fetchone()[0] != first:  # a pool may hand back the same session
        assert "ejia_test_new" not in _prepared_names()
    assert execute_prepared("ejia_test_new", "SELECT $1::int * 2", (21,)).fetchone()[0] == 42
