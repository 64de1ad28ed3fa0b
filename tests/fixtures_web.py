"""The app over real HTTP, and a WeChat user who pushes to it exactly as WeChat does.

    def test_hello(live_app):
        user = live_app.user()                      # safe mode, a fresh openid
        assert user.send_text("路灯坏了")            # the reply's text (None for "success")
        user.send_location(24.51, 117.65, "漳州市芗城区")
        user.scan("unit:abc")                       # SCAN; scan(..., follow=True) → subscribe_scan

``WeChatUser`` signs every push and, in safe/compatible mode, encrypts it with wechatpy's
``PrpCrypto`` — an implementation independent of ours. A non-200 answer raises
``PushRejected``. ``live_app`` is the session's app served by werkzeug in a thread;
``gunicorn_server`` runs an app factory under gunicorn for multi-process tests;
``post_concurrently`` fires deliveries of one message from several processes at once.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from backend import config

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "gh_ejia00000000"  # the official account's original id (ToUserName)
#: The key WeChat still uses during a rotation; the live app accepts it besides the current one.
PREVIOUS_AES_KEY = "PreviousKeyPreviousKeyPreviousKeyPreviousKe"
_MSG_IDS = itertools.count(random.SystemRandom().randrange(10**15, 10**17))


class PushRejected(AssertionError):
    def __init__(self, response: requests.Response):
        super().__init__(f"/wechat answered {response.status_code}: {response.text[:200]}")
        self.response = response


def to_xml(values: dict) -> str:
    """WeChat's push XML: strings in CDATA, numbers bare, dicts as nested elements."""
    def node(name, value):
        if isinstance(value, dict):
            return f"<{name}>" + "".join(node(k, v) for k, v in value.items()) + f"</{name}>"
        if isinstance(value, (int, float)):
            return f"<{name}>{value}</{name}>"
        value = str(value).replace("]]>", "]]]]><![CDATA[>")
        return f"<{name}><![CDATA[{value}]]></{name}>"
    return "<xml>" + "".join(node(k, v) for k, v in values.items()) + "</xml>"


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


@dataclass
class Push:
    """One signed request, ready to post (or to post many times)."""

    url: str
    params: dict
    body: bytes
    headers: dict


