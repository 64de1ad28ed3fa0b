"""Staff 待办 (todo) list at 1 000 000 events on PostgreSQL: median ≤ 10 ms (DESIGN §9, issue 6).

    PYTHONPATH=. .venv/bin/python bench/bench_todo.py [--url postgresql://postgres@127.0.0.1:5432/ejia_bench_todo]
                                                     [--events 1000000] [-n 300] [--fresh]

Builds (once; reused on later runs unless --fresh) a database of its own: 500 grids in 50
communities, one grid worker per grid, and N events written with COPY in a realistic mix
(≈ 88 % closed, a few % waiting or in hand, mostly held by grids). Then, for random grid
workers and community heads, it times:

* ``query``  — ``staff_tasks(staff, "todo")`` (COUNT + one page of 20) and the page's
  presentation (categories, areas, holders) on one open connection: what GET /mp/v1/tasks
  costs once a connection is at hand;
* ``request`` — the whole GET /mp/v1/tasks through the Flask app (token check, staff load,
  JSON), including the per-request database connect that server.py does today.

It prints EXPLAIN (ANALYZE) for the todo query and exits 1 if the plan scans the event table
sequentially or the ``query`` median misses 10 ms.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MS = 10.0  # the todo query on an open connection (issue 6)
REQUEST_TARGET_MS = 15.0  # the whole GET /mp/v1/tasks?view=todo (issue 18)
DONE_TARGET_MS = 50.0  # the whole GET /mp/v1/tasks?view=done (issue 18)
SENSITIVITY = ["public"] * 95 + ["internal"] * 3 + ["sensitive"] * 2
STATUS_MIX = [("closed", 880), ("assigned", 30), ("processing", 40), ("resolved", 15), ("reported", 5),
              ("rejected", 10), ("merged", 10), ("withdrawn", 10)]
COLUMNS = ("number", "description", "category_id", "status", "holder_level", "holder_area_id", "holder_staff_id",
           "lat", "lng", "grid_id", "area_path", "source", "location_confirmed", "anonymous", "urgent",
           "quick_record", "sla_level", "reopen_count", "accept_due_at", "resolve_due_at", "created_at",
           "updated_at", "closed_at", "sensitivity", "holder_path")


def ensure_database(url: str) -> None:
    import psycopg2

    name = url.rsplit("/", 1)[1]
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def build_places():
    """500 grids: 2 districts × 5 streets × 5 communities × 10 grids, one worker per grid."""
    from backend.models import Area, Staff
    from backend.seed import seed_categories

    def area(parent, level, name, code):
        row = Area.create(parent=parent, level=level, name=name, code=code)
        row.path = (parent.path if parent else "/") + f"{row.id}/"
        row.save()
        return row

    seed_categories()
    city = area(None, "city", "漳州市", "350600")
    grids = []
    for d in range(2):
        district = area(city, "district", f"区{d}", f"35060{d + 1}")
        for s in range(5):
            street = area(district, "street", f"街道{d}{s}", f"35060{d + 1}{s:03d}")
            Staff.create(name=f"中心{d}{s}", role="centre_operator", area=street)
            for c in range(5):
                community = area(street, "community", f"社区{d}{s}{c}", f"35060{d + 1}{s:03d}{c:03d}")
                Staff.create(name=f"社区{d}{s}{c}", role="community_head", area=community)
                for g in range(10):
                    grid = area(community, "grid", f"网格{d}{s}{c}{g}", f"35060{d + 1}{s:03d}{c:03d}{g:03d}")
                    Staff.create(name=f"网格员{d}{s}{c}{g}", role="grid_worker", area=grid)
                    grids.append(grid)
    return grids


def _rows(total: int, grids, categories, workers, seed: int = 6):
    """CSV lines for COPY, in chunks."""
    rng = random.Random(seed)
    statuses = [s for s, w in STATUS_MIX for _ in range(w)]
    start = dt.datetime(2024, 1, 1)
    per_day = 1000
    for i in range(total):
        grid = grids[rng.randrange(len(grids))]
        status = statuses[rng.randrange(len(statuses))]
        created = start + dt.timedelta(minutes=i * 1440 // per_day)
        level = area_id = staff = holder_path = ""
        if status in ("assigned", "processing", "resolved", "closed"):
            roll = rng.random()
            if roll < 0.85:
                level, area_id, holder_path = "grid", grid.id, grid.path
                staff = workers[grid.id] if status != "assigned" or roll < 0.5 else ""
            elif roll < 0.95:
                level, area_id = "community", grid.parent_id
                holder_path = grid.path.rsplit("/", 2)[0] + "/"
            else:
                level, area_id = "centre", int(grid.path.strip("/").split("/")[2])
                holder_path = "/" + "/".join(grid.path.strip("/").split("/")[:3]) + "/"
        closed = created + dt.timedelta(days=2) if status == "closed" else None
        yield "\t".join(str(v) if v is not None else "\\N" for v in (
            f"{created:%Y%m%d}-{i % per_day + 1:04d}", "楼道堆物", rng.choice(categories), status, level or None,
            area_id or None, staff or None, 24.5, 117.6, grid.id, grid.path, "wechat", "t", "f", "f", "f", "ok", 0,
            created + dt.timedelta(hours=rng.randrange(1, 96)), created + dt.timedelta(days=5), created,
            created, closed, SENSITIVITY[rng.randrange(len(SENSITIVITY))], holder_path or None)) + "\n"


def load_events(database, total: int, grids) -> None:
    from backend.models import Category, Staff

    categories = [c.id for c in Category.select().where(Category.parent.is_null(False))]
    workers = {s.area_id: s.id for s in Staff.select().where(Staff.role == "grid_worker")}
    conn = database.connection()
    started = time.perf_counter()
    chunk, buffer = 0, io.StringIO()
    with conn.cursor() as cur:
        for line in _rows(total, grids, categories, workers):
            buffer.write(line)
            chunk += 1
            if chunk == 100_000:
                buffer.seek(0)
                cur.copy_expert(f"COPY event ({', '.join(COLUMNS)}) FROM STDIN", buffer)
                chunk, buffer = 0, io.StringIO()
        if chunk:
            buffer.seek(0)
            cur.copy_expert(f"COPY event ({', '.join(COLUMNS)}) FROM STDIN", buffer)
        cur.execute("ANALYZE")
    conn.commit()
    print(f"loaded {total} events with COPY in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def explain(database, staff) -> str:
    """EXPLAIN ANALYZE of the two statements behind a todo page: the page and its total."""
    from peewee import fn

    from backend.models import Event
    from backend.services import queries

    where = queries.holding_clause(staff) & (Event.status == "assigned")
    page = Event.select().where(where).order_by(Event.accept_due_at.asc(nulls="LAST"), Event.id).limit(20)
    total = Event.select(fn.COUNT(Event.id)).where(where)
    plans = []
    for query in (page, total):
        sql, params = query.sql()
        cursor = database.execute_sql("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
        plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return "\n---\n".join(plans)


def explain_done(database, staff) -> str:
    """EXPLAIN ANALYZE of every statement behind a 已办 (done) page."""
    from backend.services import queries

    plans = []
    for query in queries.done_statements(staff, 1, 20):
        sql, params = query.sql()
        cursor = database.execute_sql("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
        plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return "\n---\n".join(plans)


def time_query(staff_list, n: int, view: str = "todo") -> list[float]:
    from backend.services import queries
    from miniprogram_api import presenters

    samples = []
    for i in range(n):
        staff = staff_list[i % len(staff_list)]
        t0 = time.perf_counter()
        page = queries.staff_tasks(staff, view, 1, 20)
        book = presenters.TaskBook(page.items)
        [presenters.task_out(e, view, book) for e in page.items]
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def time_requests(url: str, staff_list, n: int) -> dict[str, list[float]]:
    from backend.db import db
    from miniprogram_api.auth import issue_token
    from server import create_app

    tmp = Path(tempfile.mkdtemp(prefix="ejia-bench-todo-"))
    app = create_app({"env": "test", "var_dir": tmp, "database_url": url})
    app.extensions["ejia.mp.limiter"].enabled = False
    client = app.test_client()
    from backend.models import Staff

    tokens = []
    with app.app_context(), db.connection_context():
        for staff in staff_list:
            openid = f"bench-{staff.id}"
            Staff.update(mp_openid=openid).where(Staff.id == staff.id).execute()
            tokens.append(issue_token("staff", staff.id, openid)[0])
    samples: dict[str, list[float]] = {"todo": [], "done": []}
    for view in samples:  # warm the pool and the caches
        for token in tokens[:10]:
            client.get(f"/mp/v1/tasks?view={view}", headers={"Authorization": f"Bearer {token}"})
    for i in range(n):
        for view in samples:
            headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
            t0 = time.perf_counter()
            res = client.get(f"/mp/v1/tasks?view={view}", headers=headers)
            samples[view].append((time.perf_counter() - t0) * 1000)
            assert res.status_code == 200, res.get_data(as_text=True)
    return samples


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"{name:8s} median {statistics.median(samples):6.2f} ms   p95 {p95:6.2f} ms   (n={len(samples)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/ejia_bench_todo")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--fresh", action="store_true", help="drop and rebuild the data")
    args = parser.parse_args()

    from backend import config
    from backend.db import db, init_database, migrate
    from backend.models import Area, Event, Staff

    ensure_database(args.url)
    config.install(config.load_settings(environ={}, env="test", var_dir=Path(tempfile.mkdtemp()),
                                        database_url=args.url))
    database = init_database(args.url)
    with database.connection_context():
        if args.fresh:
            database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        migrate(database)
    with database.connection_context():
        have = Event.select().count()
        if have != args.events:
            database.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            migrate(database)
            with db.atomic():
                grids = build_places()
            load_events(database, args.events, grids)
        workers = list(Staff.select().where(Staff.role == "grid_worker").order_by(Staff.id))
        heads = list(Staff.select().where(Staff.role == "community_head").order_by(Staff.id))
        rng = random.Random(1)
        sample = rng.sample(workers, min(80, len(workers))) + rng.sample(heads, min(20, len(heads)))
        rng.shuffle(sample)
        for staff in sample:
            staff.area = Area.get_by_id(staff.area_id)
        print(f"events: {Event.select().count()}, grids: {len(workers)}", file=sys.stderr)
        plan = explain(database, workers[0]) + "\n---\n" + explain(database, heads[0])
        print(plan)
        centre = Staff.get(Staff.role == "centre_operator")
        centre.area = Area.get_by_id(centre.area_id)
        done_plan = explain_done(database, workers[0]) + "\n---\n" + explain_done(database, heads[0])
        print(done_plan)
        time_query(sample, 30)  # warm caches and imports
        query_ms = time_query(sample, args.n)
        done_ms = time_query(sample, args.n, "done")
        done_centre_ms = time_query([centre], max(20, args.n // 5), "done")
    requests_ms = time_requests(args.url, sample[:50], args.n)
    print(summary("query", query_ms))
    print(summary("request", requests_ms["todo"]))
    print(summary("done q", done_ms))
    print(summary("done q, street centre", done_centre_ms))
    print(summary("done rq", requests_ms["done"]))
    failed = False
    for name, samples, target in (("todo request", requests_ms["todo"], REQUEST_TARGET_MS),
                                  ("done request", requests_ms["done"], DONE_TARGET_MS)):
        if statistics.median(samples) > target:
            print(f"FAIL: {name} median {statistics.median(samples):.2f} ms > {target} ms", file=sys.stderr)
            failed = True
    if "Seq Scan on event" in plan:
        print("FAIL: the todo query scans the event table sequentially", file=sys.stderr)
        failed = True
    if statistics.median(query_ms) > TARGET_MS:
        print(f"FAIL: median {statistics.median(query_ms):.2f} ms > {TARGET_MS} ms", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
