"""Console administration: GeoJSON and CSV imports (per-row errors, nothing half-imported),
staff, categories, the working calendar, app feedback and department subscriptions."""
from __future__ import annotations

import datetime as dt
import io
import json
import re

from backend import geo
from backend.models import (
    AppFeedback,
    Area,
    Building,
    BuildingUnit,
    Category,
    DepartmentSubscription,
    HolidayOverride,
    OutboxMessage,
    Staff,
    WebhookDelivery,
)
from backend.services import imports
from tests.factories import make_area, square
from tests.integration.test_console_fixtures import (  # noqa: F401  (fixtures)
    console_app,
    cworld,
    logged_in,
)


def feature(code, name, geometry, level="grid", **props):
    return {"type": "Feature", "geometry": geometry, "properties": {"code": code, "name": name, "level": level, **props}}


BOWTIE = {"type": "Polygon", "coordinates": [[[117.60, 24.40], [117.61, 24.41], [117.61, 24.40],
                                               [117.60, 24.41], [117.60, 24.40]]]}


def upload_geojson(client, document, parent_id="", datum="wgs84"):
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    return client.post("/console/admin/import/areas", {"file": (io.BytesIO(raw), "grids.geojson"),
                                                        "datum": datum, "parent_id": str(parent_id)},
                       content_type="multipart/form-data")


def run_job(client, response):
    """Follow the upload to its job page and poll until every row is checked."""
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    job_url = response.headers["Location"]
    fragment = client.get(job_url).get_data(as_text=True)
    for _ in range(50):
        if "hx-trigger" not in fragment:
            break
        fragment = client.get(job_url + "/progress", headers={"HX-Request": "true"}).get_data(as_text=True)
    return job_url, fragment


def test_geojson_import_reports_bad_features_and_imports_nothing_until_the_file_is_right(console_app, cworld):
    world = cworld.world
    admin = logged_in(console_app, "admin")
    document = {"type": "FeatureCollection", "features": [
        feature("350602001001003", "金源第三网格", square(24.49, 117.64)),
        feature("350602001001004", "自相交网格", BOWTIE),
        feature("350602001001005", "", square(24.48, 117.64)),
        feature("350602001001006", "坐标颠倒", square(117.64, 24.47)),
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.6, 24.4]},
         "properties": {"code": "350602001001007", "name": "一个点"}},
    ]}
    job_url, report = run_job(admin, upload_geojson(admin, document, world.community.id))
    assert "已检查 5/5 个要素" in report and "有 4 处问题，整个文件不会导入" in report
    for number, reason in ((2, "多边形自相交或不闭合"), (3, "缺少名称"), (4, "坐标超出经纬度范围"), (5, "不是面")):
        assert re.search(f"<td>{number}</td><td>[^<]*</td><td>[^<]*{reason}", report), reason
    assert 'id="commit-import"' not in report
    assert admin.post(job_url + "/commit").status_code == 400  # refused, with the message
    assert not Area.select().where(Area.code == "350602001001003").exists()
    job_url, report = run_job(admin, upload_geojson(admin, {"type": "FeatureCollection", "features": document["features"][:1]},
                                                    world.community.id))
    assert "将新增 1" in report
    done = admin.post(job_url + "/commit")
    assert done.status_code == 303
    created = Area.get(Area.code == "350602001001003")
    assert created.parent_id == world.community.id and created.path == f"{world.community.path}{created.id}/"
    assert geo.grid_index().locate(24.495, 117.645) == created.id  # the index sees it at once
    assert Area.select().where(Area.code.in_(["350602001001004", "350602001001006"])).count() == 0


def test_geojson_import_converts_gcj02_and_updates_existing_codes(console_app, cworld):
    world = cworld.world
    admin = logged_in(console_app, "admin")
    gcj = {"type": "Polygon", "coordinates": [[list(reversed(geo.wgs84_to_gcj02(lat, lng)))
                                               for lng, lat in square(24.50, 117.64)["coordinates"][0]]]}
    job_url, report = run_job(admin, upload_geojson(
        admin, {"type": "FeatureCollection", "features": [feature(world.grid_a.code, "金源一网格（新）", gcj)]},
        datum="gcj02"))
    assert "全部 1 个要素检查通过" in report
    assert admin.post(job_url + "/commit").status_code == 303
    area = Area.get_by_id(world.grid_a.id)
    assert area.name == "金源一网格（新）"
    first = area.boundary["coordinates"][0][0]
    assert abs(first[0] - 117.64) < 1e-6 and abs(first[1] - 24.50) < 1e-6


