"""The multi-host rehearsal (issue 19, item 4): one machine, each "host" its own process set
with its own ``EJIA_VAR``.

Two web hosts (gunicorn, 1 worker × 4 threads each, own port) behind a small round-robin proxy
(tests/rr_proxy.py, Python — why not nginx is said there), two ``python -m server worker`` and
two ``python -m server scheduler`` processes, a PostgreSQL primary with a streaming replica
(``initdb`` + ``pg_basebackup``), a Redis primary + replica + three Sentinels, and an S3 server
(moto). Every process gets the shared ``DATABASE_URL`` (primary, pooled),
``DATABASE_REPLICA_URL``, ``REDIS_URL=redis+sentinel://…``, ``MEDIA_STORE=s3://…`` and the
WeChat sandbox as its WeChat.

A stream of chat reports (signed, encrypted pushes: text → location → a photo → "1", a push
that fails is delivered again as WeChat does) and mini-program reports with a photo (login, upload, POST
/events; a 502/503 or a failed connection is retried with the same ``client_key``) goes through
the proxy. Midway the Redis primary is killed (the Sentinels promote the replica) and one web
host is stopped (SIGTERM). Afterwards, with the stopped host started again: every acknowledged
report exists exactly once, every photo's bytes come back through each web host (the
mini-program's from its reporter, the chat's — fetched from WeChat by a worker — from the
console) and no host kept media on its disk, each report's grid workers got exactly one
template message and the Notification rows are unique, and once the replica has caught up,
Open311's GET (served from the replica) lists the same reports as the primary holds, the
replica's counts equal the primary's, and the console's metrics page shows the same figures
read from the replica by either host as read from the primary once the replica is stopped."""
from __future__ import annotations

import collections
import contextlib
import datetime as dt
import io
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
import requests
from PIL import Image

from backend import config, geo
from backend.db import db, init_database, migrate
from backend.media_store import object_name
from backend.passwords import hash_password
from tests.conftest import TEST_DB
from tests.factories import make_world
from tests.fixtures_web import PushRejected, WeChatUser, settings_environ
from tests.mp_client import MpClient, image_bytes
from tests.private_servers import PrivatePostgres, PrivateSentinels, free_port
from tests.rr_proxy import RoundRobinProxy
from tests.s3_server import PrivateS3
from tests.workers_run import ROOT, wait_for
from workers import media, relay

pytestmark = pytest.mark.skipif(TEST_DB != "postgres",
                                reason="a PostgreSQL primary with a streaming replica; SQLite has none")

CHAT_REPORTS = 10  # per chat thread (2 threads)
MP_REPORTS = 8  # per mini-program thread (2 threads)
NUMBER = re.compile(r"\d{8}-\d{4}")
RETRYABLE = (502, 503, 599)
CONSOLE_PASSWORD = "rehearsal-centre-9"


def _points() -> list[tuple[float, float, str]]:
    """WGS-84 points in grids a and b of make_world(), ~155 m apart — farther than the
    "someone nearby reported this" radius (100 m), so every report is a new event."""
    out = []
    for grid, lng0 in (("a", 117.6408), ("b", 117.6508)):
        for i in range(7):
            for j in range(6):
                out.append((24.5008 + i * 0.0014, lng0 + j * 0.0016, grid))
    return out


