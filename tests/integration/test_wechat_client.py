"""wechat.client against the sandbox over real HTTP, with real Redis (DESIGN §5, issue 3)."""
from __future__ import annotations

import multiprocessing
import time

import pytest
import redis as redis_lib
import requests

from backend.redis_conn import redis_url
from wechat.client import MiniProgram, OfficialAccount, WeChatError, classify

OPENID = "o-resident-0001"


@pytest.fixture
def oa(sandbox, redis_conn):
    return OfficialAccount(sandbox.settings, redis_conn, timeout=3)


@pytest.fixture
def mp(sandbox, redis_conn):
    return MiniProgram(sandbox.settings, redis_conn, timeout=3)


def apis(sandbox) -> list[str]:
    return [c["api"] for c in sandbox.calls()]


def template(oa, value="王大爷反映的路灯问题", client_msg_id="step-1-staff-2"):
    return oa.send_template(OPENID, "TPL-task", {"thing1": value, "time2": "2025-05-01 09:30"},
                            url="http://127.0.0.1:8000/h5/events/1", client_msg_id=client_msg_id)


def test_classify_once():
    assert [classify(c) for c in (-1, 45011, 502)] == ["transient"] * 3
    assert [classify(c) for c in (40001, 40014, 42001)] == ["token"] * 3
    assert {classify(c) for c in (40003, 43004, 43101, 45015, 47003, 48001)} == {"permanent"}
    assert classify(45009) == "quota"
    assert classify(40029) == "other"


# ---------------------------------------------------------------- the token


def _send_from_another_process(settings, url, barrier, results, openid):
    client = OfficialAccount(settings, redis_lib.Redis.from_url(url), timeout=5)
    barrier.wait(timeout=30)
    client.send_text(openid, "你好")
    results.put(client.access_token())


def test_two_processes_share_one_token_fetch(sandbox, redis_conn):
    # The token endpoint is slow, so both processes find Redis empty at the same moment:
    # only the Redis lock keeps the second one from fetching too.
    sandbox.inject(api="stable_token", latency_ms=400)
    url = redis_url(sandbox.settings)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_send_from_another_process, args=(sandbox.settings, url, barrier, results, f"o-{i}"))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    tokens = {results.get(timeout=5), results.get(timeout=5)}
    assert len(tokens) == 1
    assert len(sandbox.calls("stable_token")) == 1
    sends = sandbox.calls("message/custom/send")
    assert len(sends) == 2 and {c["query"]["access_token"] for c in sends} == tokens
    assert [c["errcode"] for c in sends] == [0, 0]


def test_token_is_reused_from_redis(oa, sandbox, redis_conn):
    oa.send_text(OPENID, "一")
    OfficialAccount(sandbox.settings, redis_conn).send_text(OPENID, "二")  # a new client: Redis, not memory
    assert apis(sandbox) == ["stable_token", "message/custom/send", "message/custom/send"]


def test_token_error_refreshes_once_and_retries_once(oa, sandbox):
    sandbox.inject(errcode=40001, count=1, api="message/template/send")
    assert template(oa) > 0
    assert apis(sandbox) == ["stable_token", "message/template/send", "stable_token", "stable_token",
                             "message/template/send"]
    # stable_token still hands out the rejected token, so only then is a new one forced.
    fetches = sandbox.calls("stable_token")
    assert [c["body"]["force_refresh"] for c in fetches] == [False, False, True]
    sends = sandbox.calls("message/template/send")
    assert sends[0]["query"]["access_token"] != sends[1]["query"]["access_token"]


def test_token_error_that_persists_is_not_a_loop(oa, sandbox):
    sandbox.inject(errcode=40001, count=50, api="message/template/send")
    with pytest.raises(WeChatError) as caught:
        template(oa)
    assert caught.value.kind == "token" and caught.value.errcode == 40001
    assert apis(sandbox) == ["stable_token", "message/template/send", "stable_token", "stable_token",
                             "message/template/send"]


def test_token_rotated_elsewhere_needs_no_force(oa, sandbox):
    oa.send_text(OPENID, "一")
    s = sandbox.settings  # another system force-refreshes: our token is now rejected
    requests.post(f"{sandbox.url}/cgi-bin/stable_token", timeout=5, json={
        "grant_type": "client_credential", "appid": s.wechat_app_id, "secret": s.wechat_app_secret,
        "force_refresh": True}).raise_for_status()
    oa.send_text(OPENID, "二")
    assert [c["errcode"] for c in sandbox.calls("message/custom/send")] == [0, 40001, 0]
    assert [c["body"]["force_refresh"] for c in sandbox.calls("stable_token")] == [False, True, False]


