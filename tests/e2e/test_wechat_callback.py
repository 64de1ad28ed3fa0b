"""/wechat over real HTTP: every push type reaches the dialog entry, retries act once,
hostile input is refused with nothing stored. The dialog is replaced through
``wechat.dispatch.dialog`` — the lookup, never the callback under test."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import peewee
import pytest
import redis as redis_lib
import requests

from backend.errors import DomainError
from backend.models import InboundMessage, OutboxMessage, Resident
from backend.services.residents import touch_resident
from tests.e2e.wechat_support import CapturingDialog, dialog, post as _post, stored  # noqa: F401
from tests.fixtures_web import PREVIOUS_AES_KEY, gunicorn_server, post_concurrently, sha1_sorted
from wechat import dispatch, inbound
from wechat.spool import REPLY as SPOOLED_REPLY
from workers.testing import wait_for

STORM_EFFECTS = "test:storm:effects"


# ------------------------------------------------------------ every type reaches the dialog

CASES = {
    "text": (lambda u: u.send_text("楼道灯坏了 ]]> 三天"), dict(kind="text", text="楼道灯坏了 ]]> 三天")),
    "image": (lambda u: u.send_image("m-img", pic_url="http://mmbiz.qpic.cn/p.jpg"),
              dict(kind="image", media_id="m-img", pic_url="http://mmbiz.qpic.cn/p.jpg")),
    "voice": (lambda u: u.send_voice("m-voice", fmt="speex"),
              dict(kind="voice", media_id="m-voice", voice_format="speex", text=None)),
    "voice+recognition": (lambda u: u.send_voice("m-voice2", recognition="路灯不亮。"),
                          dict(kind="voice", media_id="m-voice2", text="路灯不亮。")),
    "video": (lambda u: u.send_video("m-video"), dict(kind="video", media_id="m-video")),
    "shortvideo": (lambda u: u.send_video("m-short", short=True), dict(kind="shortvideo", media_id="m-short")),
    "location": (lambda u: u.send_location(24.513021, 117.647092, "漳州市芗城区新华北路"),
                 dict(kind="location", lat=24.513021, lng=117.647092, label="漳州市芗城区新华北路")),
    "link": (lambda u: u.send_link("标题", "描述", "https://example.org/a"),
             dict(kind="link", title="标题", text="描述", url="https://example.org/a")),
    "subscribe": (lambda u: u.subscribe(), dict(kind="event", event="subscribe")),
    "subscribe_scan": (lambda u: u.scan("unit:tok123", follow=True),
                       dict(kind="event", event="subscribe_scan", key="unit:tok123")),
    "SCAN": (lambda u: u.scan("bind:9f8e"), dict(kind="event", event="SCAN", key="bind:9f8e")),
    "LOCATION": (lambda u: u.report_location(24.5, 117.6, 20.0), dict(kind="event", event="LOCATION", lat=24.5, lng=117.6)),
    "CLICK": (lambda u: u.click("MENU_REPORT"), dict(kind="event", event="CLICK", key="MENU_REPORT")),
    "VIEW": (lambda u: u.view("https://example.org/m"), dict(kind="event", event="VIEW", url="https://example.org/m")),
    "scancode_waitmsg": (lambda u: u.scancode("MENU_SCAN", "https://e.example/q/u/tok"),
                         dict(kind="event", event="scancode_waitmsg", key="MENU_SCAN", text="https://e.example/q/u/tok")),
    "location_select": (lambda u: u.select_location("MENU_LOC", 24.51, 117.65, "漳州市芗城区", poiname="中山公园"),
                        dict(kind="event", event="location_select", key="MENU_LOC", lat=24.51, lng=117.65, label="中山公园")),
    "TEMPLATESENDJOBFINISH": (lambda u: u.template_finished(200163836, "failed:user block"),
                              dict(kind="event", event="TEMPLATESENDJOBFINISH", status="failed:user block",
                                   msg_id=200163836)),
}
SILENT = {"LOCATION", "TEMPLATESENDJOBFINISH"}


@pytest.mark.parametrize("name", list(CASES))
def test_every_push_type_reaches_the_dialog(live_app, dialog, name):
    send, expected = CASES[name]
    user = live_app.user()
    reply = send(user)
    assert reply == (None if name in SILENT else "收到")
    assert len(dialog.seen) == 1
    incoming = dialog.seen[0]
    assert (incoming.openid, incoming.create_time) == (user.openid, user.last_fields["CreateTime"])
    for field, value in expected.items():
        assert getattr(incoming, field) == value, field
    if incoming.kind != "event":
        assert incoming.msg_id == user.last_fields["MsgId"]
    [row] = stored()
    assert (row.dedupe_key, row.openid, row.event_type) == (incoming.dedupe_key, user.openid, incoming.event)
    assert row.reply == (reply or "")


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
def test_all_three_modes(live_app, dialog, mode):
    user = live_app.user(mode=mode)
    assert user.send_text("你好") == "收到" and user.click("MENU_HELP") == "收到"
    assert ("<Encrypt>" in user.last.text) == (mode != "plain")
    assert [m.kind for m in dialog.seen] == ["text", "event"]


def test_previous_key_is_accepted_and_answered_with_it(live_app, dialog):
    user = live_app.user(aes_key=PREVIOUS_AES_KEY)
    assert user.send_text("换密钥了") == "收到"
    with pytest.raises(ValueError):  # sealed with the previous key, so the current one cannot open it
        live_app.user().decode_reply(user.last.text)


def test_resident_window_opens_on_messages_only(live_app, dialog):
    writer, visitor = live_app.user(), live_app.user()
    writer.send_text("你好")
    visitor.report_location(24.5, 117.6)
    visitor.click("MENU_HELP")
    assert Resident.get(Resident.oa_openid == writer.openid).last_message_at is not None
    assert Resident.get(Resident.oa_openid == visitor.openid).last_message_at is None


def test_unknown_message_type_is_stored_and_answered_with_a_hint(live_app, dialog):
    user = live_app.user()
    assert user.send_other("miniprogrampage", Title="小程序卡片", PagePath="pages/index") == dispatch.UNKNOWN_HINT
    [row] = stored()
    assert row.msg_type == "miniprogrampage" and row.payload["raw"]["PagePath"] == "pages/index"
    assert row.reply == dispatch.UNKNOWN_HINT and dialog.seen == []
    user.send_event("user_enter_tempsession", SessionFrom="menu")  # unknown events still reach the dialog
    assert dialog.seen[0].event == "user_enter_tempsession"


@pytest.mark.parametrize("error, reply", [(RuntimeError("bug"), dispatch.APOLOGY),
                                          (DomainError("closed", "这件事已经办结了。"), "这件事已经办结了。")])
def test_dialog_failure_is_answered_once(live_app, monkeypatch, error, reply):
    failing = CapturingDialog(error=error)
    monkeypatch.setattr(dispatch, "dialog", failing)
    user = live_app.user()
    values = user.message("text", Content="办结 3")
    replies = [user.decode_reply(user.post(user.prepare(values)).text)["Content"] for _ in range(2)]
    assert replies == [reply, reply] and len(failing.seen) == 1
    assert [r.reply for r in stored()] == [reply]


# ------------------------------------------------------------ retries act once

def test_sequential_retries_get_the_same_reply(live_app, dialog):
    user = live_app.user()
    for values in (user.message("text", Content="重发"), user.fields("event", Event="CLICK", EventKey="K")):
        answers = {user.post(user.prepare(values)).text and user.decode_reply(user.last.text)["Content"]
                   for _ in range(4)}
        assert answers == {"收到"}
    assert len(dialog.seen) == 2 and len(stored()) == 2


def storm_app():
    """gunicorn factory for the retry storm: the real app with a slow dialog that counts in Redis."""
    from server import create_app

    app = create_app()

    class SlowCountingDialog:
        @staticmethod
        def respond(incoming, redis):
            effects = redis.incr(STORM_EFFECTS)
            time.sleep(0.6)  # the copies arrive while the first is still answering
            return f"第{effects}次处理：{incoming.text or incoming.key}"

    dispatch.dialog = SlowCountingDialog
    return app


@pytest.fixture(scope="module")
def storm_server(live_app):
    with gunicorn_server(live_app.settings, "tests.e2e.test_wechat_callback:storm_app()") as url:
        yield url


@pytest.mark.parametrize("kind", ["text", "CLICK"])
def test_retry_storm_from_several_processes_acts_once(live_app, storm_server, redis_conn, kind):
    user = live_app.user()
    values = (user.message("text", Content="井盖丢了") if kind == "text"
              else user.fields("event", Event="CLICK", EventKey="MENU_REPORT"))
    pushes = [user.prepare(values) for _ in range(4)]  # four deliveries, each signed afresh
    for push in pushes:
        push.url = storm_server + "/wechat"
    answers = post_concurrently(pushes)
    assert [status for status, _ in answers] == [200] * 4
    replies = {user.decode_reply(text)["Content"] for _, text in answers}
    assert replies == {"第1次处理：" + ("井盖丢了" if kind == "text" else "MENU_REPORT")}
    assert int(redis_conn.get(STORM_EFFECTS)) == 1
    assert len(stored()) == 1


def test_without_redis_the_database_deduplicates(live_app, monkeypatch):
    slow = CapturingDialog(delay=0.5)
    monkeypatch.setattr(dispatch, "dialog", slow)
    monkeypatch.setitem(live_app.app.extensions, "ejia.redis",
                        redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    user = live_app.user()
    values = user.message("text", Content="Redis 停了")
    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(lambda push: requests.post(push.url, params=push.params, data=push.body,
                                                         headers=push.headers, timeout=15).text,
                              [user.prepare(values) for _ in range(4)]))
    assert {user.decode_reply(t)["Content"] for t in texts} == {"收到#1"}
    assert len(slow.seen) == 1 and len(stored()) == 1


def test_the_reply_is_kept_in_the_row_by_the_writer_thread(live_app, dialog):
    """Nobody flushes: the writer thread keeps the reply in the row within moments, and a
    copy that comes right after the answer waits for it instead of acting again."""
    user = live_app.user()
    values = user.message("text", Content="写在后面")
    assert user.decode_reply(user.post(user.prepare(values)).text)["Content"] == "收到"
    assert user.decode_reply(user.post(user.prepare(values)).text)["Content"] == "收到"  # the copy, straight after
    [row] = InboundMessage.select()
    assert row.reply == "收到" and len(dialog.seen) == 1


def test_copies_are_answered_from_the_database_when_redis_forgot(live_app, dialog, redis_conn):
    user = live_app.user()
    values = user.message("text", Content="Redis 重启了")
    first = user.decode_reply(user.post(user.prepare(values)).text)
    redis_conn.flushdb()  # a restart without persistence, a failover, an expired key
    assert user.decode_reply(user.post(user.prepare(values)).text) == first
    assert len(dialog.seen) == 1 and len(stored()) == 1


def test_a_copy_gives_up_waiting_within_the_budget(live_app, monkeypatch):
    slow = CapturingDialog(delay=1.0)
    monkeypatch.setattr(dispatch, "dialog", slow)
    monkeypatch.setattr(inbound, "WAIT_SECONDS", 0.3)
    user = live_app.user()
    values = user.message("text", Content="慢")
    push = user.prepare(values)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(requests.post, push.url, params=push.params, data=push.body, headers=push.headers,
                            timeout=15)
        time.sleep(0.2)
        started = time.monotonic()
        assert _post(user.prepare(values)).text == "success" and time.monotonic() - started < 1.0
        assert user.decode_reply(first.result().text)["Content"] == "收到#1"
    assert user.decode_reply(_post(user.prepare(values)).text)["Content"] == "收到#1"  # later copies: the stored reply
    assert len(slow.seen) == 1


def test_touch_resident(live_app):
    resident = touch_resident("o-touch", opens_window=False)
    assert resident.last_message_at is None
    assert touch_resident("o-touch").last_message_at is not None
    assert touch_resident("o-touch", opens_window=False).last_message_at is not None  # never cleared
    assert Resident.select().where(Resident.oa_openid == "o-touch").count() == 1


# ------------------------------------------------------------ hostile input: refused, nothing stored

def _text_xml(user, content="x", **override) -> str:
    values = {**user.message("text", Content=content), **override}
    return "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in values.items()) + "</xml>"


LAUGHS = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
          + "".join(f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdefgh", "bcdefghi"))
          + ']><xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>'
          '<MsgType>text</MsgType><Content>&i;</Content><MsgId>1</MsgId></xml>')
XXE = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><ToUserName>gh'
       '</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>'
       '<Content>&x;</Content><MsgId>1</MsgId></xml>')


ATTACKS = {
    "no signature": (403, lambda u: _post(u.prepare(_text_xml(u), mode="plain"), params={"signature": None})),
    "bad signature": (403, lambda u: _post(u.prepare(_text_xml(u), mode="plain"), params={"signature": "0" * 40})),
    "no msg_signature": (403, lambda u: _post(u.prepare(_text_xml(u)), params={"msg_signature": None})),
    "bad msg_signature": (403, lambda u: _post(u.prepare(_text_xml(u)), params={"msg_signature": "f" * 40})),
    "bad plain signature in safe mode": (403, lambda u: _post(u.prepare(_text_xml(u)), params={"signature": "1"})),
    "stale timestamp": (403, lambda u: _post(u.prepare(_text_xml(u), timestamp=int(time.time()) - 301 - 5))),
    "future timestamp": (403, lambda u: _post(u.prepare(_text_xml(u), timestamp=int(time.time()) + 301 + 5))),
    "timestamp not a number": (403, lambda u: _post(u.prepare(_text_xml(u), mode="plain"),
                                                    params={"timestamp": "soon", "signature": sha1_sorted(
                                                        "ejiademotoken", "soon", "1"), "nonce": "1"})),
    "other AppId": (403, lambda u: _post(u.prepare(_text_xml(u), app_id="wxevil0000000000"))),
    "unknown key": (403, lambda u: _post(u.prepare(_text_xml(u), aes_key="K" * 43))),
    "Encrypt not base64": (403, lambda u: _post(_signed_envelope(u, "%%%not-base64%%%"))),
    "envelope without Encrypt": (400, lambda u: _post(u.prepare(_text_xml(u)), body=b"<xml><A>1</A></xml>")),
    "malformed XML": (400, lambda u: _post(u.prepare("<xml><MsgType>text</MsgType", mode="plain"))),
    "malformed inner XML": (400, lambda u: _post(u.prepare("<xml><MsgType>text</xml>"))),
    "root is not xml": (400, lambda u: _post(u.prepare(_text_xml(u).replace("xml>", "msg>"), mode="plain"))),
    "no MsgType": (400, lambda u: _post(u.prepare(_text_xml(u).replace("MsgType>", "Kind>")))),
    "MsgId not a number": (400, lambda u: _post(u.prepare(_text_xml(u, MsgId="12ab")))),
    "CreateTime not a number": (400, lambda u: _post(u.prepare(_text_xml(u, CreateTime="noon")))),
    "openid too long": (400, lambda u: _post(u.prepare(_text_xml(u, FromUserName="o" * 65)))),
    "repeated element": (400, lambda u: _post(u.prepare(_text_xml(u).replace("</xml>", "<Content>y</Content></xml>")))),
    "billion laughs": (400, lambda u: _post(u.prepare(LAUGHS, mode="plain"))),
    "billion laughs encrypted": (400, lambda u: _post(u.prepare(LAUGHS))),
    "external entity": (400, lambda u: _post(u.prepare(XXE, mode="plain"))),
    "external entity encrypted": (400, lambda u: _post(u.prepare(XXE))),
    "over 64 KB": (400, lambda u: _post(u.prepare(_text_xml(u, content="长" * 22000)))),
    "over 64 KB chunked": (400, lambda u: _post(u.prepare(_text_xml(u)), body=iter([b"<xml>" + b" " * 8192] * 9))),
    "empty body": (400, lambda u: _post(u.prepare(_text_xml(u)), body=b"")),
    "JSON": (415, lambda u: _post(u.prepare(_text_xml(u), mode="plain"), body=b'{"MsgType": "text"}',
                                  headers={"Content-Type": "application/json"})),
    "form": (415, lambda u: _post(u.prepare(_text_xml(u), mode="plain"), headers={
        "Content-Type": "application/x-www-form-urlencoded"})),
    "multipart": (415, lambda u: requests.post(u.prepare(_text_xml(u), mode="plain").url, files={"f": b"<xml/>"},
                                               params=u.prepare(_text_xml(u), mode="plain").params, timeout=15)),
}


def _signed_envelope(user, encrypted: str):
    push = user.prepare(_text_xml(user))
    ts, nonce = push.params["timestamp"], push.params["nonce"]
    push.params["msg_signature"] = sha1_sorted(user.token, ts, nonce, encrypted)
    push.body = f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    return push


@pytest.mark.parametrize("name", list(ATTACKS))
def test_hostile_pushes_are_refused_and_nothing_is_stored(live_app, dialog, name):
    status, attack = ATTACKS[name]
    response = attack(live_app.user())
    assert response.status_code == status, response.text
    assert stored() == [] and Resident.select().count() == 0 and dialog.seen == []


def test_url_check(live_app):
    token, now = live_app.settings.wechat_token, str(int(time.time()))
    good = {"signature": sha1_sorted(token, now, "7"), "timestamp": now, "nonce": "7", "echostr": "echo-42"}
    url = live_app.url + "/wechat"
    assert requests.get(url, params=good, timeout=5).text == "echo-42"
    stale = str(int(time.time()) - 3600)
    for params, status in [({**good, "signature": "0" * 40}, 403), ({**good, "signature": None}, 403),
                           ({**good, "timestamp": stale, "signature": sha1_sorted(token, stale, "7")}, 403),
                           ({**good, "echostr": None}, 400)]:
        assert requests.get(url, params={k: v for k, v in params.items() if v}, timeout=5).status_code == status


def test_a_push_whose_database_went_away_mid_answer_is_acted_on_once_when_it_is_back(live_app, monkeypatch):
    """Stored (claimed), then the database lost before the dialog finished: not an apology but
    the spool — and on replay the claim is recognised as this delivery's own and acted on."""
    flaky = CapturingDialog(error=peewee.OperationalError("server closed the connection unexpectedly"))
    monkeypatch.setattr(dispatch, "dialog", flaky)
    user = live_app.user()
    assert user.send_text("路灯坏了") == SPOOLED_REPLY
    [row] = stored()
    assert row.reply is None  # kept, not acted on (the replayer keeps trying while it fails)
    flaky.error = None  # the database is back
    spool = live_app.app.extensions["ejia.wechat.spool"]
    wait_for(lambda: not spool.pending(), timeout=30)
    [row] = stored()
    assert row.reply == "收到" and {m.text for m in flaky.seen} == {"路灯坏了"} and len(flaky.seen) >= 2
    [late] = OutboxMessage.select().where(OutboxMessage.topic == "wechat.reply")
    assert late.payload == {"openid": user.openid, "dedupe_key": row.dedupe_key, "text": "收到"}
    assert user.send_text("还有一件") == "收到"  # straight to the dialog again
