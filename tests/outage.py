"""A PostgreSQL outage under a steady stream of chat and mini-program reports (issue 13).

Used by tests/e2e/test_database_outage.py (asserts) and bench/bench_faults.py (prints the
figures). Everything is real and private to the run: a PostgreSQL cluster (``initdb``),
a redis-server, the app under gunicorn (2 workers, gthread), safe-mode pushes signed and
encrypted as WeChat does, the mini-program API over HTTP, and the WeChat sandbox that
receives the customer-service messages. The cluster is stopped (``pg_ctl stop -m fast``)
for ``outage_s`` seconds in the middle of the stream and started again; afterwards
``python -m server worker --burst`` delivers what the outage held back.

Chat residents each send a report in three pushes — description, location, "1" — and start
again as a new resident; mini-program residents file reports and, on a 503, retry the same
``client_key`` as the mini-program does. Nothing here imports pytest.
"""
from __future__ import annotations

import collections
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import requests

from backend import geo
from tests.mp_client import MpClient
from tests.fixtures_web import PushRejected, WeChatUser, gunicorn_server, settings_environ
from tests.private_servers import PrivatePostgres, PrivateRedis
from wechat.spool import REPLY as SPOOLED_REPLY
from tests.workers_run import ROOT

MP_RESIDENTS_PER_THREAD = 12


@dataclass
class Push:
    openid: str
    dedupe_key: str
    sent_at: float
    status: int
    reply: str | None


@dataclass
class OutageReport:
    outage_s: float
    pushes: list[Push] = field(default_factory=list)
    mp_reports: list[dict] = field(default_factory=list)  # {description, statuses, number}
    down_at: float = 0.0
    restart_at: float = 0.0
    up_at: float = 0.0
    last_spooled_filed_at: float | None = None
    stored_keys: set = field(default_factory=set)
    event_descriptions: collections.Counter = field(default_factory=collections.Counter)
    chat_flows_confirmed: list[str] = field(default_factory=list)  # descriptions whose "1" was answered
    late_reply_facts: collections.Counter = field(default_factory=collections.Counter)  # dedupe key → facts
    late_replies_sent: collections.Counter = field(default_factory=collections.Counter)  # openid → messages
    worker_returncode: int | None = None

    @property
    def during_outage(self) -> list[Push]:
        """Pushes sent while the database was certainly down (stopped, not yet restarting)."""
        return [p for p in self.pushes if self.down_at <= p.sent_at < self.restart_at]

    @property
    def spooled(self) -> list[Push]:
        return [p for p in self.pushes if p.status == 200 and p.reply == SPOOLED_REPLY]

    @property
    def server_errors(self) -> list[int]:
        """5xx answers (and failed connections, 599) — except the mini-program's 503 with
        Retry-After, which is the documented answer while the database is away."""
        mp = [s for r in self.mp_reports for s in r["statuses"] if s >= 500 and s != 503]
        return [p.status for p in self.pushes if p.status >= 500] + mp

    @property
    def duplicates(self) -> int:
        return (sum(n - 1 for n in self.event_descriptions.values() if n > 1)
                + sum(n - 1 for n in self.late_reply_facts.values() if n > 1))

    @property
    def recovery_to_last_filed_s(self) -> float | None:
        if self.last_spooled_filed_at is None:
            return None
        return self.last_spooled_filed_at - self.up_at


def _report_points(database_url: str, spacing_m: float = 150.0) -> list[tuple[float, float]]:
    """WGS-84 points inside the seeded grids, ``spacing_m`` apart — farther than the chat's
    "someone nearby reported this already" radius, so every chat report is a new event."""
    from shapely.geometry import Point, shape

    step = spacing_m / geo.EARTH_RADIUS_M * 57.29578
    points = []
    for (boundary,) in _query(database_url, "SELECT boundary FROM area WHERE level = 'grid' ORDER BY id"):
        polygon = shape(json.loads(boundary))
        west, south, east, north = polygon.bounds
        lat = south + step / 2
        while lat < north:
            lng = west + step / 2
            while lng < east:
                if polygon.contains(Point(lng, lat)):
                    points.append((lat, lng))
                lng += step * 1.2
            lat += step
    return points


