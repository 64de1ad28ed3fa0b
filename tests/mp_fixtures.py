"""Shared pieces of the mini-program tests: the live API server and staff logins."""
from __future__ import annotations

import pytest

from backend.models import Staff
from tests.mp_client import LiveMp


@pytest.fixture(scope="module")
def live(settings, database, sandbox_server):
    """The app on a real port, pointed at the WeChat sandbox, rate limits off."""
    server = LiveMp(sandbox_server.settings)
    server.limiter.enabled = False
    yield server
    server.stop()


def bind_mp_logins(world, *names: str) -> None:
    """Let each named staff member of the factory world log in with code = name
    (login codes must be ASCII: the sandbox answers openid "sandbox-" + code)."""
    for name in names:
        Staff.update(mp_openid=f"sandbox-{name}").where(Staff.id == getattr(world, name).id).execute()
