"""Warm before serving (issue 13): under gunicorn with the project's gunicorn.conf.py, the app
and jieba's dictionary are loaded before the socket accepts anything, so the first push after
a start is answered like any other — it used to wait 5–6 s for a worker to finish loading."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from backend import geo
from tests.factories import make_world
from tests.fixtures_web import ROOT, WeChatUser, free_port, settings_environ
from workers.testing import stop_process, wait_for

FIRST_ANSWER_S = 2.0  # generous for a loaded machine; a cold worker took 5.1–5.9 s


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_first_push_after_a_start_is_answered_at_once(live_app, settings):
    world = make_world()  # categories with keywords: the reply needs the segmenter
    port = free_port()
    env = dict(os.environ, **settings_environ(settings), PYTHONPATH=str(ROOT))
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                               "--workers", "2", "--worker-class", "gthread", "--threads", "2",
                               "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "server:create_app()"],
                              cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_for(lambda: server.poll() is not None or _accepts(port), timeout=60, interval=0.01)
        assert server.poll() is None, "gunicorn exited"
        user = WeChatUser(f"http://127.0.0.1:{port}", token=settings.wechat_token, app_id=settings.wechat_app_id,
                          aes_key=settings.wechat_aes_key)
        started = time.perf_counter()
        reply = user.send_text("楼道的路灯坏了，晚上很黑")  # the very first request it serves
        elapsed = time.perf_counter() - started
        assert "在哪里" in reply
        assert elapsed < FIRST_ANSWER_S, f"the first push took {elapsed:.2f} s"
        reply = user.send_location(*geo.wgs84_to_gcj02(*world.in_a))
        assert "请核对" in reply
    finally:
        stop_process(server)