class _Load:
    """The stream: chat residents and mini-program residents on threads until stopped."""

    def __init__(self, url: str, settings, points, chat_residents: int, mp_residents: int, gap_s: float):
        self.url, self.settings, self.points, self.gap = url, settings, points, gap_s
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.report = None
        self.counter = iter(range(1, 10**9))
        self.threads = ([threading.Thread(target=self._chat, args=(i,), daemon=True) for i in range(chat_residents)]
                        + [threading.Thread(target=self._mp, args=(i,), daemon=True) for i in range(mp_residents)])

    def start(self, report: OutageReport):
        self.report = report
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _next(self) -> int:
        with self.lock:
            return next(self.counter)

    def _send(self, user: WeChatUser, send, *args) -> str | None:
        sent_at = time.time()
        try:
            reply, status = send(*args), 200
        except PushRejected as rejected:
            reply, status = None, rejected.response.status_code
        except requests.RequestException:
            reply, status = None, 599
        fields = user.last_fields or {}
        with self.lock:
            self.report.pushes.append(Push(user.openid, f"msg:{fields.get('MsgId')}", sent_at, status, reply))
        return reply

    def _chat(self, index: int):
        s = self.settings
        while not self.stop.is_set():
            n = self._next()
            user = WeChatUser(self.url, token=s.wechat_token, app_id=s.wechat_app_id, aes_key=s.wechat_aes_key)
            description = f"楼道灯坏了，第{n}件"
            lat, lng = geo.wgs84_to_gcj02(*self.points[n % len(self.points)])  # each point once, if enough
            steps = ((user.send_text, (description,)), (user.send_location, (lat, lng, "漳州")),
                     (user.send_text, ("1",)))
            for position, (send, args) in enumerate(steps):
                reply = self._send(user, send, *args)
                if position == 2 and reply is not None:
                    with self.lock:
                        self.report.chat_flows_confirmed.append(description)
                time.sleep(self.gap)

    def _mp(self, index: int):
        clients = []  # several residents: each may file 10 reports a minute (the API's limit)
        for _ in range(MP_RESIDENTS_PER_THREAD):
            client = MpClient(requests.Session(), self.url)
            client.login(f"outage-mp-{index}-{uuid.uuid4().hex[:8]}")
            clients.append(client)
        while not self.stop.is_set():
            client = clients[self._next() % len(clients)]
            n = self._next()
            lat, lng = self.points[n % len(self.points)]
            body = {"description": f"路灯不亮，第{n}件", "lat": lat, "lng": lng, "datum": "wgs84",
                    "client_key": uuid.uuid4().hex}
            record = {"description": body["description"], "statuses": [], "number": None}
            while True:  # the mini-program retries the same client_key until the report is kept
                try:
                    reply = client.post("/events", body)
                    status = reply.status
                except requests.RequestException:
                    reply, status = None, 599
                record["statuses"].append(status)
                if status in (200, 201):
                    record["number"] = reply.json["number"]
                    break
                if status not in (503, 599) or len(record["statuses"]) > 200:
                    break
                time.sleep(min(float((reply.headers.get("Retry-After") if reply else None) or 1), 0.5))
            with self.lock:
                self.report.mp_reports.append(record)
            time.sleep(self.gap)


def _query(url: str, sql: str) -> list[tuple]:
    with contextlib.closing(psycopg2.connect(url)) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def _stored_keys(url: str) -> set[str]:
    try:
        return {key for (key,) in _query(url, "SELECT dedupe_key FROM inbound_message")}
    except psycopg2.OperationalError:
        return set()


def _wait_until_replayed(report: OutageReport, load: _Load, database_url: str, var_dir: Path,
                         timeout_s: float = 120.0) -> float | None:
    """When every push answered from the spool so far is stored and the spool is empty (new
    pushes go straight in again), polled every 50 ms while the stream goes on."""
    spool = var_dir / "wechat-spool" / "spool.log"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        with load.lock:
            spooled = {p.dedupe_key for p in report.spooled}
        if not spool.exists() and spooled <= _stored_keys(database_url):
            return time.time()
        time.sleep(0.05)
    return None


