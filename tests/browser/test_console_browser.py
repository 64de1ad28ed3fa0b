"""The console in Debian's Chromium (Playwright): log in, dispatch and watch the event move,
the metrics page's numbers for a known data set, the map's seeded grids, and a GeoJSON
import that reports a bad feature. Screenshots: test-output/console-*.png.
"""
from __future__ import annotations

import datetime as dt
import json
import re

from backend import clock, metrics
from backend.models import Area, Department, Event
from tests.integration.test_console_fixtures import PASSWORD, make_console_world

SLOW_MS = 90_000  # a 2-core CI box running other suites can be very slow to run scripts


def watch_requests(page, base_url):
    """Every request the page makes; the console must never reach beyond our own server.
    Script errors and failed responses are printed, so a timeout says what went wrong."""
    seen = []
    page.on("request", lambda request: seen.append(request.url))
    page.on("pageerror", lambda error: print("page error:", error))
    page.on("response", lambda r: print("HTTP", r.status, r.url) if r.status >= 400 else None)
    return lambda: [url for url in seen if not url.startswith(base_url) and not url.startswith("data:")]


def log_in(page, base_url, username, password=PASSWORD):
    page.goto(f"{base_url}/console/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(re.compile(r".*/console/(\?.*)?$"))


def test_log_in_dispatch_and_watch_the_event_move(page, live_app, screenshot):
    from tests.integration.test_console_events import at_street_centre

    world = make_console_world().world
    event = at_street_centre(world, "楼道里堆满纸箱，消防通道被堵")
    Department.create(name="通北街道民政办", code="mzb-1", kind="mzb", area=world.street)
    outside = watch_requests(page, live_app.url)
    log_in(page, live_app.url, "centre")
    row = page.locator(f"#row-{event.number}")
    assert "楼道里堆满纸箱" in row.inner_text()
    assert row.locator("select[name=department_id]").input_value() == str(world.dept.id)  # preselected 城管办
    screenshot("console-queue")
    row.locator("button", has_text="派遣").click()
    page.wait_for_selector(f"#row-{event.number}.dispatched", timeout=SLOW_MS)
    assert "已派遣至 城管办" in page.locator(f"#row-{event.number}").inner_text()
    screenshot("console-dispatched")
    page.click(f"text={event.number}")
    page.wait_for_selector("#trajectory", timeout=SLOW_MS)
    assert page.locator("#holder").inner_text() == "城管办"
    steps = page.locator("#trajectory li").all_inner_texts()
    assert "派遣" in steps[-1] and "待受理" in steps[-1]
    assert Event.get_by_id(event.id).holder_department_id == world.dept.id
    screenshot("console-event")
    page.reload()
    assert page.locator("#queue-empty").count() == 0 or event.number not in page.content()
    assert outside() == []


def test_metrics_page_shows_the_right_numbers(page, live_app, screenshot):
    from tests.integration.test_console_metrics import NOW, build_data_set

    world = make_console_world().world
    build_data_set(world)
    start, end = clock.from_local(dt.datetime(2025, 4, 1)), clock.from_local(dt.datetime(2025, 5, 1))
    [total] = metrics.metrics_for(start, end, world.district.path)
    by_area = metrics.metrics_for(start, end, world.district.path, "area")
    outside = watch_requests(page, live_app.url)
    with clock.frozen(NOW):
        log_in(page, live_app.url, "city")
        page.goto(f"{live_app.url}/console/metrics?area_id={world.district.id}&from=2025-04-01&to=2025-04-30")
        page.wait_for_selector("body[data-charts-ready='1']", timeout=SLOW_MS)
    assert page.locator("#total-due").inner_text() == str(total["due"])
    assert page.locator("#total-close-rate").inner_text() == metrics.format_rate(total["close_rate"])
    assert page.locator("#total-on-time-rate").inner_text() == metrics.format_rate(total["on_time_rate"])
    assert page.locator("#total-satisfaction-rate").inner_text() == metrics.format_rate(total["satisfaction_rate"])
    rows = page.locator("#by-area tbody tr")
    assert rows.locator("td.name").all_inner_texts() == [r["name"] for r in by_area]  # administrative order
    for index, reference in enumerate(by_area):
        assert rows.nth(index).locator("td.on-time-rate").inner_text() == metrics.format_rate(reference["on_time_rate"])
    assert page.locator("#chart-areas canvas").count() == 1 and page.locator("#chart-trend canvas").count() == 1
    assert page.locator("#trend tbody tr").count() == 12
    screenshot("console-metrics")
    assert outside() == []


def test_map_shows_the_seeded_grids(page, live_app, screenshot):
    from backend.seed import DEMO_PASSWORD, seed_demo

    seed_demo(history=False)
    street = Area.get(Area.code == "350602003")
    expected = Area.select().where(Area.path.startswith(street.path) & Area.level.in_(("community", "grid"))
                                   & Area.boundary.is_null(False)).count()
    grid = Area.select().where(Area.path.startswith(street.path) & (Area.level == "grid")).first()
    outside = watch_requests(page, live_app.url)
    log_in(page, live_app.url, "centre-350602003", DEMO_PASSWORD)
    page.goto(f"{live_app.url}/console/map")
    page.wait_for_selector("#big-map[data-ready='1']", timeout=SLOW_MS)
    assert expected == 8  # 2 communities × (1 + 3 grids) in 通北街道
    assert page.locator("path[data-area-code]").count() == expected
    assert page.locator(f"path[data-area-code='{grid.code}']").count() == 1
    assert "网格 8 个" in page.locator("#map-counts").inner_text()
    assert page.locator(".leaflet-tile").count() == 0  # no tile server by default
    screenshot("console-map")
    assert outside() == []


def test_geojson_import_reports_a_bad_feature(page, live_app, screenshot, tmp_path):
    from tests.factories import square

    world = make_console_world().world
    document = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": square(24.49, 117.64),
         "properties": {"code": "350602001001003", "name": "金源第三网格"}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[117.60, 24.40], [117.61, 24.41],
                                                                            [117.61, 24.40], [117.60, 24.41],
                                                                            [117.60, 24.40]]]},
         "properties": {"code": "350602001001004", "name": "画错的网格"}},
    ]}
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    outside = watch_requests(page, live_app.url)
    log_in(page, live_app.url, "admin")
    page.goto(f"{live_app.url}/console/admin/areas")
    page.set_input_files("#area-import-form input[type=file]", str(path))
    page.select_option("#area-import-form select[name=parent_id]", str(world.community.id))
    page.click("#area-import-form button[type=submit]")
    page.wait_for_selector("#import-errors", timeout=SLOW_MS)
    assert page.locator("#import-progress").get_attribute("value") == "100"
    rejects = page.locator("#import-errors tbody tr").all_inner_texts()
    assert len(rejects) == 1 and "画错的网格" in rejects[0] and "自相交" in rejects[0]
    assert page.locator("#commit-import").count() == 0  # a file with a bad feature imports nothing
    screenshot("console-import-report")
    document["features"] = document["features"][:1]
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    page.goto(f"{live_app.url}/console/admin/areas")
    page.set_input_files("#area-import-form input[type=file]", str(path))
    page.select_option("#area-import-form select[name=parent_id]", str(world.community.id))
    page.click("#area-import-form button[type=submit]")
    page.wait_for_selector("#commit-import", timeout=SLOW_MS)
    page.click("#commit-import")
    page.wait_for_selector(".flash.ok", timeout=SLOW_MS)
    assert "新增 1" in page.locator(".flash.ok").inner_text()
    assert Area.get(Area.code == "350602001001003").parent_id == world.community.id
    assert outside() == []


