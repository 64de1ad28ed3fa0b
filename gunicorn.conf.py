"""gunicorn settings for `gunicorn 'server:create_app()'` (production; gunicorn reads this file
from the working directory).

Warm before serving (issue 13): gunicorn binds its socket before it forks workers, and a
worker that loads the app itself accepts nothing until it has — so the first pushes after a
start queued for 5–6 s, past WeChat's 5-second budget. With ``preload_app`` the master loads
the app, and ``on_starting`` (after the preload, before the socket is bound) loads jieba's
dictionary: connections are accepted only when everything is ready, and forked workers
share the loaded segmenter copy-on-write instead of each reading it again. Nothing opens a
database or Redis connection while the app is created (connections are per request), so
forking after the preload shares no socket between workers.

Settings are checked when this file is read, before gunicorn loads the app: a setting that
cannot be used (a Sentinel service no Sentinel knows, a missing production secret) stops
gunicorn with the same one-line message as ``python -m server``, not an app-loading traceback.
"""
import os
import sys

preload_app = True


def _refuse_unusable_settings():
    # gunicorn reads this file before it puts the app's directory on sys.path (the `gunicorn`
    # script's own directory is there instead): the project is where this file is.
    root = os.path.dirname(os.path.abspath(__file__))
    if root not in sys.path:
        sys.path.insert(0, root)
    from backend import config
    from backend.redis_conn import verify_sentinel_service

    try:
        verify_sentinel_service(config.load_settings())
    except config.ConfigError as exc:
        print(f"配置错误 / configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


_refuse_unusable_settings()


def on_starting(server):
    from backend import taxonomy

    taxonomy.warm_up()  # in the master, before the socket is bound and the workers forked


def post_worker_init(worker):
    # A no-op after the master's warm-up; it matters only if preloading is switched off.
    from backend import taxonomy

    taxonomy.warm_up()