def test_malformed_geojson_is_refused_before_any_job(console_app, cworld):
    admin = logged_in(console_app, "admin")
    for raw, message in ((b"{not json", "不是有效的 JSON"), (b'{"type": "Polygon", "coordinates": []}', "FeatureCollection"),
                         (b'{"type":"FeatureCollection","features":[]}', "没有任何要素")):
        response = upload_geojson(admin, raw)
        assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_nothing_is_half_imported_when_the_database_changed_since_the_check(console_app, cworld):
    world = cworld.world
    features = [feature("350602001001011", "新一", square(24.46, 117.64)),
                feature("350602001001012", "新二", square(24.45, 117.64))]
    raw = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    job = imports.check_all(imports.start("areas", raw, options={"parent_code": world.community.code}))
    assert not job.errors
    make_area(world.district, "street", "抢先建好的街道", "350602001001012")  # another admin, since the check
    import pytest

    from backend.errors import DomainError

    with pytest.raises(DomainError) as caught:
        imports.commit(job)
    assert "整个文件没有导入" in caught.value.message
    assert not Area.select().where(Area.code == "350602001001011").exists()


def test_import_refuses_areas_outside_the_admins_scope(console_app, cworld):
    world = cworld.world
    street_admin = Staff.create(name="街道管理员", role="admin", area=world.street)
    from tests.integration.test_console_fixtures import give_login

    give_login(street_admin, "street-admin")
    client = logged_in(console_app, "street-admin")
    _, report = run_job(client, upload_geojson(client, {"type": "FeatureCollection", "features": [
        feature(world.other_grid.code, "别人的网格", square(24.52, 117.64))]}))
    assert "不在您管辖的范围内" in report


CSV_GOOD = "网格编码,楼栋,单元,地址,纬度,经度\n{a},1号楼,1单元,金源路1号,24.505,117.645\n{a},1号楼,2单元,,,\n{b},2号楼,1单元,,,\n"


def upload_csv(client, text, encoding="utf-8-sig"):
    return client.post("/console/admin/import/buildings", {"file": (io.BytesIO(text.encode(encoding)), "b.csv"),
                                                            "datum": "wgs84"}, content_type="multipart/form-data")


def test_buildings_csv_imports_all_rows_and_is_idempotent(console_app, cworld):
    world = cworld.world
    admin = logged_in(console_app, "admin")
    text = CSV_GOOD.format(a=world.grid_a.code, b=world.grid_b.code)
    job_url, report = run_job(admin, upload_csv(admin, text))
    assert "将新增 3，更新 0，0 没有变化" in report
    admin.post(job_url + "/commit")
    page = admin.get(job_url).get_data(as_text=True)
    assert "已导入：新增 3" in page and "金源社区 全部单元二维码" in page
    tokens = {u.qr_token for u in BuildingUnit.select()}
    assert len(tokens) == 3
    job_url, report = run_job(admin, upload_csv(admin, text, encoding="gb18030"))  # as a Chinese Excel saves it
    assert "将新增 0，更新 0，3 没有变化" in report and "（GBK）" in report
    assert {u.qr_token for u in BuildingUnit.select()} == tokens  # posters on the wall keep working
    assert Building.get(Building.name == "1号楼").address == "金源路1号"


def test_buildings_csv_with_bad_rows_imports_nothing_and_names_each_row(console_app, cworld):
    world = cworld.world
    admin = logged_in(console_app, "admin")
    text = ("网格编码,楼栋,单元,纬度,经度\n"
            f"{world.grid_a.code},1号楼,1单元,,\n"
            "999999,2号楼,1单元,,\n"
            f"{world.grid_a.code},,1单元,,\n"
            f"{world.grid_a.code},3号楼,1单元,95,117\n"
            f"{world.community.code},4号楼,1单元,,\n"
            f"{world.grid_a.code},1号楼,1单元,,\n")
    job_url, page = run_job(admin, upload_csv(admin, text))
    assert "整个文件不会导入" in page
    for line, message in ((3, "找不到网格编码 999999"), (4, "楼栋名称为空"), (5, "经纬度或坐标系不正确"),
                          (6, "不是网格"), (7, "与第 2 行重复")):
        assert re.search(f"<td>{line}</td><td>[^<]*</td><td>[^<]*{message}", page), message
    admin.post(job_url + "/commit")
    assert Building.select().count() == 0 and BuildingUnit.select().count() == 0
    missing_column = upload_csv(admin, "楼栋,单元\n1号楼,1单元\n")
    assert missing_column.status_code == 400 and "缺少列：网格编码" in missing_column.get_data(as_text=True)


