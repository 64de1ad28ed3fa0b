"""The sandbox answers like WeChat: token checks, payload checks, faults, control calls.

Plain HTTP with ``requests`` (not our client) so that the sandbox is tested on its own terms.
"""
from __future__ import annotations

import sys
import time

import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sandbox import config_from_env, create_sandbox_app


def token(sandbox, mp=False) -> str:
    s = sandbox.settings
    appid, secret = (s.mp_app_id, s.mp_app_secret) if mp else (s.wechat_app_id, s.wechat_app_secret)
    res = requests.post(f"{sandbox.url}/cgi-bin/stable_token",
                        json={"grant_type": "client_credential", "appid": appid, "secret": secret}, timeout=5)
    return res.json()["access_token"]


def post(sandbox, api, body=None, data=None, access_token=None, **params):
    if access_token:
        params["access_token"] = access_token
    res = requests.post(f"{sandbox.url}/{api}", params=params, json=body, data=data, timeout=5)
    assert res.status_code == 200, res.text
    return res.json()


def test_token_checks(sandbox):
    s = sandbox.settings
    assert post(sandbox, "cgi-bin/stable_token", {"grant_type": "client_credential", "appid": "wxnope",
                                                  "secret": "x"})["errcode"] == 40013
    assert post(sandbox, "cgi-bin/stable_token", {"grant_type": "client_credential", "appid": s.wechat_app_id,
                                                  "secret": "wrong"})["errcode"] == 40125
    body = {"touser": "o1", "msgtype": "text", "text": {"content": "hi"}}
    assert post(sandbox, "cgi-bin/message/custom/send", body)["errcode"] == 41001
    assert post(sandbox, "cgi-bin/message/custom/send", body, access_token="forged")["errcode"] == 40001
    assert post(sandbox, "cgi-bin/message/custom/send", body, access_token=token(sandbox, mp=True))["errcode"] == 48001
    t = token(sandbox)
    assert token(sandbox) == t  # stable_token: the same token while it is valid
    assert post(sandbox, "cgi-bin/message/custom/send", body, access_token=t)["errcode"] == 0
    forced = post(sandbox, "cgi-bin/stable_token", {"grant_type": "client_credential", "appid": s.wechat_app_id,
                                                    "secret": s.wechat_app_secret, "force_refresh": True})
    assert forced["access_token"] != t
    assert post(sandbox, "cgi-bin/message/custom/send", body, access_token=t)["errcode"] == 40001
    sandbox.configure(token_ttl=1)
    short = post(sandbox, "cgi-bin/stable_token", {"grant_type": "client_credential", "appid": s.wechat_app_id,
                                                   "secret": s.wechat_app_secret, "force_refresh": True})
    assert short["expires_in"] == 1
    time.sleep(1.1)
    assert post(sandbox, "cgi-bin/message/custom/send", body, access_token=short["access_token"])["errcode"] == 42001


@pytest.mark.parametrize("raw, errcode", [
    (b"not json", 47001),
    (b"[1, 2]", 47001),
    ("{\"touser\": \"o1\", \"template_id\": \"t\"}".encode(), 47003),  # no data
    (b"{\"template_id\": \"t\", \"data\": {\"thing1\": {\"value\": \"x\"}}}", 40003),  # no touser
    (b"{\"touser\": \"o 1<script>\", \"template_id\": \"t\", \"data\": {\"thing1\": {\"value\": \"x\"}}}", 40003),
    (b"{\"touser\": \"o1\", \"data\": {\"thing1\": {\"value\": \"x\"}}}", 40037),
    (b"{\"touser\": \"o1\", \"template_id\": \"t\", \"data\": {\"thing1\": {\"value\": 5}}}", 47003),
    (b"{\"touser\": \"o1\", \"template_id\": \"t\", \"data\": {\"phrase2\": {\"value\": \"done\"}}}", 47003),
    (b"{\"touser\": \"o1\", \"template_id\": \"t\", \"url\": \"javascript:x\", \"data\": {\"thing1\": {\"value\": \"x\"}}}", 40039),
    (b"{\"touser\": \"o1\", \"template_id\": \"unknown-is-fine\", \"data\": {\"thing1\": {\"value\": \"x\"}}}", 0),
])
def test_template_payload_checks(sandbox, raw, errcode):
    assert post(sandbox, "cgi-bin/message/template/send", data=raw, access_token=token(sandbox))["errcode"] == errcode


