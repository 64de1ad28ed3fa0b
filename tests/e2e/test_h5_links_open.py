"""Every link the system hands out opens (issue 14): a resident scans a poster inside WeChat and
reports; the real workers (RQ SimpleWorker) tell the grid worker by template message and the
resident by customer-service messages through the WeChat sandbox; the grid worker works the task
from the link in their template message; the centre asks a 回访 by WeChat; another reporter, silent
for 3 days, hears by progress template. Then every URL WeChat received — template ``url``s, links
in message texts — and the URL the building poster encodes is opened by a stranger's phone
browser: each must answer 200 (a link's page, or the poster's report page)."""
from __future__ import annotations

import datetime as dt
import re

import cv2
import numpy as np
import pytest
import requests

from backend import clock, links, posters
from backend.models import Event, Resident, Revisit
from backend.services import actions, revisits
from backend.services.context import staff_actor
from miniprogram_api.testing import image_bytes
from tests.factories import make_world
from tests.h5_fixtures import PHONE_UA, WECHAT_UA, live_h5, make_unit, report  # noqa: F401
from tests.worker_fixtures import worker_settings_installed
from workers.testing import drain

URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>，。）]+")


@pytest.fixture
def env(live_h5, sandbox):
    """The workers' settings: the live app's (its address is PUBLIC_BASE_URL), links as H5."""
    workers = live_h5.settings.with_overrides(quiet_hours="off", extra={"NOTIFY_LINK": "h5"})
    with worker_settings_installed(workers, live_h5.settings) as installed:
        yield installed


def urls_wechat_received(sandbox) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for call in sandbox.calls():
        body = call.get("body") or {}
        if not isinstance(body, dict) or call["errcode"] != 0:
            continue
        if body.get("url"):
            found.setdefault(call["api"], []).append(body["url"])
        text = (body.get("text") or {}).get("content", "") if isinstance(body.get("text"), dict) else ""
        found.setdefault(call["api"], []).extend(URL_IN_TEXT.findall(text))
    return {api: urls for api, urls in found.items() if urls}


def poster_url(unit) -> str:
    png = posters.unit_poster_png(posters.label_for_unit(unit))
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert text, "the poster's QR did not decode"
    return text


def form_action(page: str, action: str) -> str:
    form = re.search(rf'<form[^>]+id="form-{action}"[^>]*action="([^"]+)"', page, re.S)
    assert form, f"no {action} form on the page"
    return form.group(1).replace("&amp;", "&")


def test_every_url_the_system_sent_opens(env, live_h5, sandbox, redis_conn):
    world = make_world()
    unit = make_unit(world.grid_a)
    base = live_h5.url

    # 1. A resident who chatted with the account today scans the poster inside WeChat and reports.
    resident_phone = requests.Session()
    resident_phone.headers["User-Agent"] = WECHAT_UA
    resident_phone.cookies.set("ejia_sandbox_openid", "oa-walk-resident", domain="127.0.0.1")
    page = resident_phone.get(poster_url(unit), timeout=30)
    Resident.update(last_message_at=clock.now()).where(Resident.oa_openid == "oa-walk-resident").execute()
    key = re.search(r'name="client_key" value="([0-9a-f]{32})"', page.text).group(1)
    filed = resident_phone.post(page.url.split("#")[0], data={"description": "楼道灯不亮，晚上看不见", "client_key": key},
                                timeout=30)
    assert filed.status_code == 201
    event = Event.get()
    drain(redis_conn)  # route → template message to the grid worker

    # 2. The grid worker opens the link in their template message, accepts, then resolves with a photo.
    [task] = [c for c in sandbox.calls("message/template/send") if c["body"]["touser"] == world.worker_a.oa_openid]
    worker_phone = requests.Session()
    worker_phone.headers["User-Agent"] = WECHAT_UA
    task_page = worker_phone.get(task["body"]["url"], timeout=30)
    assert task_page.status_code == 200 and "楼道灯不亮" in task_page.text
    accepted = worker_phone.post(base + form_action(task_page.text, "accept"), data={"action": "accept"}, timeout=30)
    assert accepted.status_code == 200 and "已接单" in accepted.text
    drain(redis_conn)  # 已受理 → the resident (customer-service message, inside the 48-hour window)
    done = worker_phone.post(base + form_action(accepted.text, "resolve"), timeout=30,
                             data={"action": "resolve", "note": "换了新灯泡"},
                             files={"photo": ("after.jpg", image_bytes("JPEG"), "image/jpeg")})
    assert done.status_code == 200 and "已办结" in done.text
    assert Event.get_by_id(event.id).status == "closed"
    drain(redis_conn)  # 已办结 + 请评价 → the resident
    revisits.ask_by_wechat(Revisit.create(event=event, reason="sample").id, world.centre)
    drain(redis_conn)  # 回访 question → the resident, still inside the window

    # Another reporter, silent for 3 days: no customer message any more, a progress template instead.
    quiet = Resident.create(oa_openid="oa-walk-quiet", last_message_at=clock.now() - dt.timedelta(days=3))
    other = report(world, quiet, "路灯不亮")
    drain(redis_conn)
    worker = staff_actor(world.worker_a)
    actions.perform(other.number, worker, "accept")
    actions.perform(other.number, worker, "resolve", {"note": "已修好", "waive_photo": True})
    drain(redis_conn)
    accepted_notice, closed_notice = [c for c in sandbox.calls("message/template/send")
                                      if c["body"]["touser"] == "oa-walk-quiet"]  # 已受理, 已办结
    assert links.open_link(closed_notice["body"]["url"].split("t=", 1)[1], other).resident.id == quiet.id

    # 3. Everything WeChat received, and the poster: a stranger's phone opens each one.
    received = urls_wechat_received(sandbox)
    assert len(received.get("message/template/send", [])) >= 1
    texts = received.get("message/custom/send", [])
    assert len(texts) == 3  # 已受理, 已办结 and the 回访 question, each with the reporter's own link
    every = [url for urls in received.values() for url in urls] + [poster_url(unit)]
    stranger = requests.Session()
    stranger.headers["User-Agent"] = PHONE_UA
    answers = {url: stranger.get(url, timeout=30).status_code for url in every}
    assert all(url.startswith(base + "/") for url in every), every
    assert answers == {url: 200 for url in every}

    # The link in the 回访 question lets the reporter answer it; the 已办结 one, rate.
    question = stranger.get(texts[2], timeout=30)
    answered = stranger.post(base + re.search(r'<form method="post" action="([^"]+/revisit[^"]*)"', question.text)
                             .group(1).replace("&amp;", "&"), data={"answer": "满意"}, timeout=30)
    assert answered.status_code == 200 and "谢谢您的回答" in answered.text
    assert Revisit.get().outcome == "satisfied"
    rating_page = stranger.get(texts[1], timeout=30)
    assert 'id="rate"' in rating_page.text and "网格员" in rating_page.text
    rated = stranger.post(base + re.search(r'<form method="post" action="([^"]+/rate[^"]*)"', rating_page.text)
                          .group(1).replace("&amp;", "&"), data={"score": "5"}, timeout=30)
    assert rated.status_code == 200 and "谢谢您的评价" in rated.text
