"""PostgreSQL down (issue 13): every route answers a clear 503 with Retry-After in its own
shape — never an HTML 500; /healthz names the dependency; /wechat keeps each push in the
spool, answers the resident, and replays it in order, once, when the database is back; the
real answers go out as customer-service messages.

The database here is a private cluster (``initdb``/``pg_ctl``) the tests stop and start; the
shared one stays up. These tests run with the PostgreSQL stack only (they would do the same
work twice otherwise)."""
from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
import time

import pytest
import requests

from backend import config
from backend.db import db, make_database, migrate
from backend.redis_conn import redis_url
from tests.conftest import TEST_DB
from tests.fixtures_web import another_live_server
from tests.outage import run_outage, summary
from tests.private_servers import PrivatePostgres
from wechat.spool import REPLY as SPOOLED_REPLY
from tests.workers_run import ROOT, wait_for, worker_env

pytestmark = pytest.mark.skipif(TEST_DB != "postgres", reason="a private PostgreSQL cluster; run once, with that stack")

SAMPLE = {"int": "1", "path": "x", "default": "json"}


@pytest.fixture
def private_pg():
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def app(private_pg, live_app, settings, sandbox, tmp_path):
    """The app on a real port over the private cluster (its own var dir: its own spool)."""
    migrate(make_database(private_pg.url))
    with another_live_server(sandbox.settings.with_overrides(
            database_url=private_pg.url, redis_url=redis_url(settings), var_dir=tmp_path,
            media_dir=tmp_path / "media")) as server:
        yield server


def sample_urls(app) -> list[tuple[str, str]]:
    """(method, path) for every route of the app, its variables filled in."""
    out = []
    for rule in app.app.url_map.iter_rules():
        if rule.endpoint.endswith("static"):
            continue
        path = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>",
                      lambda m: SAMPLE.get(m.group(1) or "default", "1") if m.group(2) != "fmt" else "json", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, path))
    return out


# What a route may answer without its database, an anonymous request refused on its face
# (no login, a bad signature or token, bad input, an unknown path) or a page that holds no data:
# such a request never takes a connection (issue 18: a connection is taken on first use).
ANSWERED_WITHOUT_DATABASE = {200, 302, 400, 401, 403, 404, 405}


def test_every_route_answers_503_with_retry_after_in_its_own_shape(app, private_pg):
    token = requests.post(app.url + "/mp/v1/auth/login", json={"code": "outage-1"}, timeout=15).json()["token"]
    private_pg.stop("fast")
    answers = collections.defaultdict(list)
    unavailable = set()
    for method, path in sample_urls(app) + [("GET", "/mp/v1/no-such%0Athing"), ("GET", "/nowhere")]:
        response = requests.request(method, app.url + path, timeout=15, allow_redirects=False)
        if path == "/wechat":
            assert response.status_code in (403, 400), (method, response.status_code)  # unsigned: refused
            continue
        content_type = response.headers.get("Content-Type", "").split(";")[0]
        if response.status_code != 503:
            assert response.status_code in ANSWERED_WITHOUT_DATABASE, (method, path, response.status_code)
            if path.startswith("/mp/v1") and path != "/mp/v1/docs" or path.startswith("/open311/v2") and path.endswith(".json"):
                assert content_type == "application/json", (method, path, content_type)  # its own shape
            continue
        unavailable.add((method, path))
        assert response.headers["Retry-After"].isdigit(), (method, path)
        answers[content_type].append(path)
        if path.startswith("/mp/v1"):
            assert response.json()["error"]["code"] == "unavailable"
        elif path.startswith("/open311/v2") and path.endswith(".json"):
            assert response.json() == [{"code": 503, "description": "系统正在维护，请稍后重试"}]
        elif path.startswith("/open311/v2"):  # the spec's default format is XML
            assert "<code>503</code>" in response.text and response.headers["Content-Type"].startswith("text/xml")
        elif path == "/healthz":
            assert response.json() == {"ok": False, "database": "down", "redis": "up", "down": ["database"]}
        else:
            assert response.text == "系统正在维护，请稍后再试。" and "charset=utf-8" in response.headers["Content-Type"]
    assert "text/html" not in answers
    # Every route that reads data for an anonymous caller needs its database: 503.
    assert {("GET", "/healthz"), ("GET", "/open311/v2/services.json"), ("GET", "/open311/v2/requests.json"),
            ("GET", "/open311/v2/requests/json.json")} <= unavailable
    xml = requests.get(app.url + "/open311/v2/services.xml", timeout=15)
    assert xml.status_code == 503 and "<code>503</code>" in xml.text
    # A signed-in caller's routes need the database (the session is checked there): 503 in the API's shape.
    for path in ("/mp/v1/auth/me", "/mp/v1/events", "/mp/v1/categories", "/mp/v1/tasks"):
        response = requests.get(app.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=15)
        assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable", path
        assert response.headers["Retry-After"].isdigit()