def test_a_residents_voice_note_plays_in_the_browser(page, live_app):
    """WeChat's AMR plays in no browser: Chromium refuses the original and plays the console's
    decoded WAV (backend/voice.py) for its full length."""
    from backend.media import store_bytes
    from backend.models import Attachment
    from tests.integration.test_console_events import amr_bytes, report

    world = make_console_world().world
    event = report(world, text="（居民发来语音，请听附件）")
    note = store_bytes(amr_bytes(100), "audio/amr", "voice")  # two seconds
    Attachment.create(event=event, media=note, step=event.steps.first())
    outside = watch_requests(page, live_app.url)
    log_in(page, live_app.url, "centre")
    page.goto(f"{live_app.url}/console/events/{event.number}")
    load = """async (src) => {
        const audio = src ? new Audio(src) : document.querySelector('#voices audio');
        audio.load();
        return await new Promise((done) => {
            audio.onloadedmetadata = () => done(audio.duration);
            audio.onerror = () => done('error ' + (audio.error && audio.error.code));
        });
    }"""
    assert abs(page.evaluate(load, None) - 2.0) < 0.05
    assert page.evaluate(load, f"/console/media/{note.id}") == "error 4"  # MEDIA_ERR_SRC_NOT_SUPPORTED
    assert outside() == []