@pytest.mark.parametrize("body, errcode", [
    ({"touser": "o1", "msgtype": "telepathy"}, 40008),
    ({"touser": "o1", "msgtype": "text"}, 47001),
    ({"touser": "o1", "msgtype": "text", "text": {"content": ""}}, 44004),
    ({"touser": "o1", "msgtype": "text", "text": {"content": "长" * 1000}}, 45002),
    ({"touser": "o1", "msgtype": "image", "image": {}}, 40007),
])
def test_custom_message_checks(sandbox, body, errcode):
    assert post(sandbox, "cgi-bin/message/custom/send", body, access_token=token(sandbox))["errcode"] == errcode


def test_media_upload_checks(sandbox):
    t = token(sandbox)

    def upload(kind, content, name="a.jpg"):
        res = requests.post(f"{sandbox.url}/cgi-bin/media/upload", params={"access_token": t, "type": kind},
                            files={"media": (name, content, "image/jpeg")}, timeout=5)
        return res.json()

    assert upload("image", b"MZ\x90\x00 definitely not a picture")["errcode"] == 40005
    assert upload("thumb", b"\xff\xd8\xff" + bytes(70 * 1024))["errcode"] == 40006
    assert upload("spreadsheet", b"\xff\xd8\xff")["errcode"] == 40004
    ok = upload("image", b"\xff\xd8\xff\xe0 tiny jpeg")
    res = requests.get(f"{sandbox.url}/cgi-bin/media/get", params={"access_token": t, "media_id": ok["media_id"]}, timeout=5)
    assert res.content == b"\xff\xd8\xff\xe0 tiny jpeg" and res.headers["Content-Type"] == "image/jpeg"


def test_qrcode_checks(sandbox):
    t = token(sandbox)
    assert post(sandbox, "cgi-bin/qrcode/create", {"action_name": "QR_STR_SCENE", "expire_seconds": 60,
                                                   "action_info": {"scene": {"scene_str": "x" * 65}}}, access_token=t)["errcode"] == 40053
    assert post(sandbox, "cgi-bin/qrcode/create", {"action_name": "QR_LIMIT_SCENE",
                                                   "action_info": {"scene": {"scene_id": 100001}}}, access_token=t)["errcode"] == 40053
    assert requests.get(f"{sandbox.url}/cgi-bin/showqrcode", params={"ticket": "forged"}, timeout=5).status_code == 404
    made = post(sandbox, "cgi-bin/qrcode/create", {"action_name": "QR_STR_SCENE", "expire_seconds": 60,
                                                   "action_info": {"scene": {"scene_str": "bind-1"}}}, access_token=t)
    info = requests.get(made["url"], timeout=5).json()
    assert info["scene"] == "bind-1" and info["ticket"] == made["ticket"]


def test_faults_by_count_api_and_openid(sandbox):
    t = token(sandbox)
    body = {"touser": "o1", "msgtype": "text", "text": {"content": "hi"}}
    sandbox.inject(errcode=45009, count=2, api="message/custom/send")
    sandbox.inject(errcode=43004, openid="o2")
    answers = [post(sandbox, "cgi-bin/message/custom/send", body, access_token=t)["errcode"] for _ in range(3)]
    assert answers == [45009, 45009, 0]
    assert post(sandbox, "cgi-bin/message/custom/send", {**body, "touser": "o2"}, access_token=t)["errcode"] == 43004
    assert [c["errcode"] for c in sandbox.calls("message/custom/send")] == [45009, 45009, 0, 43004]
    faults = requests.get(f"{sandbox.url}/_sandbox/inject", timeout=5).json()
    assert faults == [{"errcode": 43004, "latency_ms": 0, "openid": "o2"}]
    requests.delete(f"{sandbox.url}/_sandbox/inject", timeout=5)
    assert post(sandbox, "cgi-bin/message/custom/send", {**body, "touser": "o2"}, access_token=t)["errcode"] == 0


def test_calls_log_and_clear(sandbox):
    token(sandbox)
    calls = sandbox.calls()
    assert [c["api"] for c in calls] == ["stable_token"]
    assert set(calls[0]) >= {"api", "query", "body", "at"} and calls[0]["body"]["secret"] == "***"
    sandbox.clear_calls()
    assert sandbox.calls() == []


