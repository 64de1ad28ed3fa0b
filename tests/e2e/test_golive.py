"""Going live on a fresh PostgreSQL database, as an operator would, every step a ``python -m server``
process (issue 16): migrate → init → calendar → import areas (GeoJSON, GCJ-02), staff (XLSX),
buildings → staff bind by typing their code in the chat → keys → menu → check passes against
the sandbox → a resident's report routes to an imported grid and reaches an imported grid
worker. With one setting missing, ``check`` exits 1 naming it."""
from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time

import psycopg2
import pytest
import requests
from openpyxl import Workbook

from backend import config, geo
from tests.cli_support import ROOT, server_env
from tests.conftest import PG_ADMIN_URL
from tests.fixtures_sandbox import start_sandbox
from tests.private_servers import PrivateRedis, free_port
from sandbox.extras.tencent_sms import SANDBOX_SECRET_ID, SANDBOX_SECRET_KEY

STREET = "350602003"
COMMUNITY = "350602003001"
GRIDS = ["350602003001001", "350602003001002"]


def rect(lat, lng, dlat, dlng):
    return [[[lng, lat], [lng + dlng, lat], [lng + dlng, lat + dlat], [lng, lat + dlat], [lng, lat]]]


def gcj_polygon(lat, lng, dlat, dlng):
    return {"type": "Polygon", "coordinates": [[list(reversed(geo.wgs84_to_gcj02(y, x)))
                                                for x, y in rect(lat, lng, dlat, dlng)[0]]]}


@pytest.fixture
def fresh_database():
    name = f"ejia_golive_{secrets.token_hex(4)}"
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE "{name}"')
    admin.close()