def test_expired_token_is_replaced(oa, sandbox):
    oa.send_text(OPENID, "一")
    requests.post(f"{sandbox.url}/_sandbox/tokens/expire", timeout=5).raise_for_status()
    oa.send_text(OPENID, "二")
    sends = sandbox.calls("message/custom/send")
    assert [c["errcode"] for c in sends] == [0, 42001, 0]
    assert len(sandbox.calls("stable_token")) == 2


def test_token_fetch_times_out(oa, sandbox):
    sandbox.inject(api="stable_token", latency_ms=6000)
    oa.timeout = 0.5
    started = time.monotonic()
    with pytest.raises(WeChatError) as caught:
        oa.send_text(OPENID, "你好")
    assert time.monotonic() - started < 3.0  # the 0.5 s timeout, not the 6 s answer
    assert (caught.value.errcode, caught.value.kind, caught.value.source) == (-1, "transient", "network")
    assert apis(sandbox) == ["stable_token"]


# ---------------------------------------------------------------- errors and retries


def test_permanent_error_is_not_retried(oa, sandbox):
    sandbox.inject(openid=OPENID, errcode=43004)
    with pytest.raises(WeChatError) as caught:
        oa.send_text(OPENID, "你好")
    assert (caught.value.errcode, caught.value.kind, caught.value.retryable) == (43004, "permanent", False)
    assert apis(sandbox) == ["stable_token", "message/custom/send"]
    oa.send_text("o-someone-else", "你好")  # the fault is that user's only


def test_system_busy_is_retried_once(oa, sandbox):
    sandbox.inject(errcode=-1, count=1)
    oa.send_text(OPENID, "你好")
    assert [c["errcode"] for c in sandbox.calls("message/custom/send")] == [-1, 0]


def test_system_busy_twice_gives_up_as_transient(oa, sandbox):
    sandbox.inject(errcode=-1, count=2)
    with pytest.raises(WeChatError) as caught:
        oa.send_text(OPENID, "你好")
    assert caught.value.kind == "transient" and caught.value.retryable
    assert len(sandbox.calls("message/custom/send")) == 2


def test_quota_and_rate_limit_are_classified_not_retried(oa, sandbox):
    sandbox.inject(errcode=45009, count=1)
    with pytest.raises(WeChatError) as caught:
        template(oa)
    assert caught.value.kind == "quota"
    sandbox.inject(errcode=45011, count=1)
    with pytest.raises(WeChatError) as caught:
        template(oa, client_msg_id="other")
    assert caught.value.kind == "transient"
    assert len(sandbox.calls("message/template/send")) == 2


def test_http_5xx_is_transient(oa, sandbox):
    sandbox.inject(http_status=502, count=1, api="message/custom/send")
    with pytest.raises(WeChatError) as caught:
        oa.send_text(OPENID, "你好")
    assert (caught.value.kind, caught.value.http_status) == ("transient", 502)


def test_timeout_is_honoured(sandbox, redis_conn):
    client = OfficialAccount(sandbox.settings, redis_conn, timeout=0.4)
    client.access_token()  # token first, so the timing below is the send alone
    sandbox.inject(api="message/custom/send", latency_ms=6000)
    started = time.monotonic()
    with pytest.raises(WeChatError) as caught:
        client.send_text(OPENID, "你好")
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 3.0  # the 0.4 s timeout, not the 6 s answer
    assert (caught.value.errcode, caught.value.kind, caught.value.source) == (-1, "transient", "network")
    assert len(sandbox.calls("message/custom/send")) == 1  # a timeout is not retried here


# ---------------------------------------------------------------- official account calls


def test_template_send_carries_client_msg_id(oa, sandbox):
    msgid = template(oa, client_msg_id="notif-42")
    (call,) = sandbox.calls("message/template/send")
    assert call["body"]["client_msg_id"] == "notif-42"
    assert call["body"]["data"]["thing1"] == {"value": "王大爷反映的路灯问题"}
    assert call["body"]["url"] == "http://127.0.0.1:8000/h5/events/1"
    assert template(oa, client_msg_id="notif-42") == msgid  # WeChat de-duplicates within 10 minutes
    with pytest.raises(ValueError):
        oa.send_template(OPENID, "TPL", {"thing1": "x"}, client_msg_id="")


def test_template_prefers_miniprogram_shape(oa, sandbox):
    oa.send_template(OPENID, "TPL", {"thing1": "x"}, miniprogram={"appid": "wxmp", "pagepath": "pages/e?id=1"},
                     client_msg_id="c1")
    assert sandbox.calls("message/template/send")[0]["body"]["miniprogram"] == {"appid": "wxmp", "pagepath": "pages/e?id=1"}


