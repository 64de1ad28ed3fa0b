"""Shared pieces of the H5 page tests (/m/events, /q): a live app whose PUBLIC_BASE_URL is its
own address (so the links it mints open on it), a building unit with a poster, reports, photos.
"""
from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from backend import config
from backend.models import Building, BuildingUnit
from backend.services.context import resident_actor
from backend.services.events import Submission, submit_event
from tests.factories import make_world
from tests.fixtures_web import LiveServer, free_port, settings_overrides
from tests.integration.test_console_fixtures import _ReopeningClient, console_app  # noqa: F401

WECHAT_UA = ("Mozilla/5.0 (Linux; Android 12; M2012K11AC) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20230405 "
             "MicroMessenger/8.0.35.2360(0x28002339) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN")
PHONE_UA = ("Mozilla/5.0 (Linux; Android 12) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36")


def start_live_h5(settings) -> LiveServer:
    """The whole app on a free port, PUBLIC_BASE_URL = that port (create_app installs it)."""
    from werkzeug.serving import make_server

    from server import create_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    own = settings.with_overrides(public_base_url=url)
    app = create_app(overrides=settings_overrides(own))
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-h5", daemon=True)
    thread.start()
    return LiveServer(app, url, own, server, thread)


@pytest.fixture
def world(redis_conn):
    return make_world()


@pytest.fixture
def client(console_app):
    """The Flask test client of the session's app (its test settings: links on PUBLIC_BASE_URL
    are opened here by path)."""
    return _ReopeningClient(console_app.test_client())


@pytest.fixture(scope="module")
def live_h5(settings, database, sandbox_server):
    """The app pointed at the WeChat sandbox (APIs and 网页授权), links minted for itself."""
    before = config.current()
    server = start_live_h5(sandbox_server.settings)
    yield server
    server.stop()
    config.install(before)


def make_unit(grid, building="3号楼", unit="2单元", token="posterTOKEN-3-2") -> BuildingUnit:
    row = Building.create(area=grid, name=building, address=f"金源小区{building}", lat=24.5052, lng=117.6452)
    return BuildingUnit.create(building=row, name=unit, qr_token=token)


def report(world, resident, text="楼道里堆满纸箱", code="0101", media_ids=(), **kw):
    return submit_event(Submission(description=text, reporter=resident_actor(resident), lat=world.in_a[0],
                                   lng=world.in_a[1], category_code=code, media_ids=list(media_ids), **kw)).event


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
