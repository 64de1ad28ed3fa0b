"""The ``sandbox`` fixture: the local WeChat stand-in on a real port, reset before each test.

Use it from a test module (or add ``pytest_plugins``/an import to a conftest):

    from tests.fixtures_sandbox import sandbox, sandbox_server  # noqa: F401

    def test_x(sandbox, redis_conn):
        client = OfficialAccount(sandbox.settings, redis_conn)
        sandbox.inject(errcode=43004, openid="o1")
        ...
        assert [c["api"] for c in sandbox.calls()] == [...]
"""
from __future__ import annotations

import threading

import pytest
import requests


class SandboxHandle:
    """Talks to a running sandbox over HTTP, like any other process would."""

    def __init__(self, url: str, settings, app=None):
        self.url = url
        self.app = app
        self.base_settings = settings

    @property
    def settings(self):
        """The test settings with every WeChat base URL (APIs, 网页授权) pointing at this sandbox."""
        return self.base_settings.with_overrides(wechat_api_base=self.url, wechat_oauth_base=self.url)

    def calls(self, api: str | None = None) -> list[dict]:
        res = requests.get(f"{self.url}/_sandbox/calls", params={"api": api} if api else None, timeout=5)
        res.raise_for_status()
        return res.json()

    def clear_calls(self) -> None:
        requests.delete(f"{self.url}/_sandbox/calls", timeout=5).raise_for_status()

    def inject(self, **fault) -> dict:
        """errcode=, http_status=, latency_ms=, count=, api=, openid= (see docs/wechat-sandbox.md)."""
        res = requests.post(f"{self.url}/_sandbox/inject", json=fault, timeout=5)
        if res.status_code != 201:
            raise AssertionError(f"sandbox refused the fault {fault}: {res.text}")
        return res.json()

    def configure(self, **config) -> dict:
        res = requests.post(f"{self.url}/_sandbox/config", json=config, timeout=5)
        if res.status_code != 200:
            raise AssertionError(f"sandbox refused the config {config}: {res.text}")
        return res.json()

    def phone_code(self, phone: str, code: str | None = None, reusable: bool = False) -> str:
        body = {"phone": phone, "reusable": reusable, **({"code": code} if code else {})}
        res = requests.post(f"{self.url}/_sandbox/phone-codes", json=body, timeout=5)
        res.raise_for_status()
        return res.json()["code"]

    def register_media(self, content: bytes, content_type: str = "image/jpeg", kind: str = "image") -> str:
        files = {"file": ("upload", content, content_type)}
        res = requests.post(f"{self.url}/_sandbox/media", files=files, data={"kind": kind}, timeout=5)
        res.raise_for_status()
        return res.json()["media_id"]

    def reset(self) -> None:
        requests.post(f"{self.url}/_sandbox/reset", timeout=5).raise_for_status()


def start_sandbox(settings, config: dict | None = None):
    """(handle, stop) for a sandbox served by a werkzeug thread on a free loopback port."""
    from werkzeug.serving import make_server

    from wechat.sandbox import create_sandbox_app

    app = create_sandbox_app(settings, config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="wechat-sandbox", daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return SandboxHandle(f"http://127.0.0.1:{server.server_port}", settings, app), stop


@pytest.fixture(scope="session")
def sandbox_server(settings):
    handle, stop = start_sandbox(settings)
    yield handle
    stop()


@pytest.fixture
def sandbox(sandbox_server):
    """A fresh WeChat for each test: no tokens, calls, faults, media or codes."""
    sandbox_server.reset()
    yield sandbox_server
    sandbox_server.reset()
