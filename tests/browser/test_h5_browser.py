"""The H5 pages on a 360 × 740 phone in Debian's Chromium (Playwright): the reporter rates from
their link; a grid worker accepts, resolves with a photo file and sees it closed; a poster page
inside "WeChat" (the sandbox's 网页授权) files a report at its unit, and outside WeChat an
anonymous one. Nothing is fetched from anywhere but our server (and the sandbox standing in for
WeChat's authorisation page); no page scrolls sideways. Screenshots: test-output/h5-*.png."""
from __future__ import annotations

import pytest

from backend import links
from backend.models import Event, Resident
from backend.services import actions
from backend.services.context import staff_actor
from backend.services.events import route_event
from miniprogram_api.testing import image_bytes
from tests.browser.conftest import CHROMIUM_ARGS, OUTPUT  # noqa: F401
from tests.browser.test_console_browser import SLOW_MS, watch_requests
from tests.factories import make_world
from tests.h5_fixtures import PHONE_UA, WECHAT_UA, live_h5, make_unit, report  # noqa: F401

PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "zh-CN"}


@pytest.fixture
def phone(browser):
    """A new phone browser per call: ``phone(wechat=True)`` looks like WeChat's built-in one."""
    contexts = []

    def open_page(wechat: bool = True):
        context = browser.new_context(user_agent=WECHAT_UA if wechat else PHONE_UA, **PHONE)
        contexts.append(context)
        return context, context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def shoot(page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= 360


@pytest.fixture
def world(live_h5):
    return make_world()


def test_the_reporter_rates_from_their_link(phone, live_h5, world):
    reporter = Resident.create(oa_openid="oa-browser-reporter")
    event = route_event(report(world, reporter, "小区门口的路灯坏了一个星期").id)
    worker = staff_actor(world.worker_a)
    actions.perform(event.number, worker, "accept")
    from backend.media import store_photos

    [photo] = store_photos([image_bytes("JPEG", size=(400, 300), color=(240, 200, 40))])
    actions.perform(event.number, worker, "resolve", {"note": "已更换灯泡", "photo_count": 1, "media_ids": [photo.id]})
    _context, page = phone(wechat=True)
    outside = watch_requests(page, live_h5.url)
    page.goto(links.event_link(event, resident=reporter))
    assert page.locator("#status").inner_text() == "已办结"
    assert "网格员 张*" in page.locator("#trajectory").inner_text() and "张三" not in page.content()
    assert page.locator("#trajectory img").evaluate("img => img.naturalWidth") == 400  # the photo loads
    assert fits_the_phone(page)
    shoot(page, "h5-reporter")
    page.locator("label.star", has_text="5分").click()
    page.fill("#comment", "修得很快，谢谢网格员")
    page.click("#rate-submit")
    page.wait_for_selector("#done", timeout=SLOW_MS)
    assert "谢谢您的评价" in page.locator("#done").inner_text()
    assert "5分" in page.locator("#rated").inner_text()
    shoot(page, "h5-reporter-rated")
    assert Event.get_by_id(event.id).ratings.get().score == 5
    assert outside() == []


def test_a_grid_worker_accepts_resolves_with_a_photo_and_sees_it_closed(phone, live_h5, world, tmp_path):
    event = route_event(report(world, Resident.create(oa_openid="oa-r"), "楼下垃圾好几天没人清了").id)
    photo = tmp_path / "after.jpg"
    photo.write_bytes(image_bytes("JPEG", size=(640, 480), exif={0x8825: {1: "N", 2: (24.0, 30.0, 18.0)}}))
    _context, page = phone(wechat=True)
    outside = watch_requests(page, live_h5.url)
    page.goto(links.event_link(event, staff=world.worker_a))
    assert page.locator("#status").inner_text() == "待受理" and page.locator("#due").is_visible()
    assert fits_the_phone(page)
    shoot(page, "h5-worker-task")
    page.click("#do-accept")
    page.wait_for_selector("#done", timeout=SLOW_MS)
    assert page.locator("#status").inner_text() == "处置中"
    page.fill("#note-resolve", "已清运干净")
    page.set_input_files("#photo", str(photo))
    shoot(page, "h5-worker-resolving")
    page.click("#do-resolve")
    page.wait_for_selector("#done", timeout=SLOW_MS)
    assert page.locator("#status").inner_text() == "已办结"
    assert "已清运干净" in page.locator("#trajectory").inner_text()
    assert page.locator("#trajectory img").count() == 1 and page.locator("#actions").count() == 0
    assert fits_the_phone(page)
    shoot(page, "h5-worker-closed")
    assert Event.get_by_id(event.id).status == "closed"
    assert outside() == []


def test_a_poster_page_files_a_report_at_its_unit(phone, live_h5, sandbox, world, tmp_path):
    unit = make_unit(world.grid_a)
    photo = tmp_path / "stairs.png"
    photo.write_bytes(image_bytes("PNG", size=(300, 400), color=(120, 80, 40)))
    context, page = phone(wechat=True)
    context.add_cookies([{"name": "ejia_sandbox_openid", "value": "oa-browser-scan", "url": sandbox.url}])
    page.goto(f"{live_h5.url}/q/{unit.qr_token}")  # → WeChat's authorisation (sandbox) → back, signed in
    assert page.locator("#unit-name").inner_text() == "3号楼 2单元"
    assert "金源社区 金源第一网格" in page.locator("#unit-area").inner_text()
    assert page.locator("#follow").is_visible() and page.locator("#anonymous-note").count() == 0
    assert fits_the_phone(page)
    shoot(page, "h5-poster-wechat")
    page.fill("#description", "楼道里堆满了纸箱，消防通道被堵了")
    page.set_input_files("#photo", str(photo))
    page.click("#report-submit")
    page.wait_for_selector("#number", timeout=SLOW_MS)
    event = Event.get()
    assert page.locator("#number").inner_text() == event.number
    assert (event.building_unit_id, event.grid_id, event.anonymous) == (unit.id, world.grid_a.id, False)
    assert event.reporter_resident.oa_openid == "oa-browser-scan"
    shoot(page, "h5-poster-reported")
    page.click("#progress-link")
    page.wait_for_selector("#trajectory", timeout=SLOW_MS)
    assert "楼道里堆满了纸箱" in page.locator("#description").inner_text()

    _context, stranger = phone(wechat=False)
    stranger.goto(f"{live_h5.url}/q/{unit.qr_token}")
    assert stranger.locator("#anonymous-note").is_visible() and stranger.locator("#follow").count() == 0
    stranger.fill("#description", "单元门的门禁坏了")
    stranger.click("#report-submit")
    stranger.wait_for_selector("#anonymous-number", timeout=SLOW_MS)
    anonymous = Event.select().where(Event.anonymous == True).get()  # noqa: E712
    assert stranger.locator("#number").inner_text() == anonymous.number
    assert stranger.locator("#confirmation").inner_text() == links.confirmation_code(anonymous)
    assert anonymous.building_unit_id == unit.id and anonymous.reporter_resident_id is None
    shoot(stranger, "h5-poster-anonymous")


def test_the_chat_simulator_opens_links_and_lends_its_user_to_wechat_sign_in(page, phone, live_app, live_h5,
                                                                             sandbox, world):
    """In the demo, the person picked in the chat simulator is the one the sandbox's 网页授权
    answers with, and a link in a message the sandbox received is one click away."""
    import requests

    from tests.browser.test_simulator import open_simulator

    unit = make_unit(world.grid_a)
    open_simulator(page, sandbox, live_app)
    page.fill("#openid", "oa-sim-resident")
    page.dispatch_event("#openid", "change")
    link = f"{live_h5.url}/q/{unit.qr_token}"
    token = requests.post(f"{sandbox.url}/cgi-bin/stable_token", timeout=5, json={
        "grant_type": "client_credential", "appid": sandbox.settings.wechat_app_id,
        "secret": sandbox.settings.wechat_app_secret}).json()["access_token"]
    requests.post(f"{sandbox.url}/cgi-bin/message/custom/send", params={"access_token": token}, timeout=5,
                  json={"touser": "oa-sim-resident", "msgtype": "text", "text": {"content": f"查看办理进度：{link}"}})
    anchor = page.locator("#transcript li.in .bubble a", has_text="打开链接")
    anchor.wait_for(timeout=10000)
    assert anchor.get_attribute("href") == link
    cookies = page.context.cookies()
    assert {"name": "ejia_sandbox_openid", "value": "oa-sim-resident"} in [
        {"name": c["name"], "value": c["value"]} for c in cookies]
    context, in_wechat = phone(wechat=True)  # the same person's cookies, in WeChat's browser
    context.add_cookies(cookies)
    in_wechat.goto(link)
    in_wechat.wait_for_selector("#follow", timeout=SLOW_MS)
    assert Resident.get(Resident.oa_openid == "oa-sim-resident")