class WeChatUser:
    def __init__(self, base_url: str, *, token: str, app_id: str, aes_key: str, openid: str | None = None,
                 mode: str = "safe", account: str = ACCOUNT):
        assert mode in ("plain", "compatible", "safe")
        self.url = base_url.rstrip("/") + "/wechat"
        self.token, self.app_id, self.aes_key, self.mode, self.account = token, app_id, aes_key, mode, account
        self.openid = openid or "o" + uuid.uuid4().hex[:27]
        self.session = requests.Session()
        self.last: requests.Response | None = None
        self.last_reply: dict | None = None
        self.last_fields: dict | None = None  # the fields of the last push sent
        self._last_time = 0

    # ------------------------------------------------------------ messages
    def send_text(self, content: str): return self.push(self.message("text", Content=content))
    def send_image(self, media_id: str, pic_url: str = "http://mmbiz.qpic.cn/test.jpg"):
        return self.push(self.message("image", PicUrl=pic_url, MediaId=media_id))
    def send_voice(self, media_id: str, recognition: str | None = None, fmt: str = "amr"):
        extra = {} if recognition is None else {"Recognition": recognition}
        return self.push(self.message("voice", MediaId=media_id, Format=fmt, **extra))
    def send_video(self, media_id: str, thumb_media_id: str = "thumb-1", short: bool = False):
        return self.push(self.message("shortvideo" if short else "video", MediaId=media_id,
                                      ThumbMediaId=thumb_media_id))
    def send_location(self, lat: float, lng: float, label: str = "", scale: int = 15):
        return self.push(self.message("location", Location_X=lat, Location_Y=lng, Scale=scale, Label=label))
    def send_link(self, title: str, description: str, url: str):
        return self.push(self.message("link", Title=title, Description=description, Url=url))
    def send_other(self, msg_type: str, **values): return self.push(self.message(msg_type, **values))

    # ------------------------------------------------------------ events
    def send_event(self, event: str, key: str | None = None, **values):
        if key is not None:
            values = {"EventKey": key, **values}
        return self.push(self.fields("event", Event=event, **values))
    def subscribe(self): return self.send_event("subscribe", key="")
    def unsubscribe(self): return self.send_event("unsubscribe", key="")
    def scan(self, scene: str, follow: bool = False):
        if follow:  # a non-follower scanning a parametric QR: subscribe with qrscene_ prefix
            return self.send_event("subscribe", key="qrscene_" + scene, Ticket="ticket-" + scene)
        return self.send_event("SCAN", key=scene, Ticket="ticket-" + scene)
    def report_location(self, lat: float, lng: float, precision: float = 30.0):
        return self.send_event("LOCATION", Latitude=lat, Longitude=lng, Precision=precision)
    def click(self, key: str): return self.send_event("CLICK", key=key)
    def view(self, url: str): return self.send_event("VIEW", key=url)
    def scancode(self, key: str, result: str, wait: bool = True, scan_type: str = "qrcode"):
        return self.send_event("scancode_waitmsg" if wait else "scancode_push", key=key,
                               ScanCodeInfo={"ScanType": scan_type, "ScanResult": result})
    def select_location(self, key: str, lat: float, lng: float, label: str, poiname: str = ""):
        return self.send_event("location_select", key=key, SendLocationInfo={
            "Location_X": lat, "Location_Y": lng, "Scale": 15, "Label": label, "Poiname": poiname})
    def template_finished(self, msg_id: int, status: str = "success"):
        return self.send_event("TEMPLATESENDJOBFINISH", MsgID=msg_id, Status=status)

    # ------------------------------------------------------------ building and posting
    def fields(self, msg_type: str, **values) -> dict:
        # CreateTime strictly increases per user: events are de-duplicated on it (per second).
        self._last_time = max(int(time.time()), self._last_time + 1)
        return {"ToUserName": self.account, "FromUserName": self.openid, "CreateTime": self._last_time,
                "MsgType": msg_type, **values}

    def message(self, msg_type: str, **values) -> dict:
        return {**self.fields(msg_type, **values), "MsgId": next(_MSG_IDS)}

    def prepare(self, values: dict | str | bytes, *, mode: str | None = None, timestamp: int | None = None,
                nonce: str | None = None, aes_key: str | None = None, app_id: str | None = None) -> Push:
        """Sign (and encrypt) a push without sending it; ``values`` may be raw XML. Every call
        signs afresh (its own nonce), as WeChat does for each delivery, retries included."""
        mode = mode or self.mode
        xml = to_xml(values) if isinstance(values, dict) else values
        xml = xml.decode() if isinstance(xml, bytes) else xml
        timestamp_s, nonce = str(timestamp or int(time.time())), nonce or str(random.randrange(10**12))
        params = {"signature": sha1_sorted(self.token, timestamp_s, nonce), "timestamp": timestamp_s,
                  "nonce": nonce, "openid": self.openid}
        body = xml
        if mode != "plain":
            key = base64.b64decode((aes_key or self.aes_key) + "=")
            encrypted = PrpCrypto(key).encrypt(xml, app_id or self.app_id).decode()
            params.update(encrypt_type="aes", msg_signature=sha1_sorted(self.token, timestamp_s, nonce, encrypted))
            head = xml[:-len("</xml>")] if mode == "compatible" else f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
            body = f"{head}<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        return Push(self.url, params, body.encode(), {"Content-Type": "text/xml"})

    def post(self, push: Push) -> requests.Response:
        self.last = self.session.post(push.url, params=push.params, data=push.body, headers=push.headers, timeout=15)
        return self.last

    def push(self, values: dict, **options):
        self.last_fields = values
        response = self.post(self.prepare(values, **options))
        if response.status_code != 200:
            raise PushRejected(response)
        self.last_reply = self.decode_reply(response.text, aes_key=options.get("aes_key"))
        if self.last_reply is None:
            return None
        return self.last_reply.get("Content") if self.last_reply.get("MsgType") == "text" else self.last_reply

    def decode_reply(self, text: str, aes_key: str | None = None) -> dict | None:
        """A passive reply → its fields (decrypted, signature checked); None for success/empty."""
        if text.strip() in ("", "success"):
            return None
        root = ElementTree.fromstring(text)
        if root.find("Encrypt") is not None:
            crypto = WeChatCrypto(self.token, aes_key or self.aes_key, self.app_id)
            text = crypto.decrypt_message(text, root.findtext("MsgSignature"), root.findtext("TimeStamp"),
                                          root.findtext("Nonce"))
            root = ElementTree.fromstring(text)
        return {child.tag: child.text or "" for child in root}


