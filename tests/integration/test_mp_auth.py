"""Mini-program login, staff binding and the session token, over HTTP against the WeChat sandbox."""
from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from backend.models import Resident, Staff
from backend.services import mp_binding
from backend.services.roster import cipher
from miniprogram_api import auth
from tests.factories import make_world
from tests.mp_fixtures import bind_mp_logins, live  # noqa: F401

STAFF = ("worker_a", "worker_a2", "worker_b", "head", "centre", "city_centre", "dept_staff", "other_worker")


@pytest.fixture
def world(sandbox, redis_conn):
    world = make_world()
    bind_mp_logins(world, *STAFF)
    return world


def test_resident_login_answers_our_token_and_keeps_session_key_on_the_server(live, world, redis_conn):
    client = live.client()
    session = client.login("res-1")
    assert session["role"] == "resident" and session["staff"] is None
    assert session["token_type"] == "Bearer" and session["expires_in"] == auth.SESSION_TTL
    assert session["expires_at"].endswith("+08:00")
    assert "session_key" not in str(session)
    resident = Resident.get(Resident.mp_openid == "sandbox-res-1")
    assert redis_conn.get(auth.SESSION_KEY_PREFIX + mp_binding.openid_digest("sandbox-res-1"))
    again = live.client().login("res-1")
    assert Resident.select().where(Resident.mp_openid == "sandbox-res-1").count() == 1
    assert again["token"] and resident.id
    me = client.get("/auth/me")
    assert me.status == 200 and me.json["role"] == "resident"


def test_staff_login_says_role_and_area(live, world):
    session = live.client().login("worker_a")
    assert session["role"] == "grid_worker" and session["role_name"] == "网格员"
    staff = session["staff"]
    assert staff["name"] == "张三" and staff["area"]["name"] == "金源第一网格"
    assert staff["area_label"] == "漳州市 芗城区 通北街道 金源社区 金源第一网格"
    dept = live.client().login("dept_staff")
    assert dept["role"] == "department_staff" and dept["staff"]["department"]["name"] == "城管办"


def _serializer(live, signer=TimestampSigner, secret=None):
    return URLSafeTimedSerializer(secret or live.app.config["SECRET_KEY"], salt=auth.TOKEN_SALT, signer=signer)