@pytest.fixture
def private_redis(tmp_path):
    """A private redis-server with AOF on (the shared test one keeps nothing on disk, as it should)."""
    server = PrivateRedis(tmp_path, persistent=True)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def golive(fresh_database, private_redis, tmp_path):
    """A production environment on the fresh database, its sandbox, and a runner for commands."""
    port = free_port()
    environ = {
        "EJIA_ENV": "production", "EJIA_VAR": str(tmp_path / "var"), "DATABASE_URL": fresh_database,
        "REDIS_URL": private_redis, "SECRET_KEY": secrets.token_hex(32), "FIELD_KEY": secrets.token_hex(32),
        "WECHAT_APP_ID": "wxgolive000000001", "WECHAT_APP_SECRET": secrets.token_hex(16),
        "WECHAT_TOKEN": "golivetoken", "WECHAT_AES_KEY": "g" * 43, "MP_APP_ID": "wxgolivemp0000001",
        "MP_APP_SECRET": secrets.token_hex(16), "PUBLIC_BASE_URL": "https://ejia.example.gov.cn",
        "MEDIA_DIR": str(tmp_path / "media"), "SMS_PROVIDER": "tencent",
        "SMS_TENCENT_SECRET_ID": SANDBOX_SECRET_ID, "SMS_TENCENT_SECRET_KEY": SANDBOX_SECRET_KEY,
        "SMS_TENCENT_SDK_APP_ID": "1400999999", "SMS_TENCENT_SIGN_NAME": "通北e家",
        "SMS_TENCENT_TEMPLATES": "task=2000001,urgent=2000002,urge=2000003,overdue=2000004,remind=2000005",
        "SMS_TENCENT_SCHEME": "http", "QUIET_HOURS": "off", "LOG_LEVEL": "WARNING", "TRUSTED_PROXIES": "1",
    }
    settings = config.load_settings(environ=environ)
    sandbox, stop = start_sandbox(settings, {"callback_url": f"http://127.0.0.1:{port}/wechat"})
    environ.update({"WECHAT_API_BASE": sandbox.url, "SMS_TENCENT_ENDPOINT": sandbox.url.removeprefix("http://")})

    class Golive:
        env = environ
        url = f"http://127.0.0.1:{port}"

        def run(self, *argv, **changes):
            env = {**server_env(settings), **environ, **{k: str(v) for k, v in changes.items()}}
            for name in [k for k, v in changes.items() if v is None]:
                env.pop(name)
            return subprocess.run([sys.executable, "-m", "server", *map(str, argv)], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=300)

        def sql(self, query, *params):
            with psycopg2.connect(fresh_database) as conn, conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall()

    golive = Golive()
    golive.sandbox = sandbox
    web = subprocess.Popen([sys.executable, "-m", "server", "web", "--port", str(port)], cwd=ROOT,
                           env={**server_env(settings), **environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    golive.web = web
    yield golive
    web.terminate()
    web.wait(timeout=10)
    stop()


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def chat(golive, openid: str, kind: str = "text", **fields) -> str:
    answer = requests.post(f"{golive.sandbox.url}/_sandbox/chat/send", json={"openid": openid, "kind": kind, **fields},
                           timeout=30)
    assert answer.status_code == 200, answer.text
    reply = answer.json().get("reply") or {}
    return reply.get("content", "") if isinstance(reply, dict) else str(reply)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_go_live_on_a_fresh_postgresql_database(golive, tmp_path):
    run = golive.run
    ok(run("migrate"))
    out = ok(run("init", "--admin", "wangfang", "--admin-name", "王芳", "--area-code", STREET, "--area-name", "通北街道"))
    assert re.search(r"一次性密码.*：\S{14}", out)
    # The holidays of the years ahead that chinese-calendar does not know yet.
    year_file = tmp_path / "holidays.txt"
    year_file.write_text("\n".join(f"{y}-01-01 休 元旦\n{y}-10-01..{y}-10-07 休 国庆节" for y in range(2026, 2031)))
    ok(run("calendar", "import", year_file))
    areas = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": gcj_polygon(24.50, 117.64, 0.01, 0.02),
         "properties": {"code": COMMUNITY, "name": "金源社区", "level": "community", "parent_code": STREET}},
        {"type": "Feature", "geometry": gcj_polygon(24.50, 117.64, 0.01, 0.01),
         "properties": {"code": GRIDS[0], "name": "金源第一网格", "parent_code": COMMUNITY}},
        {"type": "Feature", "geometry": gcj_polygon(24.50, 117.65, 0.01, 0.01),
         "properties": {"code": GRIDS[1], "name": "金源第二网格", "parent_code": COMMUNITY}}]}
    geojson = tmp_path / "areas.geojson"
    geojson.write_text(json.dumps(areas, ensure_ascii=False), encoding="utf-8")
    assert "将新增 3" in ok(run("import", "areas", geojson, "--datum", "gcj02", "--dry-run"))
    assert golive.sql("SELECT count(*) FROM area") == [(1,)]  # a dry run writes nothing
    assert "已导入：新增 3" in ok(run("import", "areas", geojson, "--datum", "gcj02"))
    book = Workbook()
    for row in (("姓名", "角色", "区域编码", "手机", "部门", "登录名"),
                ("陈志强", "网格员", GRIDS[0], 13900000001, "", ""), ("林丽娟", "网格员", GRIDS[1], 13900000002, "", ""),
                ("黄建华", "社区负责人", COMMUNITY, 13900000003, "", "huangjh"),
                ("张秀英", "部门人员", STREET, 13900000004, "通北街道城管办", "")):
        book.active.append(row)
    staff_file = tmp_path / "staff.xlsx"
    book.save(staff_file)
    sheet = tmp_path / "codes.pdf"
    assert "已导入：新增 4" in ok(run("import", "staff", staff_file, "--sheet", sheet))
    assert sheet.read_bytes().startswith(b"%PDF") and sheet.stat().st_mode & 0o077 == 0
    buildings = tmp_path / "buildings.csv"
    buildings.write_bytes(f"网格编码,楼栋,单元,地址\n{GRIDS[0]},1号楼,1单元,金源小区1号楼\n{GRIDS[1]},2号楼,1单元,\n"
                          .encode("gbk"))
    assert "已导入：新增 2" in ok(run("import", "buildings", buildings, "--posters", tmp_path / "posters"))
    assert list((tmp_path / "posters").glob("*.pdf"))
    extra = {"areas": ["--datum", "gcj02"], "staff": ["--sheet", tmp_path / "again.pdf"], "buildings": []}
    for path, kind in ((geojson, "areas"), (staff_file, "staff"), (buildings, "buildings")):  # re-runs change nothing
        assert "新增 0，更新 0" in ok(run("import", kind, path, *extra[kind]))
    key = json.loads(ok(run("keys", "issue", "--name", "区城管局", "--scope", "read_full", "--scope", "write")))["key"]
    assert "公众号菜单已创建" in ok(run("wechat", "menu"))
    assert golive.sandbox.calls("menu/create")[-1]["errcode"] == 0

    # Not yet: nobody has bound WeChat, so no grid can be served.
    wait_for(golive.url + "/healthz")
    early = run("check")
    assert early.returncode == 1 and "✗ 网格人员：2/2 个网格没有绑定微信的网格员" in early.stdout
    codes = dict(golive.sql("SELECT name, bind_token FROM staff WHERE bind_token IS NOT NULL"))
    for name, openid in (("陈志强", "o-golive-chen"), ("林丽娟", "o-golive-lin")):
        assert "绑定成功" in chat(golive, openid, text=f"绑定 {codes[name]}")
    assert "已经绑定过了" in chat(golive, "o-golive-chen", text=f"绑定 {codes['陈志强']}")  # spent: a clear answer

    passed = run("check")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    lines = passed.stdout.strip().splitlines()
    assert len(lines) == 13 and all(line.startswith("✓ ") for line in lines), passed.stdout

    # A resident reports in the chat; the report routes to the imported grid and its bound worker hears.
    chat(golive, "o-golive-resident", text="楼道里堆满了纸箱，过不去")
    chat(golive, "o-golive-resident", kind="location", lat=24.505, lng=117.655)
    reply = chat(golive, "o-golive-resident", text="1")
    number = re.search(r"\d{8}-\d{4}", reply).group(0)
    ok(run("worker", "--burst"))
    [(grid_code, holder)] = golive.sql(
        "SELECT a.code, s.name FROM event e JOIN area a ON a.id = e.grid_id JOIN staff s ON s.id = e.holder_staff_id "
        "WHERE e.number = %s", number)
    assert (grid_code, holder) == (GRIDS[1], "林丽娟")
    sent = [c for c in golive.sandbox.calls("message/template/send") if c["body"]["touser"] == "o-golive-lin"]
    assert sent and sent[0]["errcode"] == 0 and sent[0]["body"]["template_id"] == "ejia-task"
    listed = requests.get(f"{golive.url}/open311/v2/requests.json", params={"api_key": key}, timeout=10).json()
    assert [r["service_request_id"] for r in listed] == [number]


