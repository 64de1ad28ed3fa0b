"""Web worker memory (DESIGN §9, issue 15 item 7): unique memory per gunicorn worker after warm-up.

Starts the real app under gunicorn with the README's settings (2 gthread workers) twice — with
the repository's gunicorn.conf.py (the app and jieba's dictionary loaded in the master before
the fork, shared copy-on-write) and, for reference in the same run, with no config (each worker
loads everything itself) — warms every worker the way traffic does (chat pushes that run the
dialog, the category suggester and the emergency recogniser; public Open311 lists that mask
names; the mini-program spec), then reads each worker's USS (memory only it holds), PSS and RSS
with psutil. Exit 1 when a preloaded worker holds more than 120 MB of its own.

    PYTHONPATH=. .venv/bin/python bench/bench_memory.py [--workers 2] [--pushes 60]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_wechat import free_port, prepare_stack  # noqa: E402

GOAL_MB = 120
TEXTS = ("楼道里堆满了纸箱", "楼下垃圾好几天没人清了", "路灯坏了很危险", "邻居装修太吵", "着火了快来人")


def start(env: dict, workers: int, preload: bool) -> tuple[subprocess.Popen, int]:
    port = free_port()
    empty = Path(env["EJIA_VAR"]) / "no_gunicorn_conf.py"
    empty.write_text("")
    config = [] if preload else ["-c", str(empty)]  # no settings: no preload, no warm-up in the master
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", *config, "--workers", str(workers),
                             "--worker-class", "gthread", "--threads", "4", "--bind", f"127.0.0.1:{port}",
                             "--log-level", "warning", "server:create_app()"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {proc.returncode}")
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("gunicorn did not start")


def warm(port: int, settings, pushes: int) -> None:
    from tests.fixtures_web import WeChatUser

    base = f"http://127.0.0.1:{port}"
    for i in range(pushes):
        user = WeChatUser(base, token=settings.wechat_token, app_id=settings.wechat_app_id,
                          aes_key=settings.wechat_aes_key, mode="plain")
        user.send_text(TEXTS[i % len(TEXTS)])
        for path in ("/open311/v2/requests.json", "/open311/v2/services.json", "/mp/v1/openapi.json"):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                response.read()


def measure(proc: subprocess.Popen) -> list[dict]:
    out = []
    for child in psutil.Process(proc.pid).children():
        info = child.memory_full_info()
        out.append({"pid": child.pid, "uss": info.uss / 2**20, "pss": info.pss / 2**20, "rss": info.rss / 2**20})
    return out


def run(env, settings, workers: int, pushes: int, preload: bool) -> list[dict]:
    proc, port = start(env, workers, preload)
    try:
        warm(port, settings, pushes)
        return measure(proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pushes", type=int, default=60)
    args = parser.parse_args()
    stack = prepare_stack(SimpleNamespace(database_url=None, redis_url=""))
    env = dict(stack["env"], WECHAT_ENCRYPT_MODE="plain")
    print(f"gunicorn {args.workers} gthread workers × 4 threads, SQLite + embedded Redis, "
          f"{args.pushes} chat pushes + 3×{args.pushes} GETs to warm, {os.cpu_count()} CPUs")
    figures = {}
    for preload in (False, True):
        rows = run(env, stack["settings"], args.workers, args.pushes, preload)
        name = "preloaded (gunicorn.conf.py)" if preload else "each worker loads itself"
        figures[preload] = rows
        for row in rows:
            print(f"  {name:30} worker {row['pid']}: USS {row['uss']:6.1f} MB  PSS {row['pss']:6.1f} MB  "
                  f"RSS {row['rss']:6.1f} MB")
    worst = max(r["uss"] for r in figures[True])
    before = max(r["uss"] for r in figures[False])
    print(f"largest unique memory per worker: {worst:.1f} MB preloaded vs {before:.1f} MB not "
          f"({worst / before:.2f} of it); goal ≤ {GOAL_MB} MB")
    return 0 if worst <= GOAL_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
