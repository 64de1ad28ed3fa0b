"""Where /wechat's time goes, without gunicorn: CPU per request of the echo and of /wechat in one
process, over WSGI, and the CPU PostgreSQL and Redis spend per push (docs/benchmarks.md, "/wechat
÷ the bare echo").

The app is bench_wechat's ``protocol_app`` (the fixed reply instead of the dialog); the requests
are bench_wechat's own (signed, encrypted, one new openid and MsgId each). Requests run one after
another in this process: 200 to warm up, then ``-n`` timed. The database server's and Redis'
share is read from /proc (every ``postgres`` and ``redis`` process on this machine, so run it on a
quiet one). Prints figures; it has no target of its own.

    .venv/bin/python bench/bench_wechat_cpu.py [--database-url postgresql+pool://…] [--redis-url redis://…] [-n 800]
"""
from __future__ import annotations

import argparse
import glob
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def server_cpu_seconds() -> float:
    """utime + stime of every postgres and redis process (the servers the push talks to)."""
    ticks = 0
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as stat:
                data = stat.read()
        except OSError:
            continue
        name = data[data.index("(") + 1:data.rindex(")")]
        if name.startswith(("postgres", "redis")):
            fields = data[data.rindex(")") + 2:].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgresql+pool://postgres@127.0.0.1:5432/ejia_bench_wx")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("-n", type=int, default=800)
    args = parser.parse_args()
    from backend import config
    from backend.db import init_database, migrate

    var_dir = Path(tempfile.mkdtemp(prefix="ejia-bench-cpu-"))
    settings = config.load_settings(environ={}, env="test", var_dir=var_dir, database_url=args.database_url,
                                    redis_url=args.redis_url)
    init_database(args.database_url)
    migrate()
    os.environ.update(EJIA_ENV="test", EJIA_VAR=str(var_dir), DATABASE_URL=args.database_url, REDIS_URL=args.redis_url,
                      WECHAT_TOKEN=settings.wechat_token, WECHAT_AES_KEY=settings.wechat_aes_key,
                      WECHAT_APP_ID=settings.wechat_app_id, LOG_LEVEL="WARNING")
    import bench_wechat

    app = bench_wechat.protocol_app(False)

    def requests(path: str, seed: str) -> list[tuple[str, str, bytes]]:
        out = []
        for raw in bench_wechat.build_requests(80, path, 200 + args.n, seed, settings.wechat_token,
                                               settings.wechat_aes_key, settings.wechat_app_id):
            head, body = raw.split(b"\r\n\r\n", 1)
            target = head.split(b"\r\n")[0].split(b" ")[1].decode()
            out.append((*target.split("?", 1), body))
        return out

    def call(path: str, query: str, body: bytes) -> None:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
                   "CONTENT_TYPE": "text/xml", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
                   "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
                   "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False}
        status = []
        b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
        if not status[0].startswith("200"):
            raise SystemExit(f"{path}: {status[0]}")

    seed = str(time.time_ns())
    figures = {}
    for name, path in (("echo", "/_bench/echo"), ("/wechat", "/wechat")):
        batch = requests(path, seed + name.strip("/"))
        for request in batch[:200]:
            call(*request)
        server0, cpu0, wall0 = server_cpu_seconds(), time.process_time(), time.perf_counter()
        for request in batch[200:]:
            call(*request)
        figures[name] = [(time.process_time() - cpu0) / args.n * 1e6, (time.perf_counter() - wall0) / args.n * 1e6,
                         (server_cpu_seconds() - server0) / args.n * 1e6]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"{args.n} requests each, one after another, {os.cpu_count()} cores ({cpu}); {args.database_url.split('://')[0]}")
    print(f"{'':8} {'app CPU µs':>11} {'wall µs':>9} {'PostgreSQL + Redis CPU µs':>26}")
    for name, (app_cpu, wall, server) in figures.items():
        print(f"{name:8} {app_cpu:11.0f} {wall:9.0f} {server:26.0f}")
    extra = figures["/wechat"][0] - figures["echo"][0]
    print(f"/wechat's extra: {extra:.0f} µs of the app's Python and {figures['/wechat'][2]:.0f} µs of the servers' CPU per push")
    return 0


if __name__ == "__main__":
    sys.exit(main())
