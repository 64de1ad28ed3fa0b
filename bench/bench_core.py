"""Submit and route latency (issue 2 figures): median ≤ 5 ms each on PostgreSQL.

    PYTHONPATH=. .venv/bin/python bench/bench_core.py [--url postgresql://postgres@127.0.0.1:5432/ejia_bench] [-n 500]

Creates (or resets) the bench database, seeds the demo, then times N submissions (grid
lookup, event row, step, outbox row in one transaction) and N routings (holder chosen,
step, outbox row). The outbox relay is not installed, so no Redis round trip is counted:
the figure is the domain core's own cost. Exits 1 if a median misses its target.

On PostgreSQL it also prices the metric triggers (migration 0014, ``metric_sum``): the same
work in three rounds — triggers on, off (``ALTER TABLE … DISABLE TRIGGER USER``), on again —
and prints the medians with the triggers against without, as a ratio of the same run.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend import config  # noqa: E402
from backend.db import db, init_database, migrate  # noqa: E402
from backend.models import Resident  # noqa: E402
from backend.seed import seed_demo  # noqa: E402
from backend.services.context import resident_actor  # noqa: E402
from backend.services.events import Submission, route_event, submit_event  # noqa: E402

TARGET_MS = 5.0


def reset_postgres(url: str) -> None:
    import psycopg2

    name = url.rsplit("/", 1)[1]
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/test")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name}")
    admin.close()


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/ejia_bench")
    parser.add_argument("-n", type=int, default=500)
    args = parser.parse_args()
    if args.url.startswith("postgres"):
        reset_postgres(args.url)
    tmp = tempfile.mkdtemp()
    config.install(config.load_settings(environ={}, var_dir=Path(tmp), database_url=args.url, redis_url="unused"))
    init_database(args.url)
    migrate()
    rng = random.Random(7)
    with db.connection_context():
        summary = seed_demo(history=False)
        grids = [a for a in summary["areas"] if a["level"] == "grid"]
        categories = [c["code"] for c in summary["categories"]]
        resident = Resident.create(oa_openid="bench")
        actor = resident_actor(resident)
        pg = args.url.startswith("postgres")
        rounds = [True, False, True] if pg else [True]
        timed = {on: {"submit": [], "route": []} for on in rounds}
        for number, triggers in enumerate(rounds):
            if pg:
                for table in ("event", "rating", "revisit"):
                    db.execute_sql(f"ALTER TABLE {table} {'ENABLE' if triggers else 'DISABLE'} TRIGGER USER")
            ids = []
            for i in range(number * args.n, (number + 1) * args.n):
                lat, lng = rng.choice(grids)["inside_point"]
                sub = Submission(description=f"第{i}件：楼道里堆了纸箱", reporter=actor, lat=lat, lng=lng,
                                 category_code=rng.choice(categories), client_key=f"bench-{i}")
                t0 = time.perf_counter()
                result = submit_event(sub)
                timed[triggers]["submit"].append((time.perf_counter() - t0) * 1000)
                ids.append(result.event.id)
            for event_id in ids:
                t0 = time.perf_counter()
                route_event(event_id)
                timed[triggers]["route"].append((time.perf_counter() - t0) * 1000)
        submit_ms, route_ms = timed[True]["submit"], timed[True]["route"]
    ok = True
    engine = "PostgreSQL" if args.url.startswith("postgres") else "SQLite"
    print(f"{engine}, {len(submit_ms)} events timed, demo seed ({len(grids)} grids)")
    for name, values in (("submit", submit_ms), ("route", route_ms)):
        median = statistics.median(values)
        print(f"{name:7s} median {median:6.2f} ms  p95 {percentile(values, .95):6.2f} ms  "
              f"p99 {percentile(values, .99):6.2f} ms  (target median ≤ {TARGET_MS} ms)")
        ok &= median <= TARGET_MS
    if False in timed:
        for name in ("submit", "route"):
            on, off = statistics.median(timed[True][name]), statistics.median(timed[False][name])
            print(f"{name:7s} with the metric triggers ÷ without: {on:.2f} ÷ {off:.2f} ms = {on / off:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