def test_long_thing_value_is_47003_and_not_retried(oa, sandbox):
    with pytest.raises(WeChatError) as caught:
        template(oa, value="这是一段超过二十个字的事项描述文字，微信会拒绝它")
    assert (caught.value.errcode, caught.value.kind) == (47003, "permanent")
    assert len(sandbox.calls("message/template/send")) == 1


def test_media_download_and_qrcode_follow_the_api_base(oa, sandbox):
    picture = b"\x89PNG\r\n\x1a\n" + b"sandbox-picture"
    media_id = sandbox.register_media(picture, "image/png")
    assert oa.download_media(media_id) == (picture, "image/png")
    with pytest.raises(WeChatError) as caught:
        oa.download_media("no-such-media")
    assert caught.value.errcode == 40007
    qr = oa.create_temp_qrcode("bind-7f3a", expire_seconds=600)
    assert qr["expire_seconds"] == 600 and qr["ticket"]
    image_url = oa.qrcode_image_url(qr["ticket"])
    assert image_url.startswith(sandbox.url + "/cgi-bin/showqrcode?ticket=")
    res = requests.get(image_url, timeout=5)
    assert res.headers["Content-Type"] == "image/png" and res.content.startswith(b"\x89PNG")
    assert {c["api"] for c in sandbox.calls()} == {"stable_token", "media/get", "qrcode/create", "showqrcode"}


def test_menu_and_user_info(oa, sandbox):
    oa.create_menu({"button": [{"type": "click", "name": "我要上报", "key": "REPORT"}]})
    assert oa.user_info(OPENID)["subscribe"] == 1
    with pytest.raises(WeChatError) as caught:
        oa.create_menu({"button": []})
    assert caught.value.errcode == 40016


# ---------------------------------------------------------------- mini-program calls


def test_code_to_session_needs_no_token(mp, sandbox):
    session = mp.code_to_session("gw-0001")
    assert session["openid"] == "sandbox-gw-0001" and session["session_key"]
    assert mp.code_to_session("gw-0001")["openid"] == "sandbox-gw-0001"  # reusable by default (seeded logins)
    assert apis(sandbox) == ["sns/jscode2session", "sns/jscode2session"]
    query = sandbox.calls()[0]["query"]
    assert query["secret"] == "***" and "access_token" not in query


def test_code_to_session_single_use_when_configured(mp, sandbox):
    sandbox.configure(single_use_codes=True)
    mp.code_to_session("once")
    with pytest.raises(WeChatError) as caught:
        mp.code_to_session("once")
    assert caught.value.errcode == 40163


def test_get_phone_number(mp, sandbox):
    code = sandbox.phone_code("13800138000")
    assert mp.get_phone_number(code) == "13800138000"
    with pytest.raises(WeChatError) as caught:
        mp.get_phone_number(code)  # single use, like WeChat's
    assert caught.value.errcode == 40029
    fetch = sandbox.calls("stable_token")[0]
    assert fetch["body"]["appid"] == sandbox.settings.mp_app_id


def test_subscribe_send_with_miniprogram_state(mp, sandbox):
    mp.send_subscribe("sandbox-res-1", "TPL-sub", {"thing1": "路灯已修好", "phrase2": "已办结"},
                      page="pages/events/detail?id=9", miniprogram_state="developer")
    body = sandbox.calls("message/subscribe/send")[0]["body"]
    assert body["miniprogram_state"] == "developer" and body["page"] == "pages/events/detail?id=9"
    sandbox.inject(openid="sandbox-res-1", errcode=43101)
    with pytest.raises(WeChatError) as caught:
        mp.send_subscribe("sandbox-res-1", "TPL-sub", {"thing1": "x"})
    assert caught.value.kind == "permanent"
    with pytest.raises(ValueError):
        mp.send_subscribe("sandbox-res-1", "TPL-sub", {"thing1": "x"}, miniprogram_state="beta")


def test_official_account_token_cannot_call_mini_program_apis(oa, sandbox):
    with pytest.raises(WeChatError) as caught:
        oa.call("post", "wxa/business/getuserphonenumber", body={"code": "x"})
    assert caught.value.errcode == 48001


def test_unreachable_api_is_transient(redis_conn, settings):
    closed = settings.with_overrides(wechat_api_base="http://127.0.0.1:9")
    with pytest.raises(WeChatError) as caught:
        OfficialAccount(closed, redis_conn, timeout=1).send_text(OPENID, "你好")
    assert caught.value.kind == "transient" and caught.value.source == "network"
