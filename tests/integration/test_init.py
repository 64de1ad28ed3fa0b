"""``python -m server init`` for a real deployment, ``seed --demo`` refusing production, the demo
password refused in production and one-time passwords changed at first login (issue 16)."""
from __future__ import annotations

import re

import pytest

from backend.db import db
from backend.errors import DomainError
from backend.models import Area, Category, Staff
from backend.passwords import DEMO_PASSWORD, hash_password
from backend.services import bootstrap
from tests.cli_support import run_server
from tests.integration.test_console_fixtures import ConsoleClient, console_app  # noqa: F401

PRODUCTION = {"EJIA_ENV": "production", "SECRET_KEY": "s" * 40, "FIELD_KEY": "f" * 40,
              "WECHAT_APP_ID": "wx1234567890abcdef", "WECHAT_APP_SECRET": "x" * 32, "WECHAT_TOKEN": "tok",
              "WECHAT_AES_KEY": "a" * 43}


def _counts():
    db.connect(reuse_if_open=True)
    return Area.select().count(), Staff.select().count(), Category.select().count()


def test_init_creates_categories_the_top_area_and_one_admin_with_a_one_time_password(settings):
    done = run_server(settings, "init", "--admin", "wangfang", "--admin-name", "王芳",
                      "--area-code", "350602003", "--area-name", "通北街道")
    assert done.returncode == 0, done.stderr
    password = re.search(r"一次性密码（只显示这一次，首次登录后必须修改）：(\S+)", done.stdout).group(1)
    assert re.fullmatch(r"[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}", password)
    areas, staff, categories = _counts()
    assert (areas, staff) == (1, 1) and categories > 40
    admin = Staff.get(Staff.username == "wangfang")
    assert admin.role == "admin" and admin.password_change_required and password not in admin.password_hash
    assert admin.area.code == "350602003" and admin.area.level == "street" and admin.area.path == f"/{admin.area_id}/"
    again = run_server(settings, "init", "--admin", "wangfang")
    assert again.returncode == 0 and "一次性密码" not in again.stdout and "已存在" in again.stdout
    assert _counts() == (areas, staff, categories)  # nothing twice
    other_top = run_server(settings, "init", "--admin", "wangfang", "--area-code", "999", "--area-name", "别处")
    assert other_top.returncode == 1 and "已有最上级区域" in other_top.stderr
    reset = run_server(settings, "init", "--admin", "wangfang", "--reset-password")
    new_password = re.search(r"一次性密码.*：(\S+)", reset.stdout).group(1)
    assert new_password != password


@pytest.mark.parametrize("argv, message", [
    (["init", "--admin", "x"], "登录名"),
    (["init", "--admin", "wangfang"], "--area-code"),
    (["init", "--admin", "wangfang", "--area-code", "35 06", "--area-name", "x"], "--area-code"),
    (["init", "--admin", "wangfang", "--area-code", "3506", "--area-name", ""], "--area-name"),
])
def test_init_says_what_it_needs(settings, argv, message):
    done = run_server(settings, *argv)
    assert done.returncode == 1 and message in done.stderr
    assert _counts()[:2] == (0, 0)


def test_seed_demo_refuses_production_and_writes_nothing(settings, tmp_path):
    """Not even the migrations run: a fresh database stays empty."""
    fresh = f"sqlite:///{tmp_path / 'prod.db'}"
    refused = run_server(settings, "seed", "--demo", **PRODUCTION, DATABASE_URL=fresh,
                         REDIS_URL=settings.redis_url or "redis://127.0.0.1:1/0")
    assert refused.returncode == 1 and "production" in refused.stderr and "init" in refused.stderr
    assert not (tmp_path / "prod.db").exists() or (tmp_path / "prod.db").stat().st_size == 0
    assert _counts() == (0, 0, 0)  # nor the suite's database
    from backend import config
    from backend.seed import seed_demo

    previous = config.current()
    config.install(previous.with_overrides(env="production"))
    try:
        with pytest.raises(DomainError):
            seed_demo()
    finally:
        config.install(previous)
    assert _counts() == (0, 0, 0)


def _admin_with(password: str, *, must_change: bool = False) -> Staff:
    area = Area.create(level="street", code="350602003", name="通北街道")
    area.path = f"/{area.id}/"
    area.save()
    return Staff.create(name="王芳", role="admin", area=area, username="wangfang",
                        password_hash=hash_password(password), password_change_required=must_change)


def test_the_demo_password_never_logs_in_in_production(settings, redis_conn):
    from backend.redis_conn import redis_url
    from server import create_app
    from tests.fixtures_web import settings_overrides

    _admin_with(DEMO_PASSWORD)
    try:
        production = create_app(overrides={**settings_overrides(settings), "env": "production",
                                           "redis_url": redis_url(settings)})
        production.config["TESTING"] = True
        refused = ConsoleClient(production).login("wangfang", DEMO_PASSWORD)
        assert refused.status_code == 401 and "用户名或密码不正确" in refused.get_data(as_text=True)
    finally:
        demo = create_app(overrides=settings_overrides(settings))  # installs the suite's settings again
    demo.config["TESTING"] = True
    assert ConsoleClient(demo).login("wangfang", DEMO_PASSWORD).status_code == 303


def test_a_one_time_password_must_be_changed_before_anything_else(console_app, redis_conn):
    _admin_with("k7Pq-x3Mz-R9ta", must_change=True)
    client = ConsoleClient(console_app)
    login = client.login("wangfang", "k7Pq-x3Mz-R9ta")
    assert login.status_code == 303 and login.headers["Location"].endswith("/console/password")
    blocked = client.get("/console/admin/staff")
    assert blocked.status_code == 303 and blocked.headers["Location"].endswith("/console/password")
    assert "一次性密码" in client.get("/console/password").get_data(as_text=True)
    for new, repeat, message in [("short", "short", "至少"), ("abcdefghijk", "abcdefghijX", "不一样"),
                                 ("k7Pq-x3Mz-R9ta", "k7Pq-x3Mz-R9ta", "容易被猜到"),
                                 ("1111111111", "1111111111", "容易被猜到"),
                                 ("wangfang-2026!", "wangfang-2026!", "登录名")]:
        refused = client.post("/console/password", {"current": "k7Pq-x3Mz-R9ta", "new": new, "repeat": repeat})
        assert refused.status_code == 400 and message in refused.get_data(as_text=True), message
    wrong = client.post("/console/password", {"current": "nope", "new": "Tongbei-2026-ok", "repeat": "Tongbei-2026-ok"})
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.get_data(as_text=True)
    done = client.post("/console/password", {"current": "k7Pq-x3Mz-R9ta", "new": "Tongbei-2026-ok",
                                             "repeat": "Tongbei-2026-ok"})
    assert done.status_code == 303
    assert not Staff.get(Staff.username == "wangfang").password_change_required
    assert client.get("/console/admin/staff").status_code == 200
    assert ConsoleClient(console_app).login("wangfang", "k7Pq-x3Mz-R9ta").status_code == 401
    assert ConsoleClient(console_app).login("wangfang", "Tongbei-2026-ok").status_code == 303


def test_one_time_passwords_are_unguessable_and_readable():
    seen = {bootstrap.one_time_password() for _ in range(200)}
    assert len(seen) == 200
    assert all(not set(p.replace("-", "")) & set("0O1lI") for p in seen)
