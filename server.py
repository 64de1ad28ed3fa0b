"""Composition root: ``create_app()`` and the CLI (``python -m server …``).

The factory loads settings, binds the database proxy and Redis, registers blueprints —
nothing else (STYLE §1). Migrations, seeding and network calls are CLI commands.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from backend import config, replica
from backend.db import connect as connect_db
from backend.db import DATABASE_DOWN, db, init_database, pooled_url
from backend.redis_conn import connect_for_requests, verify_sentinel_service

log = logging.getLogger("ejia.server")
RETRY_AFTER_SECONDS = 5  # what a 503 asks clients to wait while the database or Redis is away
UNAVAILABLE_TEXT = "系统正在维护，请稍后再试。"


def bootstrap(overrides: dict | None = None, redis=None, pooled: bool = False) -> config.Settings:
    """Settings + database + outbox relay: what every process (web, worker, CLI) needs.
    ``redis``: the client the relay enqueues with — a web process passes its request client,
    and its relay retries the rows it could not enqueue (workers and the scheduler sweep);
    ``pooled``: a web process always pools its PostgreSQL connections (backend.db.pooled_url)."""
    settings = config.load_settings(**(overrides or {}))
    verify_sentinel_service(settings)  # a service no Sentinel knows: refuse to start, naming it
    config.install(settings)
    init_database(pooled_url(settings.database_url) if pooled else settings.database_url)
    replica.install(settings)  # DATABASE_REPLICA_URL: where report reads may go (backend/replica.py)
    from workers.relay import install_relay

    install_relay(settings, redis(settings) if redis else None, retry_left=redis is not None)
    return settings


def create_app(overrides: dict | None = None):
    import redis as redis_lib
    from flask import Flask, Response, jsonify, request
    from werkzeug.exceptions import MethodNotAllowed, NotFound

    from backend.errors import DomainError
    from backend.media_store import MediaUnavailable
    from workers.relay import installed as installed_relay

    settings = bootstrap(overrides, redis=connect_for_requests, pooled=True)
    app = Flask(__name__, static_folder=None)
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    app.extensions["ejia.settings"] = settings
    if settings.trusted_proxies:  # behind nginx: the client's address and scheme from X-Forwarded-*
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    app.extensions["ejia.redis"] = installed_relay().connection  # one request client: timeouts, breaker

    # Pay per route (issue 18): a request takes its database connection on its first query
    # (peewee's autoconnect; from the pool if pooled) and gives it back at teardown, so a route
    # that never touches the database pays nothing for it. /wechat opens its own, unprobed
    # (wechat.web: it spools a push when the database is down).
    db.obj.autoconnect = True
    # Adapters render their own error shape for a URL prefix (JSON under /mp/v1, the spec's
    # under /open311): ``respond(status) -> Response`` for 404/405 misses and 503s.
    error_shapes = app.extensions.setdefault("ejia.error_shapes", {})

    @app.teardown_request
    def _close_db(exc):
        if not db.is_closed():
            try:
                db.close()
            except DATABASE_DOWN as err:  # the server went away
                log.warning("closing the database connection failed: %s", err)

    def _shaped(status: int) -> Response | None:
        for prefix, respond in error_shapes.items():
            if request.path == prefix or request.path.startswith(prefix + "/"):
                return respond(status)
        return None

    @app.errorhandler(DomainError)
    def _domain_error(err: DomainError):
        return jsonify({"error": {"code": err.code, "message": err.message}}), err.status

    @app.errorhandler(NotFound)
    @app.errorhandler(MethodNotAllowed)
    def _routing_miss(err):
        """A URL no rule matches (e.g. a %0A in the path defeats a catch-all rule)."""
        response = _shaped(err.code)
        if response is None:
            return err
        if isinstance(err, MethodNotAllowed) and err.valid_methods:
            response.headers["Allow"] = ", ".join(err.valid_methods)
        return response

    @app.errorhandler(DATABASE_DOWN[0])
    @app.errorhandler(DATABASE_DOWN[1])
    @app.errorhandler(DATABASE_DOWN[2])
    @app.errorhandler(redis_lib.exceptions.ConnectionError)
    @app.errorhandler(redis_lib.exceptions.TimeoutError)
    @app.errorhandler(MediaUnavailable)
    def _unavailable(err):
        """The database (or Redis, or the media store, where a page needs it) cannot be reached:
        503, never a 500."""
        dependency = ("redis" if isinstance(err, redis_lib.RedisError)
                      else "media store" if isinstance(err, MediaUnavailable) else "database")
        log.error("%s %s: %s unavailable (%s: %s)", request.method, request.path, dependency,
                  type(err).__name__, str(err).strip()[:200])
        response = _shaped(503) or Response(UNAVAILABLE_TEXT, 503, content_type="text/plain; charset=utf-8")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.get("/healthz")
    def healthz():
        """200 while the database answers (Redis down is degraded, not down: nothing a resident
        sends depends on it); 503 naming the dependency that does not answer."""
        state = {"database": _database_answers(), "redis": _redis_answers(app.extensions["ejia.redis"])}
        down = [name for name, ok in state.items() if not ok]
        body = {"ok": state["database"], **{name: "up" if ok else "down" for name, ok in state.items()}}
        if down:
            body["down"] = down
        if replica.installed() is not None:  # where report reads go now, and why (never a 503 of its own)
            status = replica.installed().status()
            body["replica"] = {"reads": "replica" if status.usable else "primary", "state": status.reason,
                               "lag_seconds": status.lag_seconds}
        response = jsonify(body)
        if not state["database"]:
            response.status_code = 503
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for register in _blueprint_registrars():
        register(app)
    return app


def _database_answers() -> bool:
    try:
        connect_db()
        db.execute_sql("SELECT 1")
        return True
    except DATABASE_DOWN:
        return False


def _redis_answers(client) -> bool:
    import redis as redis_lib

    try:
        return bool(client.ping())
    except redis_lib.RedisError:
        return False


def _blueprint_registrars():
    """Each adapter package exposes ``register(app)``."""
    import console.web
    import miniprogram_api.web
    import mobile.web
    import open311.web
    import wechat.web

    return (wechat.web.register, miniprogram_api.web.register, console.web.register, open311.web.register,
            mobile.web.register)


# ---------------------------------------------------------------- CLI commands


def cmd_migrate(args) -> int:
    from backend.db import migrate

    bootstrap()
    applied = migrate()
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"), file=sys.stderr)
    return 0


def cmd_seed(args) -> int:
    import json

    from backend.db import migrate
    from backend.seed import seed_demo

    if bootstrap().production:  # before the migrations: nothing at all is written
        print("EJIA_ENV=production: seed --demo refuses (demo accounts share a public password); "
              "use `python -m server init`", file=sys.stderr)
        return 1
    migrate()
    with db.connection_context():
        summary = seed_demo(history=not args.no_history)
    json.dump(summary, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


def cmd_web(args) -> int:
    from backend import taxonomy

    app = create_app()
    taxonomy.warm_up()  # load the segmenter now, not inside a resident's first 5-second reply
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0


def cmd_worker(args) -> int:
    from workers.runner import run_worker

    settings = bootstrap()
    return run_worker(settings, burst=args.burst)


def cmd_scheduler(args) -> int:
    from workers.scheduler import run_scheduler

    settings = bootstrap()
    return run_scheduler(settings, once=args.once)


def cmd_sandbox(args) -> int:
    from sandbox import serve

    bootstrap()
    return serve(args.host, args.port)


def cmd_run(args) -> int:
    """web + worker + scheduler + sandbox as child processes sharing one embedded Redis."""
    import signal
    import subprocess
    import time

    from backend.db import migrate
    from backend.models import Area
    from backend.redis_conn import redis_url

    settings = bootstrap()
    migrate()
    with db.connection_context():
        empty = not Area.select().exists()
    env = dict(os.environ, REDIS_URL=redis_url(settings), EJIA_VAR=str(settings.var_dir))
    sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
    if not settings.wechat_api_base:
        env["WECHAT_API_BASE"] = sandbox_url
    if not settings.wechat_oauth_base:
        env["WECHAT_OAUTH_BASE"] = sandbox_url  # 网页授权 for the H5 pages, offline
    env.setdefault("NOTIFY_LINK", "h5")  # the demo has no mini-program to open: links open /m/… pages
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{args.port}")  # links and posters open here
    env.setdefault("EJIA_WECHAT_CALLBACK_URL", f"http://127.0.0.1:{args.port}/wechat")
    if empty and not args.no_seed:
        with open(settings.var_dir / "demo.json", "w") as out:
            subprocess.run([sys.executable, "-m", "server", "seed", "--demo"], env=env, stdout=out, check=True)
    commands = {
        "sandbox": ["sandbox", "--port", str(args.sandbox_port)],
        "worker": ["worker"],
        "scheduler": ["scheduler"],
        "web": ["web", "--host", "127.0.0.1", "--port", str(args.port)],
    }
    children = {name: subprocess.Popen([sys.executable, "-m", "server", *argv], env=env)
                for name, argv in commands.items()}
    # The demo account's menu, created through the client once the sandbox answers (ops/wechat_cmd.py).
    menu = subprocess.Popen([sys.executable, "-m", "server", "wechat", "menu", "--wait", "60"], env=env)
    base = f"http://127.0.0.1:{args.port}"
    print(f"""