def test_check_names_what_is_missing_and_exits_1(golive):
    ok(golive.run("migrate"))
    missing = golive.run("check", REDIS_URL=None)
    assert missing.returncode == 1 and "REDIS_URL" in missing.stdout
    unknown = golive.run("check", WECHAT_TEMPLATE_TASK="no-such-template")
    assert unknown.returncode == 1
    assert "✗ 模板消息：WECHAT_TEMPLATE_TASK=no-such-template 不在" in unknown.stdout
    for line in ("✗ 管理员", "✗ 网格人员", "✓ 数据库", "✓ Redis", "✓ 微信公众号", "✓ 短信", "✓ HTTPS 地址"):
        assert line in unknown.stdout, line
    http = golive.run("check", PUBLIC_BASE_URL="http://ejia.example.gov.cn", SMS_TENCENT_TEMPLATES="task=1")
    assert "✗ HTTPS 地址" in http.stdout and "✗ 短信：SMS_TENCENT_TEMPLATES 缺少 urgent" in http.stdout
    ok(golive.run("migrate"))
    golive.sql("DELETE FROM schema_migration WHERE name = '0011_golive' RETURNING name")
    behind = golive.run("check")
    assert "✗ 数据库：PostgreSQL 能连上，但有 1 个迁移没做" in behind.stdout


def test_check_refuses_a_redis_that_forgets(golive, tmp_path):
    volatile = PrivateRedis(tmp_path, persistent=False)
    volatile.start()
    try:
        done = golive.run("check", REDIS_URL=volatile.url)
    finally:
        volatile.stop()
    assert "✗ Redis：能连上，但没有持久化" in done.stdout and "appendonly yes" in done.stdout


def test_a_wechat_that_cannot_be_reached_is_said_plainly(golive):
    ok(golive.run("init", "--admin", "wangfang", "--area-code", STREET, "--area-name", "通北街道"))
    away = "http://127.0.0.1:9"
    menu = golive.run("wechat", "menu", WECHAT_API_BASE=away)
    assert menu.returncode == 1 and "连不上微信接口 http://127.0.0.1:9" in menu.stderr
    assert "python -m server sandbox" in menu.stderr
    bind = golive.run("staff", "bind-qr", "1", WECHAT_API_BASE=away)
    assert bind.returncode == 1 and "连不上微信接口" in bind.stderr and "绑定 绑定码" in bind.stderr
    check = golive.run("check", WECHAT_API_BASE=away)
    assert "✗ 微信公众号：连不上微信接口" in check.stdout
