"""End-to-end fixtures: the app over real HTTP (``live_app``, ``WeChatUser``), the WeChat
sandbox when it exists, and a clean database and Redis for every test."""
from __future__ import annotations

import pytest

from tests.fixtures_web import live_app  # noqa: F401

try:
    from tests.fixtures_sandbox import sandbox, sandbox_server  # noqa: F401
except ImportError:  # the sandbox is built in parallel; these tests do not need it
    pass


@pytest.fixture(autouse=True)
def _clean(clean_db, redis_conn):
    yield clean_db
