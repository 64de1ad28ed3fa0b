"""Fixtures for the console tests (imported by test_console_*.py): the app and a logged-in client.

Console pages are exercised through Flask's test client against the real database and
Redis of the stack under test; every POST carries the CSRF token the way a browser would
(read from the page's session), so the tests go through the same checks as people do.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import pytest

from backend.models import Staff
from backend.passwords import hash_password
from tests.factories import World, make_area, make_world

PASSWORD = "correct-horse-9"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def console_app(settings, database):
    from server import create_app
    from tests.fixtures_web import settings_overrides

    app = create_app(overrides=settings_overrides(settings))
    app.config["TESTING"] = True
    return app


class _ReopeningClient:
    """The app closes the database connection after each request (its teardown); the test
    thread is the request thread here, so open it again for the test's own queries."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def open(self, *args, **kwargs):
        from backend.db import db

        try:
            return self._client.open(*args, **kwargs)
        finally:
            db.connect(reuse_if_open=True)

    def get(self, *args, **kwargs):
        return self.open(*args, method="GET", **kwargs)

    def post(self, *args, **kwargs):
        return self.open(*args, method="POST", **kwargs)


class ConsoleClient:
    def __init__(self, app):
        self.app = app
        self.http = _ReopeningClient(app.test_client())

    def token(self) -> str:
        page = self.http.get("/console/login")
        match = _TOKEN.search(page.get_data(as_text=True))
        if match:
            return match.group(1)
        with self.http.session_transaction("/console/") as session:
            return session["csrf"]

    def login(self, username: str, password: str = PASSWORD):
        return self.http.post("/console/login", data={"username": username, "password": password,
                                                      "csrf_token": self.token()})

    def get(self, path: str, **kw):
        return self.http.get(path, **kw)

    def post(self, path: str, data: dict | None = None, *, htmx: bool = False, csrf: bool = True, **kw):
        data = dict(data or {})
        if csrf:
            with self.http.session_transaction("/console/") as session:
                data.setdefault("csrf_token", session.get("csrf", ""))
        headers = {**({"HX-Request": "true"} if htmx else {}), **kw.pop("headers", {})}
        return self.http.post(path, data=data, headers=headers, **kw)


@dataclass
class ConsoleWorld:
    world: World
    admin: Staff


@functools.lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password(PASSWORD)  # scrypt is slow on purpose: hash once per test session


def give_login(staff: Staff, username: str) -> Staff:
    staff.username, staff.password_hash = username, _password_hash()
    staff.save()
    return staff


def make_console_world() -> ConsoleWorld:
    """The factory world with console logins: street centre, city centre, head, city admin."""
    world = make_world()
    give_login(world.centre, "centre")
    give_login(world.city_centre, "city")
    give_login(world.head, "head")
    give_login(world.worker_a, "worker")
    admin = give_login(Staff.create(name="管理员", role="admin", area=world.city), "admin")
    return ConsoleWorld(world, admin)


@pytest.fixture
def cworld(redis_conn) -> ConsoleWorld:
    return make_console_world()


@pytest.fixture
def client(console_app, redis_conn) -> ConsoleClient:
    return ConsoleClient(console_app)


def logged_in(app, username: str) -> ConsoleClient:
    client = ConsoleClient(app)
    response = client.login(username)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return client


__all__ = ["console_app", "cworld", "client", "ConsoleClient", "make_console_world", "logged_in",
           "make_area", "PASSWORD"]