def test_a_push_during_the_outage_is_answered_kept_and_replayed_once(app, private_pg):
    user = app.user(mode="safe")
    assert user.send_text("楼道灯坏了").startswith("在哪里")
    private_pg.stop("fast")
    assert user.send_text("小区门口") == SPOOLED_REPLY
    assert user.send_text("小区门口") == SPOOLED_REPLY  # another message while it is still down
    spool = app.app.extensions["ejia.wechat.spool"]
    assert spool.pending() and requests.get(app.url + "/healthz", timeout=15).status_code == 503
    private_pg.start()
    wait_for(lambda: not spool.pending(), timeout=30)  # the replayer noticed and drained it
    db.close()  # this thread's connection died with the server
    db.connect()
    assert requests.get(app.url + "/healthz", timeout=15).json()["ok"] is True
    from backend.models import InboundMessage, OutboxMessage

    rows = list(InboundMessage.select().where(InboundMessage.openid == user.openid).order_by(InboundMessage.id))
    assert [r.payload["text"] for r in rows] == ["楼道灯坏了", "小区门口", "小区门口"]  # in order, once each
    assert all(r.reply for r in rows)
    late = [m.payload for m in OutboxMessage.select().where(OutboxMessage.topic == "wechat.reply")]
    assert sorted(m["dedupe_key"] for m in late) == sorted(r.dedupe_key for r in rows[1:])
    assert "在哪里" in user.send_text("1")  # straight to the dialog again (still asking for the place)


def test_the_spool_command_shows_and_replays_what_waits(app, private_pg):
    user = app.user(mode="safe")
    private_pg.stop("fast")
    assert user.send_text("井盖丢了") == SPOOLED_REPLY
    env = worker_env(config.current(), EJIA_VAR=str(config.current().var_dir))

    def spool(action):
        return subprocess.run([sys.executable, "-m", "server", "spool", action], cwd=str(ROOT), env=env,
                              capture_output=True, text=True, timeout=120)

    status = spool("status")
    assert status.returncode == 0 and json.loads(status.stdout)["pending"] is True
    assert spool("replay").returncode == 1  # the database is still away: nothing lost, try later
    private_pg.start()
    replay = spool("replay")  # or the web's own replayer got there first: either empties it
    assert replay.returncode in (0, 1), replay.stderr
    wait_for(lambda: not json.loads(spool("status").stdout)["pending"], timeout=30)


def test_postgres_stopped_for_ten_seconds_under_a_steady_stream(live_app, sandbox, settings):
    started = time.monotonic()
    report = run_outage(sandbox.settings, sandbox.url, outage_s=10.0, log=lambda *_: None)
    figures = summary(report)
    assert figures["outage_s"] >= 10
    assert figures["http_5xx"] == 0, figures
    assert figures["pushes_received_during_outage"] > 0
    assert all(p.reply == SPOOLED_REPLY for p in report.during_outage)  # every one answered from the spool
    assert figures["spooled_filed_after_recovery"] == figures["pushes_answered_from_spool"], figures
    assert figures["duplicates"] == 0, figures
    assert figures["chat_reports_filed"] == figures["chat_reports_confirmed"] > 0, figures
    assert figures["mp_reports_filed"] == figures["mp_reports"] > 0, figures
    per_resident = collections.Counter(p.openid for p in report.spooled)
    assert report.late_replies_sent == per_resident  # each spooled push: one customer-service message
    assert report.worker_returncode == 0
    assert time.monotonic() - started < 240