def test_missing_forged_expired_and_revoked_tokens_are_401(live, world):
    client = live.client()
    session = client.login("worker_a")
    assert client.get("/tasks").status == 200
    digest = mp_binding.openid_digest("sandbox-worker_a")

    class OldSigner(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - auth.SESSION_TTL - 60

    cases = {
        "login_required": None,
        "token_invalid": "not-a-token",
        "token_invalid ": _serializer(live, secret="someone-else").dumps({"k": "s", "i": world.worker_a.id, "o": digest}),
        "token_invalid  ": session["token"][:-3] + ("AAA" if not session["token"].endswith("AAA") else "BBB"),
        "token_expired": _serializer(live, OldSigner).dumps({"k": "s", "i": world.worker_a.id, "o": digest}),
        "token_revoked": _serializer(live).dumps({"k": "s", "i": world.centre.id, "o": digest}),
        "token_invalid   ": _serializer(live).dumps({"k": "admin", "i": 1, "o": digest}),
    }
    for expected, token in cases.items():
        reply = client.as_(token).get("/tasks")
        assert reply.status == 401, (expected, reply)
        assert reply.error_code == expected.strip() and reply.json["error"]["message"]
    headers = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert client.as_(None).get("/tasks", headers=headers).status == 401
    mp_binding.unbind(world.worker_a.id)  # lost phone: the admin unbinds, the token dies at once
    assert client.get("/tasks").error_code == "token_revoked"


def test_deactivated_staff_lose_access(live, world):
    client = live.client()
    client.login("head")
    Staff.update(active=False).where(Staff.id == world.head.id).execute()
    assert client.get("/tasks").status == 401


def test_wrong_role_is_403(live, world):
    resident = live.client()
    resident.login("res-1")
    reply = resident.get("/tasks")
    assert reply.status == 403 and reply.error_code == "staff_only"
    assert resident.get("/roster/buildings").status == 403
    staff = live.client()
    staff.login("worker_a")
    reply = staff.report(*world.in_a)
    assert reply.status == 403 and reply.error_code == "residents_only"


def test_wechat_refusals_and_outages_are_clear_4xx_or_503(live, world, sandbox):
    client = live.client()
    reply = client.post("/auth/login", {"code": "不是微信给的"})  # the sandbox answers 40029
    assert reply.status == 401 and reply.error_code == "bad_code"
    sandbox.inject(api="sns/jscode2session", errcode=-1, count=2)
    reply = client.post("/auth/login", {"code": "res-busy"})
    assert reply.status == 503 and reply.error_code == "wechat_unavailable"
    sandbox.inject(api="sns/jscode2session", errcode=45011)
    assert client.post("/auth/login", {"code": "res-busy"}).status == 429
    for body in ({}, {"code": ""}, {"code": "x" * 129}, {"code": "ok", "extra": 1}, {"code": 5}):
        reply = client.post("/auth/login", body)
        assert reply.status == 400, (body, reply)
    assert client.post("/auth/login", {"code": "ok", "extra": 1}).error_code == "unknown_fields"
    assert Resident.select().count() == 0  # nothing stored by any refusal


def test_bind_by_one_time_code(live, world):
    code = mp_binding.issue_bind_code(world.worker_b.id)
    Staff.update(mp_openid=None).where(Staff.id == world.worker_b.id).execute()
    client = live.client()
    assert client.login("new-phone-of-li")["role"] == "resident"
    reply = client.post("/auth/bind", {"bind_code": code.lower()})
    assert reply.status == 200 and reply.json["role"] == "grid_worker"
    assert reply.json["staff"]["area"]["name"] == "金源第二网格"
    client.token = reply.json["token"]
    assert client.get("/tasks").status == 200
    assert live.client().login("new-phone-of-li")["role"] == "grid_worker"
    other = live.client()
    other.login("someone-else")
    reply = other.post("/auth/bind", {"bind_code": code})
    assert reply.status == 400 and reply.error_code == "bad_bind_code"  # spent
    assert other.post("/auth/bind", {"bind_code": "WRONG123"}).error_code == "bad_bind_code"
    assert other.post("/auth/bind", {}).status == 400
    assert other.post("/auth/bind", {"bind_code": "A", "phone_code": "B"}).status == 400


def test_expired_bind_code_is_refused(live, world):
    code = mp_binding.issue_bind_code(world.worker_b.id, ttl_minutes=-1)
    client = live.client()
    client.login("late")
    reply = client.post("/auth/bind", {"bind_code": code})
    assert reply.status == 400 and reply.error_code == "bind_code_expired"
    assert Staff.get_by_id(world.worker_b.id).mp_openid == "sandbox-worker_b"


def test_bind_by_phone_matches_the_blind_index(live, world, sandbox):
    c = cipher()
    Staff.update(mp_openid=None, phone_enc=c.encrypt("13800138000", mp_binding.STAFF_PHONE_CONTEXT),
                 phone_index=c.blind_index("13800138000", mp_binding.STAFF_PHONE_CONTEXT)).where(
        Staff.id == world.head.id).execute()
    client = live.client()
    client.login("head-new-wechat")
    reply = client.post("/auth/bind", {"phone_code": sandbox.phone_code("13800138000")})
    assert reply.status == 200 and reply.json["role"] == "community_head"
    assert Staff.get_by_id(world.head.id).mp_openid == "sandbox-head-new-wechat"
    stranger = live.client()
    stranger.login("stranger")
    reply = stranger.post("/auth/bind", {"phone_code": sandbox.phone_code("13900000000")})
    assert reply.status == 404 and reply.error_code == "phone_not_registered"
    reply = stranger.post("/auth/bind", {"phone_code": sandbox.phone_code("13800138000")})
    assert reply.status == 409 and reply.error_code == "already_bound"
    assert stranger.post("/auth/bind", {"phone_code": "never-issued"}).status == 401


def test_login_and_bind_are_rate_limited_per_user(live, world, redis_conn):
    live.limiter.enabled = True
    try:
        binder = live.client()
        binder.login("binder")
        codes = [binder.post("/auth/bind", {"bind_code": "NOPE1234"}).status for _ in range(6)]
        assert codes == [400] * 5 + [429]  # a binding code cannot be guessed by brute force
        assert binder.get("/auth/me").status == 200  # other endpoints keep their own budget
        client = live.client()
        statuses = [client.post("/auth/login", {"code": f"r{i}"}).status for i in range(21)]
        assert statuses[:19] == [200] * 19 and statuses[-1] == 429  # 20 a minute per address
        reply = client.post("/auth/login", {"code": "r-last"})
        assert reply.error_code == "too_many_requests" and reply.headers.get("Retry-After")
    finally:
        live.limiter.enabled = False