# ------------------------------------------------------------------ servers

def settings_overrides(settings: config.Settings) -> dict:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def settings_environ(settings: config.Settings) -> dict:
    """Environment variables that make another process load exactly ``settings``."""
    from backend.redis_conn import redis_url

    env = {var: str(getattr(settings, attr)) for var, (attr, _) in config._ENV_MAP.items()}
    env["REDIS_URL"] = redis_url(settings)  # an embedded Redis is shared through its socket
    return env


@dataclass
class LiveServer:
    app: object
    url: str
    settings: config.Settings
    _server: object
    _thread: threading.Thread

    def user(self, openid: str | None = None, mode: str = "safe", **kwargs) -> WeChatUser:
        s = self.settings
        options = {"token": s.wechat_token, "app_id": s.wechat_app_id, "aes_key": s.wechat_aes_key, **kwargs}
        return WeChatUser(self.url, openid=openid, mode=mode, **options)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def start_live_server(settings: config.Settings) -> LiveServer:
    from werkzeug.serving import make_server

    from server import create_app

    app = create_app(overrides=settings_overrides(settings))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-app", daemon=True)
    thread.start()
    return LiveServer(app, f"http://127.0.0.1:{server.server_port}", settings, server, thread)


@contextlib.contextmanager
def another_live_server(settings: config.Settings):
    """A second app on a real port (on another Redis, another database). Creating an app
    installs its settings, relay and database binding process-wide: the ones before are put
    back afterwards."""
    from backend import replica
    from backend.db import db, init_database
    from workers import relay

    before, previous_relay = config.current(), relay.installed()
    server = start_live_server(settings)
    try:
        db.connect(reuse_if_open=True)  # the proxy was bound afresh: this thread's connection
        yield server
    finally:
        server.stop()
        if not db.is_closed():
            db.close()
        init_database(before.database_url)
        replica.install(before)
        db.connect(reuse_if_open=True)
        config.install(before)
        if previous_relay is None:
            relay.uninstall_relay()
        else:
            relay.install_relay(previous_relay.settings, previous_relay.connection, previous_relay.retry_left)


@pytest.fixture(scope="session")
def live_app(settings, database):
    server = start_live_server(settings.with_overrides(wechat_aes_key_previous=PREVIOUS_AES_KEY))
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn_server(settings: config.Settings, app_spec: str = "server:create_app()", workers: int = 2,
                    threads: int = 4, extra_env: dict | None = None):
    """``app_spec`` under gunicorn (gthread workers) on a free port; yields the base URL."""
    port = free_port()
    env = dict(os.environ, **settings_environ(settings), **(extra_env or {}),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
               "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
               "--graceful-timeout", "5", app_spec]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"gunicorn exited with {process.returncode}"
            try:
                if requests.get(url + "/healthz", timeout=5).ok:
                    break
            except requests.RequestException:
                pass  # not listening yet, or the workers are still booting
            assert time.monotonic() < deadline, "gunicorn did not start within 30 s"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _post_after_barrier(barrier, push: Push, results) -> None:
    barrier.wait(timeout=30)
    response = requests.post(push.url, params=push.params, data=push.body, headers=push.headers, timeout=30)
    results.put((response.status_code, response.text))


def post_concurrently(pushes: list[Push]) -> list[tuple[int, str]]:
    """Post the pushes (one message signed for several deliveries) from as many processes
    released together: WeChat's retry storm."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(pushes)), context.Queue()
    processes = [context.Process(target=_post_after_barrier, args=(barrier, push, results)) for push in pushes]
    for process in processes:
        process.start()
    answers = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    return answers