def test_staff_admin_creates_and_edits_within_scope(console_app, cworld):
    world = cworld.world
    admin = logged_in(console_app, "admin")
    response = admin.post("/console/admin/staff", {"name": "新网格员", "role": "grid_worker", "area_id": world.grid_b.id,
                                                   "phone": "13800138000"})
    assert response.status_code == 303
    person = Staff.get(Staff.name == "新网格员")
    assert person.phone_enc and "13800138000" not in person.phone_enc and person.phone_index
    bad = admin.post("/console/admin/staff", {"name": "错位", "role": "grid_worker", "area_id": world.community.id},
                     headers={"Referer": "http://localhost/console/admin/staff"})
    assert bad.status_code == 303 and not Staff.select().where(Staff.name == "错位").exists()
    assert "网格员应属于网格" in admin.get("/console/admin/staff").get_data(as_text=True)
    page = admin.post(f"/console/admin/staff/{person.id}/bind-code").get_data(as_text=True)
    code = Staff.get_by_id(person.id).bind_token
    assert code and f'id="bind-code">{code}<' in page
    edited = admin.post(f"/console/admin/staff/{person.id}", {
        "name": "新社区负责人", "role": "community_head", "area_id": world.community.id, "active": "1",
        "username": "new-head", "password": "long-enough-1"})
    assert edited.status_code == 303
    from tests.integration.test_console_fixtures import ConsoleClient

    assert ConsoleClient(console_app).login("new-head", "long-enough-1").status_code == 303


def test_category_edit_and_the_holiday_calendar(console_app, cworld):
    admin = logged_in(console_app, "admin")
    response = admin.post("/console/admin/categories/0101", {
        "plain_name": "垃圾堆着没人管", "keywords": "垃圾, 臭、苍蝇", "default_department_kind": "cgb",
        "accept_limit": "2", "accept_unit": "work_hours", "resolve_limit": "3", "resolve_unit": "work_days",
        "verify_limit": "1", "verify_unit": "work_days", "photo_required": "1", "active": "1"})
    assert response.status_code == 303
    category = Category.get(Category.code == "0101")
    assert (category.plain_name, category.keywords, category.accept_limit) == ("垃圾堆着没人管", ["垃圾", "臭", "苍蝇"], 2)
    bad = admin.post("/console/admin/categories/0101", {"plain_name": "x", "accept_limit": "0"},
                     headers={"Referer": "http://localhost/console/admin/categories/0101"})
    assert bad.status_code == 303 and Category.get(Category.code == "0101").accept_limit == 2
    assert admin.post("/console/admin/holidays", {"day": "2031-10-01", "is_workday": "0", "name": "国庆节"}).status_code == 303
    assert HolidayOverride.get(HolidayOverride.day == dt.date(2031, 10, 1)).name == "国庆节"
    page = admin.get("/console/admin/holidays?year=2031").get_data(as_text=True)
    assert "国庆节" in page
    assert 'id="calendar-warning"' in page  # chinese_calendar has no data for next year's holidays yet


def test_feedback_status(console_app, cworld):
    row = AppFeedback.create(content="<b>字太小</b>", staff=cworld.world.worker_a)
    admin = logged_in(console_app, "admin")
    page = admin.get("/console/admin/feedback").get_data(as_text=True)
    assert "&lt;b&gt;字太小&lt;/b&gt;" in page
    assert admin.post(f"/console/admin/feedback/{row.id}", {"status": "fixed", "reply": "已调大"}).status_code == 303
    row = AppFeedback.get_by_id(row.id)
    assert (row.status, row.reply) == ("fixed", "已调大")


