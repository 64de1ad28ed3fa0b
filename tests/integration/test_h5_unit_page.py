"""/q/<token>, what a building poster opens: the unit named, a report filed there with nothing
retyped; anonymous outside WeChat (with its number), the resident's own inside WeChat (网页授权
through the sandbox). Hostile and repeated submits store nothing new."""
from __future__ import annotations

import io
import re

import pytest
import requests

from backend import links
from backend.models import Attachment, Event, Media, Resident
from miniprogram_api.testing import image_bytes
from mobile import views_unit
from tests.h5_fixtures import PHONE_UA, WECHAT_UA, client, console_app, live_h5, make_unit, world  # noqa: F401

KEY_RE = re.compile(r'name="client_key" value="([0-9a-f]{32})"')


@pytest.fixture
def unit(world):
    return make_unit(world.grid_a)


def form_key(body: str) -> str:
    return KEY_RE.search(body).group(1)


def submit(client, unit, description="楼道里堆满了纸箱，过不去", photos=(), key=None, **headers):
    if key is None:
        key = form_key(client.get(f"/q/{unit.qr_token}").get_data(as_text=True))
    data = {"description": description, "client_key": key}
    if photos:
        data["photo"] = [(io.BytesIO(body), f"p{i}.jpg") for i, body in enumerate(photos)]
    return client.post(f"/q/{unit.qr_token}", data=data, content_type="multipart/form-data", headers=headers)


def test_an_unknown_poster_is_a_chinese_404(client, unit):
    for token in ("doesNotExist123", "short", "<script>x</script>", "a" * 65):
        response = client.get(f"/q/{token}")
        body = response.get_data(as_text=True)
        assert response.status_code == 404 and "没有找到这个楼栋二维码" in body and "<script>x" not in body
    assert client.post("/q/doesNotExist123", data={"description": "x"}).status_code == 404
    assert Event.select().count() == 0


def test_outside_wechat_the_poster_files_an_anonymous_report_at_its_unit(client, world, unit):
    page = client.get(f"/q/{unit.qr_token}", headers={"User-Agent": PHONE_UA})
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "3号楼 2单元" in body and "金源社区 金源第一网格" in body
    assert 'id="anonymous-note"' in body and 'id="follow"' not in body  # not inside WeChat
    assert "楼栋" not in body.split('id="report-form"')[1].split("</form>")[0]  # nothing to retype
    response = submit(client, unit, photos=[image_bytes("JPEG")], key=form_key(body))
    body = response.get_data(as_text=True)
    assert response.status_code == 201
    [event] = Event.select()
    assert event.number in body and 'id="anonymous-number"' in body and 'id="progress-link"' not in body
    code = re.search(r'id="confirmation">([^<]+)<', body).group(1)
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}", code) and code == links.confirmation_code(event)
    assert (event.building_unit_id, event.building_id, event.grid_id) == (unit.id, unit.building_id, world.grid_a.id)
    assert event.address == "金源小区3号楼" and event.location_confirmed
    assert (event.anonymous, event.reporter_resident_id, event.source) == (True, None, "h5")
    assert event.status == "reported" and Attachment.select().where(Attachment.event == event).count() == 1
    # the case's staff see the code, so a caller who quotes it is known to be the reporter
    from backend.services.events import route_event
    from tests.integration.test_console_fixtures import give_login, logged_in

    route_event(event.id)
    give_login(world.centre, "centre-h5")
    console_page = logged_in(client.application, "centre-h5").get(f"/console/events/{event.number}")
    assert f'id="confirmation">{code}<' in console_page.get_data(as_text=True)


def test_a_repeated_submit_files_one_report(client, unit):
    key = form_key(client.get(f"/q/{unit.qr_token}").get_data(as_text=True))
    first = submit(client, unit, photos=[image_bytes("JPEG")], key=key)
    again = submit(client, unit, description="", photos=[image_bytes("PNG", color=(9, 9, 9))], key=key)
    assert (first.status_code, again.status_code) == (201, 200)
    [event] = Event.select()
    assert event.number in again.get_data(as_text=True) and "已经提交过了" in again.get_data(as_text=True)
    assert Media.select().count() == 1  # the replay's different photo was never stored


