"""PostgreSQL stopped under a steady stream of chat and mini-program reports (issue 13).

Everything private to the run (tests/outage.py): a PostgreSQL cluster from ``initdb``, a
redis-server, the app under gunicorn (2 workers, gthread, safe-mode pushes), the WeChat
sandbox. The cluster is stopped for ``--outage`` seconds mid-stream and started again;
``python -m server worker --burst`` then delivers what waited. Prints the figures:

* pushes received during the outage, and answered from the spool;
* how many of those were filed after recovery (goal: all);
* duplicates — events filed twice, or a late answer recorded twice (goal: 0);
* 5xx answers (goal: 0; the mini-program's 503 with Retry-After while the database is away
  is its documented answer, counted apart);
* seconds from the database accepting connections again to the last spooled push filed.

Exits 1 when a goal is missed.

    .venv/bin/python bench/bench_faults.py [--outage 10] [--chat 3] [--mp 1] [--gap 0.25]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def hardware() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    return f"{os.cpu_count()} vCPU {cpu}, {memory_kb / 1024 / 1024:.0f} GB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage", type=float, default=10.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--chat", type=int, default=3, help="chat residents reporting at once")
    parser.add_argument("--mp", type=int, default=1, help="mini-program residents reporting at once")
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between one resident's messages")
    args = parser.parse_args()

    from backend import config
    from tests.fixtures_sandbox import start_sandbox
    from tests.outage import run_outage, summary

    var_dir = Path(tempfile.mkdtemp(prefix="ejia-bench-faults-"))
    settings = config.install(config.load_settings(environ={}, env="test", var_dir=var_dir,
                                                   database_url=f"sqlite:///{var_dir / 'unused.db'}",
                                                   redis_url="redis://127.0.0.1:1/0"))
    sandbox, stop_sandbox = start_sandbox(settings)
    try:
        report = run_outage(settings, sandbox.url, outage_s=args.outage, chat_residents=args.chat,
                            mp_residents=args.mp, gap_s=args.gap, log=lambda text: print(text, file=sys.stderr))
    finally:
        stop_sandbox()
        shutil.rmtree(var_dir, ignore_errors=True)
    figures = summary(report)
    print(f"hardware: {hardware()}")
    print(json.dumps(figures, ensure_ascii=False, indent=1))
    print(f"PostgreSQL down {figures['outage_s']} s: {figures['pushes_received_during_outage']} pushes received "
          f"during the outage ({figures['pushes_answered_from_spool']} answered from the spool), "
          f"{figures['spooled_filed_after_recovery']} filed after recovery, {figures['duplicates']} duplicates, "
          f"{figures['http_5xx']} × 5xx, last spooled push filed "
          f"{figures['recovery_to_last_spooled_filed_s']} s after the database was back")
    missed = [goal for goal, ok in (
        ("all spooled pushes filed", figures["spooled_filed_after_recovery"] == figures["pushes_answered_from_spool"]),
        ("no duplicates", figures["duplicates"] == 0),
        ("no 5xx", figures["http_5xx"] == 0),
        ("every mini-program report filed", figures["mp_reports_filed"] == figures["mp_reports"]),
        ("every confirmed chat report filed", figures["chat_reports_filed"] == figures["chat_reports_confirmed"]),
        ("the worker finished", report.worker_returncode == 0),
    ) if not ok]
    if missed:
        print("MISSED: " + "; ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
