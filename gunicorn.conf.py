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
"""

preload_app = True


def on_starting(server):
    from backend import taxonomy

    taxonomy.warm_up()  # in the master, before the socket is bound and the workers forked


def post_worker_init(worker):
    # A no-op after the master's warm-up; it matters only if preloading is switched off.
    from backend import taxonomy

    taxonomy.warm_up()
