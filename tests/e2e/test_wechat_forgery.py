"""/wechat cannot be forged or replayed (issue 13): the account's push format is enforced
(``WECHAT_ENCRYPT_MODE``), every (timestamp, nonce) pair is accepted once, and XML nested
deeper than WeChat ever sends is refused before anything walks it."""
from __future__ import annotations

import pytest

from backend.models import Resident
from tests.e2e.wechat_support import dialog, post, stored  # noqa: F401
from tests.fixtures_web import to_xml
from wechat import inbound

WORKER_OPENID = "o-grid-worker-0000000000000"


@pytest.fixture
def encrypt_mode(live_app, monkeypatch):
    """Run the live app with another WECHAT_ENCRYPT_MODE for one test."""
    def use(mode: str):
        settings = live_app.app.extensions["ejia.settings"]
        monkeypatch.setitem(live_app.app.extensions, "ejia.settings", settings.with_overrides(wechat_encrypt_mode=mode))
    return use


def _forge_from(genuine, forger, content: str):
    """The attack of issue 13: a genuine safe-mode URL (as an access log shows it), its
    ``encrypt_type`` and ``msg_signature`` dropped, carrying a plaintext body that claims to
    come from a grid worker. The plain ``signature`` still matches: it covers only token,
    timestamp and nonce."""
    forged = forger.prepare(forger.message("text", Content=content), mode="plain")
    params = {k: v for k, v in genuine.params.items() if k not in ("encrypt_type", "msg_signature")}
    return post(forged, params={**{k: None for k in forged.params}, **params})


@pytest.mark.parametrize("mode", ["safe", "compatible", "plain"])
def test_a_forged_plaintext_push_under_a_used_safe_mode_url_is_refused(live_app, dialog, encrypt_mode, mode):
    encrypt_mode(mode)
    resident = live_app.user()
    genuine = resident.prepare(resident.message("text", Content="楼道灯坏了"))
    assert resident.decode_reply(resident.post(genuine).text)["Content"] == "收到"
    forger = live_app.user(openid=WORKER_OPENID)
    for content in ("待办", "接单 1"):
        response = _forge_from(genuine, forger, content)
        assert response.status_code == 403, response.text
    assert [row.openid for row in stored()] == [resident.openid]
    assert [m.openid for m in dialog.seen] == [resident.openid]
    assert not Resident.select().where(Resident.oa_openid == WORKER_OPENID).exists()


def test_a_replayed_push_is_refused_and_stores_nothing_more(live_app, dialog):
    user = live_app.user()
    push = user.prepare(user.message("text", Content="井盖丢了"))
    assert user.post(push).status_code == 200
    again = user.post(push)
    assert again.status_code == 403 and "used before" in again.text
    other = user.prepare(user.message("text", Content="另一条"), nonce=push.params["nonce"],
                         timestamp=int(push.params["timestamp"]))
    assert user.post(other).status_code == 403  # another body under the same (timestamp, nonce)
    [row] = stored()
    assert len(dialog.seen) == 1
    assert (row.callback_timestamp, row.callback_nonce) == (int(push.params["timestamp"]), push.params["nonce"])


def test_safe_mode_refuses_plaintext_and_compatible_pushes(live_app, dialog, encrypt_mode):
    encrypt_mode("safe")
    user = live_app.user()
    assert user.send_text("安全模式") == "收到"
    for mode in ("plain", "compatible"):
        response = user.post(user.prepare(user.message("text", Content=mode), mode=mode))
        assert response.status_code == 403, mode
    encrypt_mode("compatible")
    assert live_app.user(mode="compatible").send_text("兼容模式") == "收到"
    assert user.post(user.prepare(user.message("text", Content="明文"), mode="plain")).status_code == 403
    assert [m.text for m in dialog.seen] == ["安全模式", "兼容模式"]


# ------------------------------------------------------------ nesting

def _nested(user, levels: int) -> str:
    head = to_xml(user.message("text", Content="x"))[:-len("</xml>")]
    return head + "<a>" * levels + "</a>" * levels + "</xml>"


@pytest.mark.parametrize("levels, mode", [(9_000, "plain"), (1_000, "safe"), (10_000, "plain"), (10_000, "safe")])
def test_deeply_nested_xml_is_refused_with_400(live_app, dialog, levels, mode):
    user = live_app.user()
    response = post(user.prepare(_nested(user, levels), mode=mode))
    assert response.status_code == 400, response.text
    # under 64 KB the depth is what refuses it; 10 000 levels cannot fit in 64 KB at all
    assert ("deeper than 8 levels" if levels < 9_300 else "larger than 64 KB") in response.text
    assert stored() == [] and dialog.seen == []


def test_the_parser_checks_depth_without_recursion():
    deep = b"<xml>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</xml>"  # no size limit at this layer
    with pytest.raises(inbound.BadMessage, match="deeper"):
        inbound.xml_root(deep)
    photos = ("<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
              "<MsgType>event</MsgType><Event>pic_photo_or_album</Event><EventKey>k</EventKey>"
              "<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum>abc</PicMd5Sum></item></PicList>"
              "</SendPicsInfo></xml>")
    assert inbound.parse_message(photos.encode()).raw["SendPicsInfo"]["PicList"]["item"]["PicMd5Sum"] == "abc"
