"""API keys (issue 16): stored hashed and shown once; scopes, rate limits, revocation and rotation
through the service, the console and Open311; keys issued before migration 0011 keep working."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from backend import clock
from backend.db import db, make_database
from backend.errors import DomainError
from backend.models import ApiKey, AuditLog, Event
from backend.services import api_keys
from tests.integration.test_console_fixtures import (  # noqa: F401  (fixtures)
    console_app,
    cworld,
    logged_in,
)

REPORT = {"service_code": "0101", "lat": "24.505", "long": "117.645", "description": "垃圾桶满了"}


def _post(app, data):
    response = app.test_client().post("/open311/v2/requests.json", data=data)
    db.connect(reuse_if_open=True)
    return response


def _get(app, path, **args):
    response = app.test_client().get("/open311/v2" + path, query_string=args)
    db.connect(reuse_if_open=True)
    return response


def test_a_key_is_stored_only_as_its_hash_and_works_once_issued(console_app, cworld):
    issued = api_keys.issue("区城管局案件系统", ["write", "read_public", "write"], 30)
    assert issued.key.startswith("ejk_") and len(issued.key) >= 40
    row = ApiKey.get_by_id(issued.row.id)
    assert row.scopes == ["read_public", "write"] and row.rate_limit == 30
    assert row.prefix == issued.key[:8] and row.key_hash == api_keys.digest(issued.key)
    stored = json.dumps([list(r) for r in db.execute_sql("SELECT * FROM api_key").fetchall()], default=str)
    assert issued.key not in stored and issued.key[8:20] not in stored
    assert _post(console_app, {**REPORT, "api_key": issued.key}).status_code == 200
    assert ApiKey.get_by_id(row.id).last_used_at is not None


@pytest.mark.parametrize("name, scopes, rate, code", [
    ("", ["read_public"], 60, "bad_key_name"),
    ("x" * 65, ["read_public"], 60, "bad_key_name"),
    ("<script>", ["read_public"], 60, "bad_key_name"),
    ("系统", [], 60, "bad_scopes"),
    ("系统", ["admin"], 60, "bad_scopes"),
    ("系统", ["read_public"], 0, "bad_rate_limit"),
    ("系统", ["read_public"], "abc", "bad_rate_limit"),
    ("系统", ["read_public"], 10**6, "bad_rate_limit"),
])
def test_bad_key_requests_are_refused_and_nothing_is_stored(cworld, name, scopes, rate, code):
    with pytest.raises(DomainError) as caught:
        api_keys.issue(name, scopes, rate)
    assert caught.value.code == code and ApiKey.select().count() == 0


def test_revoked_keys_stop_at_once_and_no_key_still_reads_public(console_app, cworld):
    issued = api_keys.issue("门户网站", ["read_public", "write"])
    assert _get(console_app, "/requests.json", api_key=issued.key).status_code == 200
    api_keys.revoke(issued.row.id)
    api_keys.revoke(issued.row.id)  # twice is fine
    assert _get(console_app, "/requests.json", api_key=issued.key).status_code == 403
    assert _post(console_app, {**REPORT, "api_key": issued.key}).status_code == 403
    assert _get(console_app, "/requests.json").status_code == 200  # no key: public read
    assert Event.select().count() == 0


def test_rotation_hands_over_with_a_grace_period(console_app, cworld):
    old = api_keys.issue("公安系统", ["read_full"], 100)
    new = api_keys.rotate(old.row.id, grace_hours=2)
    assert new.key != old.key and new.row.scopes == ["read_full"] and new.row.rate_limit == 100
    assert ApiKey.get_by_id(old.row.id).replaced_by == new.row.id
    assert _get(console_app, "/requests.json", api_key=old.key).status_code == 200  # still in its grace
    assert _get(console_app, "/requests.json", api_key=new.key).status_code == 200
    with clock.frozen(clock.now() + dt.timedelta(hours=3)):
        assert _get(console_app, "/requests.json", api_key=old.key).status_code == 403
        assert _get(console_app, "/requests.json", api_key=new.key).status_code == 200
        assert api_keys.status_name(ApiKey.get_by_id(old.row.id)) == "已过期"
        with pytest.raises(DomainError):
            api_keys.rotate(old.row.id)
    immediate = api_keys.rotate(new.row.id, grace_hours=0)
    assert _get(console_app, "/requests.json", api_key=new.key).status_code == 403
    assert _get(console_app, "/requests.json", api_key=immediate.key).status_code == 200
    with pytest.raises(DomainError):
        api_keys.rotate(immediate.row.id, grace_hours=-1)
    # read_full is audited with the key's row, whichever key of the chain read
    assert AuditLog.select().where(AuditLog.entity == "open311").count() == 4


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(console_app, cworld, redis_conn):
    issued = api_keys.issue("慢系统", ["read_public"], 3)
    other = api_keys.issue("别的系统", ["read_public"], 3)
    with clock.frozen(dt.datetime(2026, 3, 2, 2, 0, 10)):
        assert [_get(console_app, "/requests.xml", api_key=issued.key).status_code for _ in range(3)] == [200] * 3
        limited = _get(console_app, "/requests.xml", api_key=issued.key)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "50"
        assert "每分钟最多调用 3 次" in limited.get_data(as_text=True) and b"<code>429</code>" in limited.get_data()
        assert _get(console_app, "/requests.json", api_key=other.key).status_code == 200  # per key
        assert _get(console_app, "/requests.json").status_code == 200  # no key: not this key's limit
    with clock.frozen(dt.datetime(2026, 3, 2, 2, 1, 0)):  # the next minute
        assert _get(console_app, "/requests.json", api_key=issued.key).status_code == 200


def test_discovery_points_at_a_page_that_exists(console_app, cworld):
    doc = json.loads(_get(console_app, "/discovery.json").get_data())
    path = re.sub(r"^https?://[^/]+", "", doc["key_service"])
    assert path == "/open311/api-key"
    page = console_app.test_client().get(path)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "api_key" in text and "read_full" in text and "轮换" in text


def test_console_issues_rotates_and_revokes_keys_shown_once(console_app, cworld):
    admin = logged_in(console_app, "admin")
    page = admin.post("/console/admin/keys", {"name": "区城管局", "scopes": ["read_public", "write"],
                                              "rate_limit": "120"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "只显示这一次" in text
    key = re.search(r'id="new-key-value">(ejk_[^<]+)<', text).group(1)
    row = ApiKey.get(ApiKey.name == "区城管局")
    assert row.rate_limit == 120 and api_keys.authenticate(key).id == row.id
    listing = admin.get("/console/admin/keys").get_data(as_text=True)
    assert key not in listing and row.prefix in listing  # never shown again
    rotated = admin.post(f"/console/admin/keys/{row.id}/rotate", {"grace_hours": "0"}).get_data(as_text=True)
    new_key = re.search(r'id="new-key-value">(ejk_[^<]+)<', rotated).group(1)
    assert api_keys.authenticate(key) is None and api_keys.authenticate(new_key) is not None
    new_row = ApiKey.get_by_id(ApiKey.get_by_id(row.id).replaced_by)
    assert admin.post(f"/console/admin/keys/{new_row.id}/revoke").status_code == 303
    assert api_keys.authenticate(new_key) is None
    bad = admin.post("/console/admin/keys", {"name": "", "scopes": ["root"]})
    assert bad.status_code in (303, 400) and ApiKey.select().count() == 2
    assert admin.post("/console/admin/keys", {"name": "x", "scopes": ["read_public"]}, csrf=False).status_code == 400


def test_only_an_admin_of_the_top_area_manages_keys(console_app, cworld):
    from tests.integration.test_console_fixtures import give_login
    from backend.models import Staff

    give_login(Staff.create(name="街道管理员", role="admin", area=cworld.world.street), "street-admin")
    street_admin = logged_in(console_app, "street-admin")
    assert street_admin.get("/console/admin/keys").status_code == 403
    assert street_admin.post("/console/admin/keys", {"name": "x", "scopes": ["read_full"]}).status_code == 403
    assert logged_in(console_app, "centre").get("/console/admin/keys").status_code == 403
    assert ApiKey.select().count() == 0


def test_keys_issued_before_migration_0011_keep_working(tmp_path, settings):
    """An old database with a plaintext key: the migration stores its hash and drops the text."""
    from playhouse.migrations import Runner

    from backend.db import MIGRATIONS_DIR

    if not settings.database_url.startswith("sqlite"):
        pytest.skip("a scratch database; the schema itself is compared on both engines in test_migrations")
    scratch = make_database(f"sqlite:///{tmp_path / 'old.db'}")
    with scratch.connection_context():
        runner = Runner(scratch, directory=str(MIGRATIONS_DIR))
        runner.up(target="0009_resident_reach")
        scratch.execute_sql("INSERT INTO api_key (key, name, active, created_at, scopes) "
                            "VALUES ('legacy-key-123456789', 'old', 1, '2026-01-01', '[\"write\"]')")
        runner.up()
        row = scratch.execute_sql("SELECT key_hash, prefix, rate_limit FROM api_key").fetchone()
        columns = [c.name for c in scratch.get_columns("api_key")]
    assert "key" not in columns
    assert row == (api_keys.digest("legacy-key-123456789"), "legacy-k", 60)