def test_subscriptions_are_checked_logged_and_retried(console_app, cworld, redis_conn):
    from rq import Queue

    world = cworld.world
    admin = logged_in(console_app, "admin")
    refused = admin.post("/console/admin/subscriptions", {"department_id": world.dept.id, "url": "http://10.0.0.8/hook"},
                         headers={"Referer": "http://localhost/console/admin/subscriptions"})
    assert refused.status_code == 303 and DepartmentSubscription.select().count() == 0
    created = admin.post("/console/admin/subscriptions", {"department_id": world.dept.id,
                                                          "url": "http://127.0.0.1:9/hook", "category_codes": "01"})
    row = DepartmentSubscription.get()
    assert created.status_code == 200 and row.secret in created.get_data(as_text=True)  # shown once
    assert row.secret not in admin.get("/console/admin/subscriptions").get_data(as_text=True)
    message = OutboxMessage.create(topic="event.submitted", payload={})
    failed = WebhookDelivery.create(subscription=row, outbox=message, attempt=1, status_code=500, ok=False,
                                    error="HTTP 500")
    page = admin.get("/console/admin/subscriptions").get_data(as_text=True)
    assert f'id="delivery-{failed.id}"' in page and "重试" in page
    assert admin.post(f"/console/admin/deliveries/{failed.id}/retry").status_code == 303
    # the console records the retry; the workers, acting on the outbox fact, enqueue it
    [fact] = OutboxMessage.select().where(OutboxMessage.topic == "webhook.retry")
    assert fact.payload == {"subscription_id": row.id, "outbox_id": message.id}
    from workers import jobs

    assert jobs._process(redis_conn, fact.id) == "done"
    queued = Queue("webhook", connection=redis_conn).jobs
    assert [job.args for job in queued] == [(row.id, message.id)]
    WebhookDelivery.create(subscription=row, outbox=message, attempt=2, status_code=200, ok=True)
    admin.post(f"/console/admin/deliveries/{failed.id}/retry")
    assert OutboxMessage.select().where(OutboxMessage.topic == "webhook.retry").count() == 1  # once delivered


def test_staff_import_in_the_console_then_the_binding_sheet_downloads_once(console_app, cworld):
    world = cworld.world
    admin = logged_in(console_app, "admin")
    text = ("姓名,角色,区域编码,手机\n"
            f"新网格员,网格员,{world.grid_b.code},13900000021\n"
            f"坏角色,保安,{world.grid_b.code},13900000022\n")
    upload = admin.post("/console/admin/import/staff", {"file": (io.BytesIO(text.encode("gbk")), "s.csv"),
                                                        "code_days": "7"}, content_type="multipart/form-data")
    job_url, report = run_job(admin, upload)
    assert re.search(r"<td>3</td><td>坏角色</td><td>没有这个角色：保安", report) and 'id="commit-import"' not in report
    good = text.splitlines()[:2]
    job_url, report = run_job(admin, admin.post("/console/admin/import/staff", {
        "file": (io.BytesIO("\n".join(good).encode("utf-8-sig")), "s.csv")}, content_type="multipart/form-data"))
    assert "将新增 1" in report
    admin.post(job_url + "/commit")
    person = Staff.get(Staff.name == "新网格员")
    assert person.area_id == world.grid_b.id and len(person.bind_token) == 8
    assert "下载绑定码表" in admin.get(job_url).get_data(as_text=True)
    sheet = admin.get(job_url + "/sheet.pdf")
    assert sheet.status_code == 200 and sheet.data.startswith(b"%PDF") and sheet.headers["Cache-Control"] == "no-store"
    assert admin.get(job_url + "/sheet.pdf").status_code == 404  # once
    other = logged_in(console_app, "centre")
    assert other.get(job_url).status_code in (403, 404)  # someone else's job


def test_behind_nginx_the_login_throttle_counts_each_client_apart(settings, cworld, redis_conn):
    from server import create_app
    from tests.fixtures_web import settings_overrides
    from tests.integration.test_console_fixtures import ConsoleClient

    app = create_app(overrides={**settings_overrides(settings), "trusted_proxies": 1})
    app.config["TESTING"] = True
    try:
        mallory, alice = ConsoleClient(app), ConsoleClient(app)
        for _ in range(6):
            mallory.http.post("/console/login", data={"username": "admin", "password": "wrong",
                                                      "csrf_token": mallory.token()},
                              headers={"X-Forwarded-For": "203.0.113.9"})
        blocked = mallory.http.post("/console/login", data={"username": "admin", "password": "x",
                                                            "csrf_token": mallory.token()},
                                    headers={"X-Forwarded-For": "203.0.113.9"})
        assert blocked.status_code == 429
        fine = alice.http.post("/console/login", data={"username": "admin", "password": "correct-horse-9",
                                                       "csrf_token": alice.token()},
                               headers={"X-Forwarded-For": "198.51.100.7"})
        assert fine.status_code == 303
    finally:
        create_app(overrides=settings_overrides(settings))
