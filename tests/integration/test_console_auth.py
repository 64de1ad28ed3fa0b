"""Console login: CSRF (400 without a token), throttled wrong passwords, expiring sessions, roles."""
from __future__ import annotations

import pytest

from console import auth
from tests.integration.test_console_fixtures import (  # noqa: F401  (fixtures)
    PASSWORD,
    client,
    console_app,
    cworld,
    logged_in,
)


def test_login_and_logout_round_trip(client, cworld):
    assert client.get("/console/").status_code == 302  # not logged in → login page
    response = client.login("centre")
    assert response.status_code == 303 and response.headers["Location"].endswith("/console/")
    page = client.get("/console/")
    assert page.status_code == 200 and "赵六" in page.get_data(as_text=True)
    assert client.post("/console/logout").status_code == 303
    assert client.get("/console/").status_code == 302


@pytest.mark.parametrize("path", ["/console/login", "/console/logout", "/console/events/X/act",
                                  "/console/admin/holidays"])
def test_post_without_or_with_a_wrong_csrf_token_is_400(client, cworld, path):
    client.login("admin")
    assert client.post(path, {"username": "admin", "password": PASSWORD}, csrf=False).status_code == 400
    response = client.post(path, {"csrf_token": "forged", "username": "admin", "password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_csrf_header_is_accepted_for_htmx(client, cworld):
    client.login("admin")
    with client.http.session_transaction("/console/") as session:
        token = session["csrf"]
    response = client.http.post("/console/admin/holidays", data={"day": "2031-10-01", "is_workday": "0"},
                                headers={"X-CSRF-Token": token})
    assert response.status_code == 303


def test_wrong_passwords_are_throttled_per_user_and_address(console_app, client, cworld):
    for _ in range(auth.MAX_FAILS_PER_USER_IP):
        assert client.login("centre", "wrong-password").status_code == 401
    blocked = client.login("centre", PASSWORD)  # the right password no longer gets through
    assert blocked.status_code == 429
    assert "登录失败次数过多" in blocked.get_data(as_text=True)
    assert logged_in(console_app, "head").get("/console/").status_code == 200  # another account is fine


def test_unknown_user_and_wrong_password_look_the_same(client, cworld):
    unknown = client.login("nobody", "x" * 10)
    wrong = client.login("centre", "x" * 10)
    assert unknown.status_code == wrong.status_code == 401
    assert "用户名或密码不正确" in unknown.get_data(as_text=True) and "用户名或密码不正确" in wrong.get_data(as_text=True)


def test_grid_workers_cannot_log_in_to_the_console(client, cworld):
    response = client.login("worker")
    assert response.status_code == 401
    assert "公众号或小程序" in response.get_data(as_text=True)


def test_session_expires_when_its_server_side_record_does(console_app, client, cworld, redis_conn):
    client.login("centre")
    with client.http.session_transaction("/console/") as session:
        sid = session["sid"]
    key = f"ejia:console:session:{sid}"
    assert 0 < redis_conn.ttl(key) <= auth.IDLE_SECONDS  # sliding idle timeout
    redis_conn.delete(key)  # as if the idle timeout passed
    assert client.get("/console/").status_code == 302


def test_deactivated_staff_lose_their_session_at_once(client, cworld):
    client.login("centre")
    cworld.world.centre.active = False
    cworld.world.centre.save()
    assert client.get("/console/").status_code == 302


def test_a_password_change_ends_other_sessions(console_app, client, cworld):
    from backend.passwords import hash_password

    client.login("centre")
    cworld.world.centre.password_hash = hash_password("another-password-1")
    cworld.world.centre.save()
    assert client.get("/console/").status_code == 302


def test_roles_and_scope(console_app, cworld):
    head = logged_in(console_app, "head")
    assert head.get("/console/admin").status_code == 403
    assert head.get("/console/revisits").status_code == 403
    assert head.get("/console/metrics").status_code == 200
    centre = logged_in(console_app, "centre")
    assert centre.get("/console/admin/staff").status_code == 403
    admin = logged_in(console_app, "admin")
    assert admin.get("/console/admin/staff").status_code == 200


def test_login_redirect_only_goes_inside_the_console(client, cworld):
    response = client.http.post("/console/login", data={"username": "centre", "password": PASSWORD,
                                                        "csrf_token": client.token(), "next": "https://evil.example/"})
    assert response.headers["Location"].endswith("/console/")


def test_security_headers(client, cworld):
    client.login("centre")
    response = client.get("/console/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
