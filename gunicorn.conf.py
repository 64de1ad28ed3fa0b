"""gunicorn settings for `gunicorn 'server:create_app()'` (production)."""


def post_worker_init(worker):
    # Load jieba's dictionary before the first request: a chat reply must come within 5 s.
    from backend import taxonomy

    taxonomy.warm_up()