def run_outage(base_settings, sandbox_url: str, *, outage_s: float = 10.0, warmup_s: float = 3.0,
               after_s: float = 3.0, chat_residents: int = 3, mp_residents: int = 1, gap_s: float = 0.25,
               log=print) -> OutageReport:
    """One run; ``base_settings`` supply the secrets (token, keys) the sandbox knows."""
    workdir = Path(tempfile.mkdtemp(prefix="ejia-outage-"))
    pg, redis_server = PrivatePostgres(), PrivateRedis(workdir)
    pg.start()
    redis_server.start()
    report = OutageReport(outage_s)
    try:
        settings = base_settings.with_overrides(
            database_url=pg.url.replace("postgresql://", "postgresql+pool://", 1), redis_url=redis_server.url,
            var_dir=workdir / "var", media_dir=workdir / "var" / "media", wechat_api_base=sandbox_url,
            wechat_encrypt_mode="safe", quiet_hours="off")
        env = {**settings_environ(settings), "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
        subprocess.run([sys.executable, "-m", "server", "seed", "--demo", "--no-history"], cwd=ROOT, env=env,
                       capture_output=True, timeout=300, check=True)
        points = _report_points(pg.url)
        with gunicorn_server(settings, extra_env={"LOG_LEVEL": "WARNING"}) as url:
            load = _Load(url, settings, points, chat_residents, mp_residents, gap_s)
            load.start(report)
            time.sleep(warmup_s)
            log(f"stopping PostgreSQL for {outage_s:.0f} s")
            pg.stop("fast")
            report.down_at = time.time()  # stopped (pg_ctl -w waits)
            time.sleep(outage_s)
            report.restart_at = time.time()
            pg.start()
            report.up_at = time.time()  # accepting connections again
            log("PostgreSQL is back")
            report.last_spooled_filed_at = _wait_until_replayed(report, load, pg.url, settings.var_dir)
            time.sleep(max(0.0, report.up_at + after_s - time.time()))  # the stream goes on
            load.finish()
        worker = subprocess.run([sys.executable, "-m", "server", "worker", "--burst"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=600)
        report.worker_returncode = worker.returncode
        report.stored_keys = _stored_keys(pg.url)
        report.event_descriptions = collections.Counter(
            description for (description,) in _query(pg.url, "SELECT description FROM event"))
        report.late_reply_facts = collections.Counter(
            json.loads(payload)["dedupe_key"] for (payload,) in
            _query(pg.url, "SELECT payload FROM outbox_message WHERE topic = 'wechat.reply'"))
        calls = requests.get(f"{sandbox_url}/_sandbox/calls", params={"api": "message/custom/send"}, timeout=10).json()
        spooled_openids = {p.openid for p in report.spooled}
        report.late_replies_sent = collections.Counter(
            c["body"]["touser"] for c in calls if c["errcode"] == 0 and c["body"].get("touser") in spooled_openids)
        return report
    finally:
        redis_server.stop()
        pg.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def summary(report: OutageReport) -> dict:
    """The figures the issue asks for, plus what they rest on."""
    spooled = report.spooled
    filed = [p for p in spooled if p.dedupe_key in report.stored_keys]
    mp_filed = [r for r in report.mp_reports if r["number"]]
    return {
        "outage_s": round(report.restart_at - report.down_at, 1),
        "pushes_sent": len(report.pushes),
        "pushes_received_during_outage": len(report.during_outage),
        "pushes_answered_from_spool": len(spooled),
        "spooled_filed_after_recovery": len(filed),
        "duplicates": report.duplicates,
        "http_5xx": len(report.server_errors),
        "recovery_to_last_spooled_filed_s": (round(report.recovery_to_last_filed_s, 2)
                                             if report.recovery_to_last_filed_s is not None else None),
        "chat_reports_confirmed": len(report.chat_flows_confirmed),
        "chat_reports_filed": sum(1 for d in report.chat_flows_confirmed if report.event_descriptions[d] >= 1),
        "mp_reports": len(report.mp_reports),
        "mp_reports_filed": len(mp_filed),
        "mp_answers_503": sum(r["statuses"].count(503) for r in report.mp_reports),
        "late_replies_sent": sum(report.late_replies_sent.values()),
    }