e家 is running (Ctrl-C stops everything):
  web            {base}/healthz
  console        {base}/console
  mini-program   {base}/mp/v1/openapi.json
  Open311        {base}/open311/v2/discovery.json
  WeChat sandbox {sandbox_url}/_sandbox/chat   (chat simulator)
  demo data      {settings.var_dir / 'demo.json'}
""", file=sys.stderr)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    log.error("%s exited with %s; stopping", name, child.returncode)
                    stopping = True
            time.sleep(0.5)
    finally:
        for child in [*children.values(), menu]:
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


def cmd_jobs(args) -> int:
    from workers.cli import run

    settings = bootstrap()
    return run(settings, args.action, args.job_ids, queue_name=args.queue, all_jobs=args.all)


def cmd_spool(args) -> int:
    """The /wechat spool of this host (wechat/spool.py): what waits in it, or replay it now —
    the web processes replay it on their own once the database is back."""
    import json

    app = create_app()
    spool, replayer = app.extensions["ejia.wechat.spool"], app.extensions["ejia.wechat.replayer"]
    if args.action == "status":
        json.dump({"path": str(spool.path), "bytes": spool.size(), "pending": spool.pending()}, sys.stdout)
        sys.stdout.write("\n")
        return 0
    try:
        handled = replayer.replay_now()
    except DATABASE_DOWN as exc:
        print(f"the database is still unavailable: {exc}", file=sys.stderr)
        return 1
    if handled is None:
        print("another process is replaying the spool now", file=sys.stderr)
        return 1
    print(f"replayed {handled} push(es); the spool is empty", file=sys.stderr)
    return 0


def cmd_staff_bind_qr(args) -> int:
    from wechat.cli import cmd_staff_bind_qr as bind_qr

    bootstrap()
    return bind_qr(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server", description="e家 — 网格事件上报与处置")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="web + worker + scheduler + WeChat sandbox on the embedded defaults")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    p.add_argument("--sandbox-port", type=int, default=8001)
    p.add_argument("--no-seed", action="store_true")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("web", help="serve the web app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_web)
    p = sub.add_parser("worker", help="an RQ worker on all queues")
    p.add_argument("--burst", action="store_true", help="drain the queues and exit")
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("scheduler", help="periodic sweeps (outbox, SLA, revisits)")
    p.add_argument("--once", action="store_true")
    p.set_defaults(func=cmd_scheduler)
    p = sub.add_parser("sandbox", help="the local WeChat API stand-in")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.set_defaults(func=cmd_sandbox)
    p = sub.add_parser("seed", help="load demo data (prints one JSON document)")
    p.add_argument("--demo", action="store_true", required=True)
    p.add_argument("--no-history", action="store_true",
                   help="places, people and keys only: no six months of cases (benchmarks, fault tests)")
    p.set_defaults(func=cmd_seed)
    p = sub.add_parser("migrate", help="apply numbered migrations")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("jobs", help="failed RQ jobs: list them (failed) or run them again (retry); "
                                    "outbox rows waiting in their lanes (lanes)")
    p.add_argument("action", choices=("failed", "retry", "lanes"))
    p.add_argument("job_ids", nargs="*", help="ids of failed jobs to retry")
    p.add_argument("--queue", help="only this queue (send, route, notify, media, webhook, maintenance)")
    p.add_argument("--all", action="store_true", help="retry every failed job")
    p.set_defaults(func=cmd_jobs)
    p = sub.add_parser("spool", help="the /wechat spool of this host: status, or replay it now")
    p.add_argument("action", choices=("status", "replay"))
    p.set_defaults(func=cmd_spool)
    p = sub.add_parser("staff", help="staff accounts")
    staff_sub = p.add_subparsers(dest="staff_command", required=True)
    p = staff_sub.add_parser("bind-qr", help="print a one-time QR (JSON) that binds a staff member's WeChat")
    p.add_argument("staff_id", type=int)
    p.add_argument("--expire-seconds", type=int, default=600)
    p.set_defaults(func=cmd_staff_bind_qr)
    from ops.cli import add_commands  # init, import, posters, keys, calendar, check, wechat menu

    add_commands(sub, bootstrap)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except config.ConfigError as exc:
        print(f"配置错误 / configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
