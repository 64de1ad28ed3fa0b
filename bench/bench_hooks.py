"""What each app-wide hook costs a request (issue 18, item 1: every route pays only for what it uses).

The WeChat echo (signature check, decrypt, encrypted echo — ``bench_wechat``'s ``/_bench/echo``)
is called straight through WSGI, in this process, on:

- ``bare``: the echo alone in a bare Flask app (the baseline);
- ``app``: the real ``server.create_app()`` with the echo added, as it ships;
- ``app + eager connection``: plus the hook the app had before — a database connection taken (and
  probed with ``SELECT 1``) before every request, returned after;
- ``app + session everywhere``: plus Flask's cookie session opened on every route, not only /console;
- ``app + app-wide limiter``: plus the mini-program's rate-limit hooks on every route, not only /mp/v1.

Variants alternate over ``--rounds`` rounds of ``--requests`` calls; the median µs per request of
each is kept (wall time, which includes the database round trips, and this process's CPU), and
each hook's cost is its variant minus ``app``. The figure the issue sets is the ratio bare ÷ app
(≥ 0.85), here in wall time per request; the load test over gunicorn (``bench_wechat``) measures
the same thing as throughput. Exits 1 when the ratio is under the goal.

    PYTHONPATH=. .venv/bin/python bench/bench_hooks.py [--database-url postgresql+pool://…] [--redis-url redis://…]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

GOAL = 0.85


def _environs(raw_requests: list[bytes]) -> list[dict]:
    out = []
    for raw in raw_requests:
        head, body = raw.split(b"\r\n\r\n", 1)
        target = head.split(b" ")[1].decode()
        path, _, query = target.partition("?")
        out.append({"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "bench",
                    "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                    "CONTENT_TYPE": "text/xml", "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1",
                    "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
                    "wsgi.run_once": False, "_body": body})
    return out


def _call(app, environ: dict) -> None:
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(env.pop("_body"))
    status = []
    body = b"".join(app(env, lambda s, h, exc_info=None: status.append(s)))
    if not status or not status[0].startswith("200") or not body:
        raise SystemExit(f"echo failed: {status} {body[:200]!r}")


def _eager_connection(app) -> None:
    from backend.db import connect, db

    def open_db():
        connect()  # the old hook: every request, probed (the probe forced, as it was)
        db.execute_sql("SELECT 1")
    app.before_request_funcs.setdefault(None, []).insert(0, open_db)


def _session_everywhere(app) -> None:
    from flask.sessions import SecureCookieSessionInterface

    app.session_interface = SecureCookieSessionInterface()


def _limiter_everywhere(app) -> None:
    """The mini-program limiter's hooks on every request again (what ``init_app`` alone does)."""
    from flask import request

    moved = app.extensions["ejia.mp.limiter_hooks"]
    app.extensions["ejia.mp.limiter"].request_filter(lambda: request.blueprint != "mp")  # as it was
    for kind, funcs in (("before", app.before_request_funcs), ("after", app.after_request_funcs),
                        ("teardown", app.teardown_request_funcs)):
        funcs.setdefault(None, []).extend(moved[kind])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    parser.add_argument("--redis-url", default="", help="default: embedded Redis")
    args = parser.parse_args()

    import bench_wechat as bw
    from backend import config
    from backend.db import init_database, migrate

    var_dir = Path(tempfile.mkdtemp(prefix="ejia-bench-hooks-"))
    database_url = args.database_url or f"sqlite+pool:///{var_dir / 'bench.db'}?check_same_thread=false"
    os.environ.update(EJIA_ENV="test", EJIA_VAR=str(var_dir), DATABASE_URL=database_url, LOG_LEVEL="WARNING")
    if args.redis_url:
        os.environ["REDIS_URL"] = args.redis_url
    settings = config.load_settings()
    os.environ.update(WECHAT_TOKEN=settings.wechat_token, WECHAT_AES_KEY=settings.wechat_aes_key,
                      WECHAT_APP_ID=settings.wechat_app_id)
    init_database(database_url)
    migrate()

    variants = {"bare": bw.baseline_app()}
    for name, change in (("app", None), ("app + eager connection", _eager_connection),
                         ("app + session everywhere", _session_everywhere),
                         ("app + app-wide limiter", _limiter_everywhere)):
        app = bw.protocol_app()
        if change:
            change(app)
        variants[name] = app
    environs = _environs(bw.build_requests(0, "/_bench/echo", args.requests, "hooks", settings.wechat_token,
                                           settings.wechat_aes_key, settings.wechat_app_id))
    for app in variants.values():  # warm up
        for environ in environs[:200]:
            _call(app, environ)
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, app in variants.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            for environ in environs:
                _call(app, environ)
            wall[name].append((time.perf_counter() - started) / len(environs) * 1e6)
            cpu[name].append((time.process_time() - started_cpu) / len(environs) * 1e6)
    w = {name: statistics.median(values) for name, values in wall.items()}
    c = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"database {database_url.split('@')[-1]}, {args.rounds} rounds × {args.requests} requests, "
          f"µs per request (median round): wall time (includes database round trips) / this process's CPU")
    for name in variants:
        extra = "" if name in ("bare", "app") else \
            f"   the hook costs {w[name] - w['app']:+.0f} µs wall / {c[name] - c['app']:+.0f} µs CPU"
        print(f"  {name:28s} {w[name]:7.0f} / {c[name]:5.0f} µs{extra}")
    ratio = w["bare"] / w["app"]
    print(f"bare ÷ app = {ratio:.2f} wall, {c['bare'] / c['app']:.2f} CPU (goal ≥ {GOAL}); with the old "
          f"eager connection it was {w['bare'] / w['app + eager connection']:.2f} wall")
    print("OK" if ratio >= GOAL else "GOAL MISSED")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