class Host:
    """One process of a "host": its own EJIA_VAR, its log file; start/stop/restart."""

    def __init__(self, name: str, command: list[str], env: dict, workdir: Path, port: int | None = None):
        self.name, self.command, self.port = name, command, port
        self.var = workdir / name
        self.var.mkdir(parents=True, exist_ok=True)
        self.env = {**env, "EJIA_VAR": str(self.var), "MEDIA_DIR": str(self.var / "media")}
        self.log = self.var / "process.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Host":
        out = open(self.log, "ab")
        self.process = subprocess.Popen(self.command, cwd=str(ROOT), env=self.env, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        return self

    def wait_healthy(self, timeout: float = 60) -> None:
        def answers():
            assert self.process.poll() is None, f"{self.name} exited: {self.tail()}"
            try:
                return requests.get(self.url + "/healthz", timeout=5).status_code == 200
            except requests.RequestException:
                return False
        wait_for(answers, timeout=timeout, interval=0.2)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (sent by ``terminate`` or here), then its whole process group killed if it
        has not exited in time (an RQ worker's scheduler child goes with it)."""
        if self.process is None:
            return
        self.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session (start_new_session)
        self.process.wait(timeout=10)

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


class Supervisor:
    """What systemd does for the worker and scheduler units (deploy/systemd: Restart=always,
    RestartSec=2): a process that exits is started again, and the restart is recorded."""

    def __init__(self, hosts: list[Host]):
        self.hosts, self.restarts = hosts, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def _watch(self):
        while not self._stop.wait(0.5):
            for host in self.hosts:
                if host.process.poll() is not None and not self._stop.is_set():
                    self.restarts.append((host.name, host.process.returncode))
                    time.sleep(2)
                    host.start()

    def start(self) -> "Supervisor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def web_host(name: str, env: dict, workdir: Path) -> Host:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", "1",
               "--worker-class", "gthread", "--threads", "4", "--bind", f"127.0.0.1:{port}",
               "--log-level", "warning", "--graceful-timeout", "10", "server:create_app()"]
    return Host(name, command, env, workdir, port)


@contextlib.contextmanager
def bound_to(url: str):
    """The test process's models on another database for a while (the world is made there)."""
    before = config.current().database_url
    if not db.is_closed():
        db.close()
    database = init_database(url)
    migrate(database)
    db.connect(reuse_if_open=True)
    try:
        yield database
    finally:
        if not db.is_closed():
            db.close()
        init_database(before)
        db.connect(reuse_if_open=True)


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with contextlib.closing(psycopg2.connect(url, connect_timeout=5)) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


class Stream:
    """Chat and mini-program residents on threads; what each was told is recorded."""

    def __init__(self, url: str, settings, points, sandbox):
        self.url, self.settings, self.points, self.sandbox = url, settings, points, sandbox
        self.lock = threading.Lock()
        self.next_point = iter(range(len(points)))
        self.done = 0
        self.chat: list[dict] = []  # {description, grid, number or None, photo: bytes sent}
        self.mp: list[dict] = []  # {description, grid, number, token, media_id, photo, statuses}
        self.errors: list[str] = []

    def _point(self):
        with self.lock:
            return self.points[next(self.next_point)]

    def _finished_one(self):
        with self.lock:
            self.done += 1

    def _push(self, user: WeChatUser, values: dict):
        """One push, delivered again (signed afresh) on a failure as WeChat does: 3 tries."""
        for attempt in range(4):
            try:
                return user.push(values)
            except PushRejected as rejected:
                status = rejected.response.status_code
            except requests.RequestException as exc:
                status = f"{type(exc).__name__}"
            with self.lock:
                self.errors.append(f"chat push {values.get('MsgType')}: {status}")
            time.sleep(0.5 * (attempt + 1))
        return None

    def chat_thread(self, index: int):
        s = self.settings
        for n in range(CHAT_REPORTS):
            lat, lng, grid = self._point()
            user = WeChatUser(self.url, token=s.wechat_token, app_id=s.wechat_app_id, aes_key=s.wechat_aes_key)
            description = f"路灯坏了，巡查{index}-{n}号"
            photo = image_bytes("JPEG", size=(80, 60), color=(index * 120 % 256, n * 20 % 256, 155))
            record = {"description": description, "grid": grid, "number": None, "photo": photo}
            glat, glng = geo.wgs84_to_gcj02(lat, lng)
            self._push(user, user.message("text", Content=description))
            self._push(user, user.message("location", Location_X=glat, Location_Y=glng, Scale=15, Label="漳州"))
            media_id = self.sandbox.register_media(photo, "image/jpeg")  # WeChat holds it; a worker fetches it
            self._push(user, user.message("image", PicUrl="http://mmbiz.qpic.cn/p.jpg", MediaId=media_id))
            reply = self._push(user, user.message("text", Content="1"))
            match = NUMBER.search(reply or "") if isinstance(reply, str) else None
            record["number"] = match.group(0) if match else None
            with self.lock:
                self.chat.append(record)
            self._finished_one()
            time.sleep(0.3)

    def _call(self, send):
        """A mini-program request, repeated as the mini-program does on 502/503/no answer."""
        statuses = []
        for _ in range(60):
            try:
                reply = send()
                status = reply.status
            except requests.RequestException:
                reply, status = None, 599
            statuses.append(status)
            if status not in RETRYABLE:
                return reply, statuses
            time.sleep(0.5)
        return None, statuses

    def mp_thread(self, index: int):
        for n in range(MP_REPORTS):
            lat, lng, grid = self._point()
            client = MpClient(requests.Session(), self.url)
            code = f"rehearsal-{index}-{n}-{uuid.uuid4().hex[:6]}"
            login, statuses = self._call(lambda: client.post("/auth/login", {"code": code}))
            record = {"description": f"楼上邻居半夜吵架，巡查{index}-{n}号", "grid": grid, "number": None,
                      "token": None, "media_id": None, "photo": None, "statuses": statuses}
            if login is not None and login.status == 200:
                client.token = record["token"] = login.json["token"]
                photo = image_bytes("JPEG", size=(96, 64), color=(index * 90 % 256, n * 25 % 256, 77))
                upload, more = self._call(lambda: client.upload(photo, "p.jpg", "image/jpeg"))
                record["statuses"] += more
                if upload is not None and upload.status == 201:
                    record["media_id"], record["photo"] = upload.json["id"], photo
                    body = {"description": record["description"], "lat": lat, "lng": lng, "datum": "wgs84",
                            "category": "0201", "client_key": uuid.uuid4().hex, "media_ids": [record["media_id"]]}
                    filed, more = self._call(lambda: client.post("/events", body))  # the same client_key
                    record["statuses"] += more
                    if filed is not None and filed.status in (200, 201):
                        record["number"] = filed.json["number"]
            with self.lock:
                self.mp.append(record)
            self._finished_one()
            time.sleep(0.3)

    def threads(self) -> list[threading.Thread]:
        return ([threading.Thread(target=self.chat_thread, args=(i,), daemon=True) for i in range(2)]
                + [threading.Thread(target=self.mp_thread, args=(i,), daemon=True) for i in range(2)])


def console_session(url: str) -> requests.Session:
    """The city centre's console login on one web host (the session lives in Redis)."""
    http = requests.Session()
    page = http.get(url + "/console/login", timeout=20)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = http.post(url + "/console/login", data={"username": "city", "password": CONSOLE_PASSWORD,
                                                  "csrf_token": token}, timeout=20, allow_redirects=False)
    assert done.status_code in (302, 303), done.text[:300]
    return http


def metrics_figures(http: requests.Session, url: str, period: dict) -> str:
    """The metrics page's figures: the summary cards and the tables by area, category and month."""
    page = http.get(url + "/console/metrics", params=period, timeout=60)
    assert page.status_code == 200, page.text[:300]
    start = page.text.index('id="summary"')
    end = page.text.index("</table>", page.text.index('id="trend"'))
    return page.text[start:end]


def template_recipients(sandbox, number: str) -> list[str]:
    return [c["body"]["touser"] for c in sandbox.calls("message/template/send")
            if c["errcode"] == 0 and number in str(c["body"])]


def test_two_web_hosts_two_workers_and_two_schedulers_ride_out_a_redis_failover_and_a_lost_host(
        sandbox, tmp_path):
    started = time.monotonic()
    processes: list[Host] = []
    primary = replica = sentinels = s3 = proxy = supervisor = None
    try:
        primary = PrivatePostgres()
        primary.start()
        replica = PrivatePostgres(replica_of=primary)
        replica.start()
        with bound_to(primary.url):
            world = make_world()
            world.city_centre.username, world.city_centre.password_hash = "city", hash_password(CONSOLE_PASSWORD)
            world.city_centre.save()
            grid_workers = {"a": {world.worker_a.oa_openid, world.worker_a2.oa_openid},
                            "b": {world.worker_b.oa_openid}}
        sentinels = PrivateSentinels(tmp_path / "redis")
        sentinels.start()
        s3 = PrivateS3().start()

        settings = s3.settings_for(sandbox.settings.with_overrides(
            database_url=primary.url.replace("postgresql://", "postgresql+pool://", 1),
            database_replica_url=replica.url, redis_url=sentinels.url(db=0), quiet_hours="off",
            wechat_encrypt_mode="safe"))
        env = dict(os.environ, **settings_environ(settings), PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING")
        hosts = tmp_path / "hosts"
        web_a, web_b = web_host("web-a", env, hosts), web_host("web-b", env, hosts)
        others = [Host(f"{kind}-{n}", [sys.executable, "-m", "server", kind], env, hosts)
                  for kind in ("worker", "scheduler") for n in (1, 2)]
        for host in (web_a, web_b, *others):
            processes.append(host.start())
        supervisor = Supervisor(others).start()
        web_a.wait_healthy()
        web_b.wait_healthy()
        proxy = RoundRobinProxy([web_a.url, web_b.url]).start()
        print(f"\nstack up in {time.monotonic() - started:.1f} s")

        # ---------------------------------------------------------------- the stream
        stream = Stream(proxy.url, settings, _points(), sandbox)
        threads = stream.threads()
        for thread in threads:
            thread.start()
        total = 2 * CHAT_REPORTS + 2 * MP_REPORTS
        wait_for(lambda: stream.done >= total // 4, timeout=90, interval=0.1)
        killed_at, killed_time = stream.done, time.monotonic()
        sentinels.kill_primary_and_wait_for_failover()
        wait_for(lambda: stream.done >= total // 2, timeout=90, interval=0.1)
        stopped_at = stream.done
        web_b.terminate()  # SIGTERM: in-flight requests finish, then connections are refused
        for thread in threads:
            thread.join(timeout=150)
        assert not any(t.is_alive() for t in threads), "the stream did not finish"
        assert web_b.process.wait(timeout=30) == 0  # a clean stop
        print(f"stream done in {time.monotonic() - started:.1f} s: Redis primary killed after {killed_at}, "
              f"web-b stopped after {stopped_at} of {total}; proxy {dict(proxy.answered)} refused "
              f"{dict(proxy.refused)}; chat pushes delivered again: {collections.Counter(stream.errors)}; "
              f"mini-program answers: {collections.Counter(x for r in stream.mp for x in r['statuses'])}")
        assert proxy.refused[web_b.url.removeprefix("http://")] > 0  # the stream did meet the stopped host
        assert stopped_at < total

        reports = stream.chat + stream.mp
        acknowledged = [r for r in reports if r["number"]]
        # every report was acknowledged in the end (a retry carried it through the failover)
        assert len(acknowledged) == len(reports), [r for r in reports if not r["number"]]

        # ---------------------------------------------------------------- each exactly once
        rows = query(primary.url, "SELECT number, description FROM event")
        by_number = collections.Counter(number for number, _ in rows)
        by_description = collections.Counter(description for _, description in rows)
        for record in acknowledged:
            assert by_number[record["number"]] == 1, record
            assert by_description[record["description"]] == 1, record
        assert len(rows) == len(acknowledged)  # nothing filed that nobody was told about
        assert len({r["number"] for r in acknowledged}) == len(acknowledged)

        # ---------------------------------------------------------------- photos, through each host
        web_b.start()  # the stopped host comes back (its own EJIA_VAR, its port): nothing on its disk
        web_b.wait_healthy()
        for record in stream.mp:
            assert record["media_id"] and record["photo"]
            attached = query(primary.url, "SELECT m.id, m.sha256 FROM attachment a JOIN media m ON m.id = a.media_id "
                             "JOIN event e ON e.id = a.event_id WHERE e.number = %s", (record["number"],))
            assert [m for m, _ in attached] == [record["media_id"]], record["number"]
            stored = s3.get(f"media/{object_name(attached[0][1])}")  # what the app kept (EXIF stripped)
            assert hashlib.sha256(stored).hexdigest() == attached[0][1]
            for host in (web_a, web_b):
                served = MpClient(requests.Session(), host.url, record["token"]).get(f"/media/{record['media_id']}")
                assert served.status == 200, (host.name, served)
                assert served.body == stored, host.name

        # ---------------------------------------------------------------- grid workers, once each
        def everyone_notified():
            return all(grid_workers[r["grid"]] & set(template_recipients(sandbox, r["number"]))
                       for r in acknowledged)  # routing picks the grid's worker(s) to assign
        # A job the killed primary took with it (or that a worker was finishing when it died) is
        # found again by the outbox sweep: once its row is STALE_AFTER old, at the sweep's next
        # minute. That is the bound the product promises; most runs are done long before.
        bound = killed_time + relay.STALE_AFTER.total_seconds() + 60 + 20 - time.monotonic()
        try:
            wait_for(everyone_notified, timeout=max(bound, 30), interval=1)
        except AssertionError:
            for r in acknowledged:
                if not grid_workers[r["grid"]] & set(template_recipients(sandbox, r["number"])):
                    print("not notified:", r["number"], query(primary.url, "SELECT o.id, o.topic, o.enqueued_at, "
                          "o.processed_at FROM outbox_message o JOIN event e ON e.id = o.event_id WHERE e.number = %s",
                          (r["number"],)), query(primary.url, "SELECT n.recipient, n.channel, n.status FROM "
                          "notification n JOIN event e ON e.id = n.event_id WHERE e.number = %s", (r["number"],)))
            raise
        print(f"everyone notified at {time.monotonic() - started:.1f} s; restarted by the supervisor: "
              f"{supervisor.restarts}")
        time.sleep(3)  # room for a duplicate to show itself
        openid_of = {f"staff:{w.id}": w.oa_openid for w in (world.worker_a, world.worker_a2, world.worker_b)}
        rows = query(primary.url, "SELECT e.number, n.recipient, n.status FROM notification n "
                     "JOIN event e ON e.id = n.event_id WHERE n.channel = 'template'")
        claimed = collections.defaultdict(list)
        for number, recipient, status in rows:
            claimed[number].append((recipient, status))
        for record in acknowledged:
            recipients = collections.Counter(template_recipients(sandbox, record["number"]))
            notified = set(recipients) & grid_workers[record["grid"]]
            assert notified, (record, recipients)
            assert max(recipients.values()) == 1, (record, recipients)  # each recipient once
            mine = [(r, st) for r, st in claimed[record["number"]] if r in openid_of]
            # one Notification row per grid worker, sent, and exactly the ones WeChat got
            assert sorted(r for r, _ in mine) == sorted({r for r, _ in mine}), (record, mine)
            assert {st for _, st in mine} == {"sent"}, (record, mine)
            assert {openid_of[r] for r, _ in mine} == notified, (record, mine, recipients)

        # ---------------------------------------------------------------- chat photos, fetched by a worker
        def chat_photos_attached():
            found = query(primary.url, "SELECT e.number, m.id, m.sha256 FROM attachment a JOIN media m "
                          "ON m.id = a.media_id JOIN event e ON e.id = a.event_id WHERE e.number = ANY(%s)",
                          ([r["number"] for r in stream.chat],))
            return found if len(found) == len(stream.chat) else None
        # A download job the killed primary took with it is asked for again by the media sweep:
        # once the attachment is SWEEP_GRACE old, at the sweep's next minute.
        bound = killed_time + media.SWEEP_GRACE.total_seconds() + 60 + 20 - time.monotonic()
        attached = {number: (media_id, digest) for number, media_id, digest in
                    wait_for(chat_photos_attached, timeout=max(bound, 60), interval=0.5)}
        consoles = {host.name: console_session(host.url) for host in (web_a, web_b)}
        for record in stream.chat:
            media_id, digest = attached[record["number"]]
            stored = s3.get(f"media/{object_name(digest)}")
            assert hashlib.sha256(stored).hexdigest() == digest
            assert Image.open(io.BytesIO(stored)).size == Image.open(io.BytesIO(record["photo"])).size
            for host in (web_a, web_b):  # staff see it through either host (the console streams it)
                served = consoles[host.name].get(f"{host.url}/console/media/{media_id}", timeout=20)
                assert served.status_code == 200 and served.content == stored, (host.name, served.status_code)
        for host in processes:  # web hosts and workers alike: every byte went to the object store
            assert not any(p.is_file() for p in (host.var / "media").rglob("*")), f"{host.name} kept media on its disk"

        # ---------------------------------------------------------------- the replica, caught up
        wait_for(lambda: replica.caught_up_with(primary), timeout=30, interval=0.2)
        counts = ("SELECT (SELECT count(*) FROM event), (SELECT count(*) FROM notification), "
                  "(SELECT count(*) FROM media), (SELECT count(*) FROM attachment)")
        assert query(replica.url, counts) == query(primary.url, counts)
        numbers = sorted(r["number"] for r in acknowledged)
        for host in (web_a, web_b):
            assert requests.get(host.url + "/healthz", timeout=10).json()["replica"]["reads"] == "replica"
            listed = requests.get(host.url + "/open311/v2/requests.json", timeout=20)
            assert listed.status_code == 200, listed.text[:300]
            assert sorted(item["service_request_id"] for item in listed.json()) == numbers
        # the console's metrics page, read from the replica by both hosts, then — the replica
        # stopped — from the primary (the fallback): the same figures
        period = {"from": (dt.date.today() - dt.timedelta(days=30)).isoformat(),
                  "to": (dt.date.today() + dt.timedelta(days=60)).isoformat()}
        on_replica = {name: metrics_figures(http, host.url, period)
                      for (name, http), host in zip(consoles.items(), (web_a, web_b))}
        assert on_replica["web-a"] == on_replica["web-b"]
        replica.stop()
        for host in (web_a, web_b):
            wait_for(lambda: requests.get(host.url + "/healthz", timeout=10).json()["replica"]["reads"] == "primary",
                     timeout=30, interval=0.5)
        on_primary = metrics_figures(consoles["web-a"], web_a.url, period)
        assert on_primary == on_replica["web-a"]
        due = int(re.search(r'id="total-due">(\d+)<', on_primary).group(1))
        assert due >= len(stream.mp), on_primary[:500]  # the figures are the rehearsal's reports, not zeros
        print(f"rehearsal done in {time.monotonic() - started:.1f} s")
    except BaseException:
        for host in processes:
            print(f"----- {host.name}\n{host.tail()}")
        raise
    finally:
        if supervisor is not None:
            supervisor.stop()
        if proxy is not None:
            proxy.stop()
        t0 = time.monotonic()
        for host in processes:
            host.terminate()  # all at once: each stops in parallel
        for host in processes:
            host.stop()
        print(f"hosts stopped in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        if s3 is not None:
            s3.stop()
        if sentinels is not None:
            sentinels.stop()
        if replica is not None:
            replica.destroy()
        if primary is not None:
            primary.destroy()
        print(f"servers down in {time.monotonic() - t0:.1f} s")
