"""The PostgreSQL pool's check-out probe, skipped where the first statement is the probe
(backend.db.connect(probe=False), run_on_live_connection) — and a push stored once when its
connection dies under it (backend.services.residents.record_inbound)."""
from __future__ import annotations

import itertools
import time

import psycopg2
import peewee
from playhouse.pool import PooledPostgresqlDatabase
import pytest

from backend.db import connect, db, make_database, run_on_live_connection
from backend.models import InboundMessage
from backend.services import residents
from tests.conftest import PG_URL, TEST_DB

pytestmark = pytest.mark.skipif(TEST_DB != "postgres", reason="the probe and dead connections are PostgreSQL's")


@pytest.fixture
def pooled(clean_db):
    """``db`` bound to a pool on the test database for the test, then back to the plain one."""
    db.close()
    plain, pool = db.obj, make_database(PG_URL.replace("postgresql://", "postgresql+pool://", 1))
    db.initialize(pool)
    yield pool
    if not db.is_closed():
        db.close()
    pool.close_all()
    db.initialize(plain)
    db.connect(reuse_if_open=True)


def _backend_pid() -> int:
    return db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


def _terminate(pid: int) -> None:
    """What a PostgreSQL restart or a proxy's idle timeout does to a pooled connection."""
    with psycopg2.connect(PG_URL) as other:
        other.autocommit = True
        cursor = other.cursor()
        cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(200):  # until the backend has exited (its socket closed), as after a restart
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.01)


def _pooled_connection_killed() -> tuple[object, int]:
    connect()
    connection, pid = db.connection(), _backend_pid()
    db.close()  # back to the pool, looking idle
    _terminate(pid)
    return connection, pid


def test_a_probed_check_out_never_hands_out_a_dead_connection(pooled):
    dead, pid = _pooled_connection_killed()
    connect()
    assert db.connection() is not dead and _backend_pid() != pid


def test_a_check_out_of_a_live_idle_connection_makes_no_round_trip(pooled):
    """The check-out polls the socket instead of sending ``SELECT 1``: the server sees no
    statement between two requests on one pooled connection."""
    connect()
    pid = _backend_pid()
    db.close()
    connect()
    assert _backend_pid() == pid
    with psycopg2.connect(PG_URL) as other:
        cursor = other.cursor()
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,))
        assert cursor.fetchone()[0] == "SELECT pg_backend_pid()"  # the check-out sent nothing after it


def test_a_connection_in_a_transaction_left_open_is_rolled_back_before_reuse(pooled):
    """Transaction hygiene across requests: what one request left open, the next never sees."""
    connect()
    db.execute_sql("BEGIN")
    db.execute_sql("CREATE TEMP TABLE leftover (x int)")
    db.close()  # back to the pool mid-transaction (a handler that forgot to commit)
    connect()
    assert not db.in_transaction()
    assert db.execute_sql("SELECT to_regclass('pg_temp.leftover')").fetchone()[0] is None


def test_an_unprobed_check_out_trusts_the_connection_and_its_statement_replaces_a_dead_one(pooled):
    dead, pid = _pooled_connection_killed()
    connect(probe=False)
    assert db.connection() is dead  # no round trip was made to find out
    assert run_on_live_connection(_backend_pid) != pid
    db.close()
    connect(probe=False)
    assert db.connection() is not dead  # the dead one left the pool


def test_a_statement_that_fails_for_another_reason_is_not_run_again(pooled):
    calls = []

    def failing():
        calls.append(1)
        return db.execute_sql("SELECT 1/0")

    connect(probe=False)
    with pytest.raises(peewee.DataError):
        run_on_live_connection(failing)
    assert calls == [1]


_NONCES = ((1_700_000_000, str(n)) for n in itertools.count())


def _record(key: str):
    return residents.record_inbound(dedupe_key=key, openid="o-pool", msg_type="text", event_type=None,
                                    payload={"text": "你好"}, opens_window=True, nonce=next(_NONCES))


def test_a_push_stored_just_before_its_connection_died_is_still_ours(pooled, monkeypatch):
    """The insert committed, then the line went down before its answer came back: the retry
    finds the row — with this delivery's own time on it — and does not mistake it for a copy."""
    real = residents.execute_prepared

    def dies_after_running(name, sql, params):
        cursor = real(name, sql, params)
        cursor.fetchone()
        monkeypatch.setattr(residents, "execute_prepared", real)
        _terminate(_backend_pid())
        return real(name, sql, params)  # the dead connection answers with an error

    monkeypatch.setattr(residents, "execute_prepared", dies_after_running)
    connect(probe=False)
    stored_at = _record("msg:died")
    assert stored_at is not None
    assert [row.created_at for row in InboundMessage.select()] == [stored_at]
    assert _record("msg:died") is None  # a real copy is still a copy


def test_a_forked_child_never_uses_or_closes_the_parents_pooled_connection(pooled):
    """RQ's forking worker, gunicorn with a preloaded app: the child opens its own connection
    and the parent's, back in the pool, still works afterwards."""
    import os

    connect()
    pid = _backend_pid()
    db.close()  # idle in the pool when the fork happens
    child = os.fork()
    if child == 0:  # pragma: no cover — the child reports through its exit code
        try:
            connect()
            os._exit(0 if _backend_pid() != pid else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    connect()
    assert _backend_pid() == pid  # the parent's session survived the child


def test_a_web_process_pools_a_plain_postgresql_url():
    from backend.db import pooled_url

    assert pooled_url("postgresql://u@h:5432/x").startswith("postgresql+pool://u@h:5432/x?")
    assert "max_connections=8" in pooled_url("postgresql+pool://h/x?max_connections=8")
    assert "max_connections=32" not in pooled_url("postgresql+pool://h/x?max_connections=8")
    assert pooled_url("sqlite:///x.db") == "sqlite:///x.db"
    assert isinstance(make_database(pooled_url(PG_URL)), PooledPostgresqlDatabase)