@pytest.mark.parametrize("path, body", [
    ("/_sandbox/inject", {"errcode": "lots"}),
    ("/_sandbox/inject", {"count": 3}),
    ("/_sandbox/inject", {"errcode": 0}),
    ("/_sandbox/inject", {"latency_ms": -5}),
    ("/_sandbox/inject", ["errcode", -1]),
    ("/_sandbox/config", {"token_ttl": "long"}),
    ("/_sandbox/config", {"callback_url": "file:///etc/passwd"}),
    ("/_sandbox/config", {"evil": True}),
    ("/_sandbox/phone-codes", {"phone": "13800138000; DROP TABLE"}),
    ("/_sandbox/media", {"content_base64": "%%%"}),
    ("/_sandbox/media", {"content_base64": ""}),
])
def test_bad_control_input_is_a_clear_400(sandbox, path, body):
    res = requests.post(f"{sandbox.url}{path}", json=body, timeout=5)
    assert res.status_code == 400
    assert res.json()["error"]["message"]


def test_unknown_paths_and_methods_are_json(sandbox):
    assert requests.get(f"{sandbox.url}/cgi-bin/nothing", timeout=5).json()["error"]["code"] == "not_found"
    assert requests.get(f"{sandbox.url}/cgi-bin/message/custom/send", timeout=5).status_code == 405


def test_configuration_from_the_environment(settings):
    config = config_from_env({"EJIA_WECHAT_CALLBACK_URL": "http://127.0.0.1:9999/wechat",
                              "EJIA_SANDBOX_CONFIG": '{"single_use_codes": true, "inject": [{"errcode": -1, "count": 1}]}'})
    app = create_sandbox_app(settings, config)
    state = app.extensions["sandbox.state"]
    assert state.config["callback_url"] == "http://127.0.0.1:9999/wechat" and state.config["single_use_codes"]
    assert len(state.faults) == 1
    with pytest.raises(ValueError):
        config_from_env({"EJIA_SANDBOX_CONFIG": "{nope"})
    with pytest.raises(ValueError):
        create_sandbox_app(settings, {"inject": [{"bogus": 1}]})


def test_extras_are_registered(settings, monkeypatch, tmp_path):
    from sandbox import extras

    (tmp_path / "fake_sms.py").write_text(
        "def register(app, state):\n"
        "    @app.post('/sms/send')\n"
        "    def send():\n"
        "        state.record('sms/send', {}, {})\n"
        "        return {'ok': True}\n")
    monkeypatch.setattr(extras, "__path__", [*extras.__path__, str(tmp_path)])
    try:
        client = create_sandbox_app(settings).test_client()
        assert client.post("/sms/send").json == {"ok": True}
        assert client.get("/_sandbox/calls").json[0]["api"] == "sms/send"
    finally:
        sys.modules.pop("sandbox.extras.fake_sms", None)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=12)
POST_APIS = ["/cgi-bin/stable_token", "/cgi-bin/message/template/send", "/cgi-bin/message/custom/send",
             "/cgi-bin/message/subscribe/send", "/cgi-bin/qrcode/create", "/cgi-bin/menu/create",
             "/wxa/business/getuserphonenumber", "/_sandbox/inject", "/_sandbox/config", "/_sandbox/phone-codes",
             "/_sandbox/media", "/_sandbox/chat/send"]


settings_for_fuzz = hypothesis_settings(max_examples=40, deadline=None,
                                        suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def sandbox_client(settings):
    return create_sandbox_app(settings, {"callback_url": "http://127.0.0.1:9/wechat"}).test_client()


@pytest.mark.parametrize("path", POST_APIS)
@settings_for_fuzz
@given(body=st.dictionaries(st.sampled_from(["touser", "template_id", "data", "msgtype", "text", "action_name",
                                             "action_info", "button", "code", "errcode", "count", "api", "openid",
                                             "phone", "kind", "lat", "lng", "scene", "appid", "secret",
                                             "grant_type", "miniprogram", "url", "content_base64"]), JSON, max_size=6))
def test_any_json_gets_an_answer_never_a_500(sandbox_client, path, body):
    sandbox_client.post("/_sandbox/reset")  # faults injected by a previous example must not leak
    s = sandbox_client.application.extensions["sandbox.state"].settings
    token = sandbox_client.post("/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": s.wechat_app_id, "secret": s.wechat_app_secret}).json["access_token"]
    res = sandbox_client.post(path, query_string={"access_token": token}, json=body)
    assert res.status_code in (200, 201, 400), (res.status_code, res.data[:200])
    assert res.is_json
