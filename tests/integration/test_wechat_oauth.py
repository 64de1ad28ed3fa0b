"""网页授权 (snsapi_base): the client's two calls against the sandbox's two endpoints, over HTTP —
the authorize redirect and the code → openid exchange, with WeChat's refusals."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from wechat.client import OfficialAccount, WeChatError

BACK = "http://127.0.0.1:8000/q/posterTOKEN-1?from=poster"


@pytest.fixture
def oa(sandbox, redis_conn):
    return OfficialAccount(sandbox.settings, redis_conn, timeout=3)


def authorize(url: str, openid: str | None = None) -> requests.Response:
    cookies = {"ejia_sandbox_openid": openid} if openid else None
    return requests.get(url, cookies=cookies, allow_redirects=False, timeout=5)


def code_in(response: requests.Response) -> tuple[str, dict]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith("http://127.0.0.1:8000/q/posterTOKEN-1?from=poster&")
    query = parse_qs(urlsplit(location).query)
    return query["code"][0], query


def test_authorize_redirects_back_with_a_code_for_the_browsers_user(oa, sandbox):
    url = oa.oauth_authorize_url(BACK, "nonce123")
    parts = urlsplit(url)
    assert url.startswith(f"{sandbox.url}/connect/oauth2/authorize?") and parts.fragment == "wechat_redirect"
    assert parse_qs(parts.query) == {"appid": [oa.appid], "redirect_uri": [BACK], "response_type": ["code"],
                                     "scope": ["snsapi_base"], "state": ["nonce123"]}
    code, query = code_in(authorize(url, "oa-resident-h5"))
    assert query["state"] == ["nonce123"]
    assert oa.oauth_openid(code) == "oa-resident-h5"
    with pytest.raises(WeChatError) as used:
        oa.oauth_openid(code)  # single use, as WeChat
    assert used.value.errcode == 40163
    with pytest.raises(WeChatError) as unknown:
        oa.oauth_openid("made-up")
    assert unknown.value.errcode == 40029
    assert [c["api"] for c in sandbox.calls()] == ["connect/oauth2/authorize"] + ["sns/oauth2/access_token"] * 3
    assert sandbox.calls("sns/oauth2/access_token")[0]["query"]["secret"] == "***"


def test_a_browser_without_a_chosen_user_keeps_the_one_it_was_given(oa):
    session = requests.Session()
    first = session.get(oa.oauth_authorize_url(BACK, "a1"), allow_redirects=False, timeout=5)
    second = session.get(oa.oauth_authorize_url(BACK, "a2"), allow_redirects=False, timeout=5)
    one, two = oa.oauth_openid(code_in(first)[0]), oa.oauth_openid(code_in(second)[0])
    assert one == two and one.startswith("sbx-web-")


@pytest.mark.parametrize("change", [
    {"appid": "wx-not-ours"}, {"response_type": "token"}, {"scope": "snsapi_login"},
    {"redirect_uri": "javascript:alert(1)"}, {"redirect_uri": ""}, {"state": "has spaces"},
])
def test_a_wrong_authorize_link_is_an_error_page(oa, sandbox, change):
    url = oa.oauth_authorize_url(BACK, "n1")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()} | change
    response = requests.get(f"{sandbox.url}/connect/oauth2/authorize", params=query, allow_redirects=False,
                            timeout=5)
    assert response.status_code == 400 and "参数错误" in response.text and "Location" not in response.headers


def test_the_exchange_checks_the_app_and_its_secret(oa, sandbox, settings):
    code, _ = code_in(authorize(oa.oauth_authorize_url(BACK, "n1"), "oa-1"))
    base = f"{sandbox.url}/sns/oauth2/access_token"
    good = {"appid": settings.wechat_app_id, "secret": settings.wechat_app_secret, "code": code,
            "grant_type": "authorization_code"}
    for change, errcode in (({"secret": "wrong"}, 40125), ({"appid": settings.mp_app_id,
                                                            "secret": settings.mp_app_secret}, 40029),
                            ({"grant_type": "client_credential"}, 40002), ({"code": ""}, 41008)):
        assert requests.get(base, params=good | change, timeout=5).json()["errcode"] == errcode
    answer = requests.get(base, params=good, timeout=5).json()
    assert answer["openid"] == "oa-1" and answer["scope"] == "snsapi_base"  # the code survived the refusals


def test_the_client_refuses_to_build_a_bad_link(oa):
    with pytest.raises(ValueError):
        oa.oauth_authorize_url(BACK, "not alnum!")
    with pytest.raises(ValueError):
        oa.oauth_authorize_url(BACK, "n1", scope="snsapi_login")
