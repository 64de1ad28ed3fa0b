"""A PostgreSQL streaming replica for reports (issue 19, item 3): ``DATABASE_REPLICA_URL``.

A private primary (``initdb``) and its streaming replica (``pg_basebackup -R``) on free ports
(tests/private_servers.py). Pausing the replica's replay makes it fall behind on purpose: while
it is within ``DATABASE_REPLICA_MAX_LAG_SECONDS`` the console's map, export and metrics and
Open311's GET read from it (a report filed since is not there yet) and their audit rows and
rollups are written on the primary; past the bound, or with the replica stopped, they read
from the primary. The primary's own URL as the replica is accepted."""
from __future__ import annotations

import pytest
import requests

from backend.db import db, make_database, migrate
from backend.models import Resident
from backend.replica import reading_replica
from backend.services import admin_metrics
from backend.services.events import Submission, submit_event
from backend.services.context import resident_actor
from ops.check import _guard, replica_ready
from tests.conftest import TEST_DB, truncate_all
from tests.fixtures_web import another_live_server
from tests.integration.test_console_fixtures import ConsoleClient, make_console_world
from tests.private_servers import PrivatePostgres
from tests.workers_run import wait_for

pytestmark = pytest.mark.skipif(TEST_DB != "postgres", reason="a streaming replica is PostgreSQL's; SQLite has none")
MAX_LAG = 3


@pytest.fixture(scope="module")
def clusters():
    primary = PrivatePostgres()
    primary.start()
    replica = PrivatePostgres(replica_of=primary)
    replica.start()
    database = make_database(primary.url)
    migrate(database)
    database.close()
    yield primary, replica
    replica.destroy()
    primary.destroy()


def _app(settings, primary, replica_url, max_lag=MAX_LAG):
    return another_live_server(settings.with_overrides(
        database_url=primary.url, database_replica_url=replica_url, database_replica_max_lag_seconds=max_lag))


@pytest.fixture
def replicated(clusters, settings, sandbox):
    primary, replica = clusters
    with _app(sandbox.settings, primary, replica.url) as app:
        truncate_all(db.primary)
        db.connect(reuse_if_open=True)
        yield app
    replica.start() if not _answers(replica) else replica.sql("SELECT pg_wal_replay_resume()")


def _answers(server) -> bool:
    try:
        server.sql("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 — stopped
        return False


def report(world, text: str):
    resident = Resident.create(oa_openid=f"oa-replica-{Resident.select().count() + 1}")
    return submit_event(Submission(description=text, reporter=resident_actor(resident), lat=world.in_a[0],
                                   lng=world.in_a[1], category_code="0201")).event


def open311_numbers(app) -> list[str]:
    response = requests.get(f"{app.url}/open311/v2/requests.json", timeout=10)
    assert response.status_code == 200, response.text[:300]
    return sorted(item["service_request_id"] for item in response.json())


def replica_state(app) -> dict:
    return requests.get(f"{app.url}/healthz", timeout=10).json()["replica"]


def console(app, username="centre") -> ConsoleClient:
    client = ConsoleClient(app.app)
    assert client.login(username).status_code == 303
    return client


def map_numbers(client) -> list[str]:
    response = client.get("/console/map/events.geojson?status=")
    assert response.status_code == 200
    return sorted(f["properties"]["number"] for f in response.get_json()["features"])


def test_report_reads_come_from_the_replica_within_the_bound_and_from_the_primary_past_it(replicated, clusters):
    primary, replica = clusters
    cworld = make_console_world()
    first = report(cworld.world, "路灯坏了")
    wait_for(lambda: replica.caught_up_with(primary), timeout=20)
    client = console(replicated)
    assert open311_numbers(replicated) == [first.number]
    assert replica_state(replicated)["reads"] == "replica"
    replica.sql("SELECT pg_wal_replay_pause()")
    second = report(cworld.world, "井盖丢了")  # committed on the primary, not replayed
    # within the bound: read from the replica, which has not got the second report yet
    assert open311_numbers(replicated) == [first.number]
    assert map_numbers(client) == [first.number]
    export = client.get("/console/events/export.csv?status=")
    assert export.status_code == 200
    assert first.number in export.get_data(as_text=True) and second.number not in export.get_data(as_text=True)
    with reading_replica():  # the metrics' parallel queries (one thread each) all go to the replica
        assert admin_metrics._run_all([("SELECT pg_is_in_recovery()", [])] * 3) == [[(True,)]] * 3
    assert client.get("/console/metrics").status_code == 200  # only reads: metric_sum replicates with the events
    assert client.get("/open311/v2/tokens/nosuchtoken1.json").status_code == 404  # tokens: the primary's
    # past the bound: the primary
    wait_for(lambda: open311_numbers(replicated) == sorted([first.number, second.number]), timeout=20, interval=0.5)
    assert map_numbers(client) == sorted([first.number, second.number])
    state = replica_state(replicated)
    assert state["reads"] == "primary" and state["state"] == "lagging"
    replica.sql("SELECT pg_wal_replay_resume()")
    wait_for(lambda: replica_state(replicated)["reads"] == "replica", timeout=20, interval=0.5)
    assert open311_numbers(replicated) == sorted([first.number, second.number])


def test_a_stopped_replica_sends_report_reads_to_the_primary(replicated, clusters):
    primary, replica = clusters
    cworld = make_console_world()
    first = report(cworld.world, "路灯坏了")
    wait_for(lambda: replica.caught_up_with(primary), timeout=20)
    assert open311_numbers(replicated) == [first.number]
    replica.stop("immediate")
    second = report(cworld.world, "井盖丢了")
    assert open311_numbers(replicated) == sorted([first.number, second.number])
    client = console(replicated)
    assert map_numbers(client) == sorted([first.number, second.number])
    assert client.get("/console/metrics").status_code == 200
    state = replica_state(replicated)
    assert state["reads"] == "primary" and state["state"] == "down"
    line = _guard("只读副本", replica_ready, replicated.settings)  # python -m server check's line
    assert not line.ok and "down" in line.detail and "DATABASE_REPLICA_URL" in line.detail
    replica.start()
    wait_for(lambda: replica_state(replicated)["reads"] == "replica", timeout=30, interval=0.5)
    assert open311_numbers(replicated) == sorted([first.number, second.number])
    assert _guard("只读副本", replica_ready, replicated.settings).ok


def test_a_replica_url_that_is_the_primary_is_accepted(clusters, settings, sandbox):
    primary, _replica = clusters
    pooled = primary.url.replace("postgresql://", "postgresql+pool://")
    for url, state in ((primary.url, "the primary itself"), (pooled, "not in recovery")):
        with _app(sandbox.settings, primary, url) as app:
            truncate_all(db.primary)
            db.connect(reuse_if_open=True)
            cworld = make_console_world()
            first = report(cworld.world, "路灯坏了")
            assert open311_numbers(app) == [first.number]
            assert replica_state(app) == {"reads": "replica", "state": state, "lag_seconds": 0.0}
            client = console(app)
            assert map_numbers(client) == [first.number]
            assert client.get("/console/metrics").status_code == 200
