"""The chat simulator pushes exactly what WeChat pushes in safe mode, checked by a callback
written here from the protocol (AES-256-CBC, IV = key[:16], PKCS#7 to 32-byte blocks,
16 random bytes + 4-byte big-endian length + XML + AppId; SHA-1 over sorted parts) —
not by wechatpy, which the simulator itself uses."""
from __future__ import annotations

import base64
import hashlib
import os
import struct
import threading
import xml.etree.ElementTree as ET

import pytest
import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import Flask, request
from werkzeug.serving import make_server

from backend.geo import wgs84_to_gcj02
from tests.factories import make_world


def sha1_sorted(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def aes(settings):
    key = base64.b64decode(settings.wechat_aes_key + "=")
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def decrypt(settings, text: str) -> str:
    d = aes(settings).decryptor()
    plain = d.update(base64.b64decode(text)) + d.finalize()
    plain = plain[: -plain[-1]]
    length = struct.unpack(">I", plain[16:20])[0]
    assert plain[20 + length:].decode() == settings.wechat_app_id
    return plain[20:20 + length].decode()


def encrypt(settings, xml: str) -> str:
    raw = os.urandom(16) + struct.pack(">I", len(xml.encode())) + xml.encode() + settings.wechat_app_id.encode()
    pad = 32 - len(raw) % 32
    e = aes(settings).encryptor()
    return base64.b64encode(e.update(raw + bytes([pad]) * pad) + e.finalize()).decode()


class FakeCallback:
    """A /wechat that checks the push like our callback must, records it and echoes text."""

    def __init__(self, settings, mode="encrypted"):
        self.settings, self.mode, self.received = settings, mode, []
        app = Flask("fake-callback")
        app.add_url_rule("/wechat", "wechat", self.handle, methods=["POST"])
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/wechat"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self):
        s, q = self.settings, request.args
        assert q["encrypt_type"] == "aes"
        assert q["signature"] == sha1_sorted(s.wechat_token, q["timestamp"], q["nonce"])
        encrypted = ET.fromstring(request.data).findtext("Encrypt")
        assert q["msg_signature"] == sha1_sorted(s.wechat_token, q["timestamp"], q["nonce"], encrypted)
        msg = ET.fromstring(decrypt(s, encrypted))
        assert q["openid"] == msg.findtext("FromUserName")
        self.received.append(msg)
        if msg.findtext("MsgType") != "text":
            return "success"
        reply = (f"<xml><ToUserName><![CDATA[{msg.findtext('FromUserName')}]]></ToUserName>"
                 f"<FromUserName><![CDATA[{msg.findtext('ToUserName')}]]></FromUserName><CreateTime>1</CreateTime>"
                 f"<MsgType><![CDATA[text]]></MsgType><Content>{cdata('收到：' + msg.findtext('Content'))}</Content></xml>")
        if self.mode == "plaintext":
            return reply
        body = encrypt(s, reply)
        signature = sha1_sorted(s.wechat_token, "1700000000", "n1", body)
        if self.mode == "bad-signature":
            signature = "0" * 40
        return (f"<xml><Encrypt><![CDATA[{body}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature>"
                f"<TimeStamp>1700000000</TimeStamp><Nonce><![CDATA[n1]]></Nonce></xml>")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callback(sandbox):
    fake = FakeCallback(sandbox.settings)
    sandbox.configure(callback_url=fake.url)
    yield fake
    fake.stop()


def send(sandbox, **action):
    res = requests.post(f"{sandbox.url}/_sandbox/chat/send", json=action, timeout=10)
    return res.status_code, res.json()


def test_text_round_trip(sandbox, callback):
    status, out = send(sandbox, openid="sandbox-res-1", kind="text", text="楼道灯坏了 ]]> <b>")
    assert status == 200 and out["status"] == 200 and out["problems"] == []
    assert out["reply"] == {"type": "text", "content": "收到：楼道灯坏了 ]]> <b>"}
    msg = callback.received[0]
    assert msg.findtext("ToUserName") == "gh_ejia_sandbox" and int(msg.findtext("MsgId")) > 0


def test_location_is_sent_in_gcj02(sandbox, callback):
    send(sandbox, openid="sandbox-res-1", kind="location", lat=24.5, lng=117.65, label="复兴路口")
    msg = callback.received[0]
    lat, lng = wgs84_to_gcj02(24.5, 117.65)
    assert (float(msg.findtext("Location_X")), float(msg.findtext("Location_Y"))) == (round(lat, 6), round(lng, 6))
    assert msg.findtext("Label") == "复兴路口"


def test_events_and_media(sandbox, callback):
    media_id = sandbox.register_media(b"\x89PNG\r\n\x1a\n...", "image/png")
    send(sandbox, openid="o1", kind="image", media_id=media_id)
    send(sandbox, openid="o1", kind="voice", recognition="小区门口垃圾满了")
    send(sandbox, openid="o1", kind="click", key="REPORT")
    send(sandbox, openid="o1", kind="click", key="REPORT")
    send(sandbox, openid="o1", kind="scan_unit", scan_result="http://127.0.0.1:8000/q/abcdefgh12")
    send(sandbox, openid="o1", kind="scan_qr", scene="bind-xyz")
    send(sandbox, openid="o1", kind="scan_qr", scene="bind-xyz", first_follow=True)
    send(sandbox, openid="o1", kind="unsubscribe")
    image, voice, click1, click2, scan, bind, follow, unsub = callback.received
    assert image.findtext("MediaId") == media_id and image.findtext("PicUrl").endswith(media_id)
    assert voice.findtext("Recognition") == "小区门口垃圾满了" and voice.findtext("Format") == "amr"
    assert requests.get(f"{sandbox.url}/_sandbox/media/{voice.findtext('MediaId')}", timeout=5).content.startswith(b"#!AMR")
    assert (click1.findtext("Event"), click1.findtext("EventKey")) == ("CLICK", "REPORT")
    assert click1.findtext("CreateTime") != click2.findtext("CreateTime")  # not mistaken for a retry
    assert scan.findtext("ScanCodeInfo/ScanResult") == "http://127.0.0.1:8000/q/abcdefgh12"
    assert (bind.findtext("Event"), bind.findtext("EventKey")) == ("SCAN", "bind-xyz")
    assert (follow.findtext("Event"), follow.findtext("EventKey")) == ("subscribe", "qrscene_bind-xyz")
    assert unsub.findtext("Event") == "unsubscribe" and unsub.findtext("MsgId") is None


@pytest.mark.parametrize("mode, problem", [("plaintext", "plaintext reply"), ("bad-signature", "MsgSignature")])
def test_protocol_mistakes_in_the_reply_are_shown(sandbox, callback, mode, problem):
    callback.mode = mode
    _, out = send(sandbox, openid="o1", kind="text", text="你好")
    assert any(problem in p for p in out["problems"])


def test_unreachable_callback_is_reported(sandbox):
    sandbox.configure(callback_url="http://127.0.0.1:9/wechat")
    status, out = send(sandbox, openid="o1", kind="text", text="你好")
    assert status == 200 and out["status"] is None and "unreachable" in out["problems"][0]


@pytest.mark.parametrize("action", [
    {"openid": "o1", "kind": "teleport"},
    {"openid": "../etc", "kind": "text", "text": "x"},
    {"openid": "o1", "kind": "text", "text": ""},
    {"openid": "o1", "kind": "text", "text": "长" * 5000},
    {"openid": "o1", "kind": "location", "lat": 91, "lng": 10},
    {"openid": "o1", "kind": "location", "lat": "24.5", "lng": 117},
    {"openid": "o1", "kind": "image", "media_id": "never-uploaded"},
    {"openid": "o1", "kind": "scan_qr", "scene": "x" * 65},
    ["not", "an", "object"],
])
def test_bad_simulator_input_is_a_clear_400(sandbox, callback, action):
    res = requests.post(f"{sandbox.url}/_sandbox/chat/send", json=action, timeout=5)
    assert res.status_code == 400 and res.json()["error"]["message"]
    assert callback.received == []


def test_world_lists_seeded_staff_grids_and_units(sandbox, clean_db):
    world = make_world()
    data = requests.get(f"{sandbox.url}/_sandbox/chat/world", timeout=5).json()
    assert data["note"] is None
    openids = {p["openid"] for group in data["staff"] for p in group["people"]}
    assert world.worker_a.oa_openid in openids
    assert {f["properties"]["level"] for f in data["grids"]["features"]} >= {"grid"}
    assert [m["key"] for m in data["menu"]] == ["REPORT", "PROGRESS", "HELP", "TODO", "QUICK"]  # wechat/menu.py
    page = requests.get(f"{sandbox.url}/_sandbox/chat", timeout=5)
    assert page.status_code == 200 and "leaflet.js" in page.text and "https://" not in page.text