@pytest.mark.parametrize("description, photos, key, status, message", [
    ("", (), None, 400, "请写一写发生了什么"),
    ("   ", (), None, 400, "请写一写发生了什么"),
    ("长" * 4001, (), None, 400, "描述太长了"),
    ("楼道堆物", [b"\xff\xd8\xff\xe0not an image"], None, 400, "图片"),
    ("楼道堆物", ["<?php system($_GET[c]); ?>".encode()], None, 400, "不是"),
    ("楼道堆物", [image_bytes("JPEG")] * 4, None, 400, "最多上传3张"),
    ("楼道堆物", [b"\xff\xd8\xff" + b"0" * (10 * 1024 * 1024)], None, 413, "不能超过10MB"),
    ("楼道堆物", (), "", 400, "页面已过期"),
    ("楼道堆物", (), "../../etc/passwd", 400, "页面已过期"),
])
def test_hostile_input_is_refused_in_words_and_nothing_is_stored(client, unit, description, photos, key, status,
                                                                 message):
    response = submit(client, unit, description=description, photos=photos, key=key)
    body = response.get_data(as_text=True)
    assert response.status_code == status and message in body
    assert Event.select().count() == 0 and Media.select().count() == 0
    if status == 400 and description.strip() and len(description) < 100:
        assert description in body  # what was typed is kept for the next try


def test_anonymous_reports_from_one_address_are_rationed(client, unit, monkeypatch):
    monkeypatch.setattr(views_unit, "SUBMITS_PER_HOUR", 2)
    assert [submit(client, unit, description=f"第{i}件").status_code for i in range(3)] == [201, 201, 429]
    assert Event.select().count() == 2


def test_an_emergency_is_told_first(client, unit):
    response = submit(client, unit, description="楼下着火了，好大的烟")
    body = response.get_data(as_text=True)
    assert response.status_code == 201
    assert body.index('id="emergency"') < body.index('id="number"') and "119" in body
    assert Event.get().urgent


def test_inside_wechat_the_report_is_the_residents_own(live_h5, sandbox, world, unit):
    browser = requests.Session()
    browser.headers["User-Agent"] = WECHAT_UA
    browser.cookies.set("ejia_sandbox_openid", "oa-h5-resident", domain="127.0.0.1")
    page = browser.get(f"{live_h5.url}/q/{unit.qr_token}", timeout=30)
    assert page.status_code == 200
    assert page.url.split("#")[0] == f"{live_h5.url}/q/{unit.qr_token}"  # ?code= dropped
    assert [c["api"] for c in sandbox.calls()] == ["connect/oauth2/authorize", "sns/oauth2/access_token"]
    assert 'id="follow"' in page.text and "e家" in page.text and 'id="anonymous-note"' not in page.text
    resident = Resident.get(Resident.oa_openid == "oa-h5-resident")
    assert resident.last_message_at is None  # opening a page is not a message: no 48-hour window
    browser.get(f"{live_h5.url}/q/{unit.qr_token}", timeout=30)
    assert len(sandbox.calls()) == 2  # remembered: WeChat is not asked again
    response = browser.post(f"{live_h5.url}/q/{unit.qr_token}", timeout=30,
                            data={"description": "电梯坏了三天", "client_key": form_key(page.text)})
    assert response.status_code == 201
    event = Event.get()
    assert (event.reporter_resident_id, event.anonymous, event.building_unit_id) == (resident.id, False, unit.id)
    link = re.search(r'id="progress-link" href="([^"]+)"', response.text).group(1).replace("&amp;", "&")
    progress = browser.get(link, timeout=30)
    assert progress.status_code == 200 and "电梯坏了三天" in progress.text and "待分派" in progress.text


def test_a_callback_that_is_not_ours_goes_on_without_an_identity(live_h5, sandbox, unit):
    browser = requests.Session()
    browser.headers["User-Agent"] = WECHAT_UA
    forged = browser.get(f"{live_h5.url}/q/{unit.qr_token}?code=attacker-code&state=abc", timeout=30,
                         allow_redirects=False)
    assert forged.status_code == 200 and 'id="anonymous-note"' in forged.text
    assert sandbox.calls("sns/oauth2/access_token") == []  # a state that is not ours is never exchanged
    # a real round trip: after it, the code and the state are spent — a replayed callback asks nothing
    first = browser.get(f"{live_h5.url}/q/{unit.qr_token}", timeout=30, allow_redirects=False)
    back = browser.get(first.headers["Location"], timeout=30, allow_redirects=False).headers["Location"]
    assert browser.get(back, timeout=30, allow_redirects=False).status_code == 303
    browser.cookies.clear(domain="127.0.0.1", path="/", name="ejia_h5_resident")
    replay = browser.get(back, timeout=30, allow_redirects=False)
    assert replay.status_code == 200 and 'id="anonymous-note"' in replay.text
    # our state, but a code WeChat refuses (made up, or used): no identity, the page still opens
    browser.get(f"{live_h5.url}/q/{unit.qr_token}", timeout=30, allow_redirects=False)
    state = browser.cookies.get("ejia_h5_oauth", domain="127.0.0.1")
    refused = browser.get(f"{live_h5.url}/q/{unit.qr_token}?code=made-up&state={state}", timeout=30,
                          allow_redirects=False)
    assert refused.status_code == 200 and 'id="anonymous-note"' in refused.text
    assert [c["errcode"] for c in sandbox.calls("sns/oauth2/access_token")] == [0, 40029]
    assert Resident.select().count() == 1
