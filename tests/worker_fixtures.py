"""Settings for tests that run jobs: sandbox-pointed, installed for the jobs, relay listening."""
from __future__ import annotations

import contextlib

import pytest

from backend import config
from workers import relay


@contextlib.contextmanager
def worker_settings_installed(worker_settings: config.Settings, test_settings: config.Settings):
    installed = config.install(worker_settings)
    relay.install_relay(installed)
    try:
        yield installed
    finally:
        relay.uninstall_relay()
        config.install(test_settings)


@pytest.fixture
def env(sandbox, redis_conn, settings):
    """Sandbox-pointed settings installed for the jobs, the relay listening, quiet hours off."""
    with worker_settings_installed(sandbox.settings.with_overrides(quiet_hours="off"), settings) as installed:
        yield installed
