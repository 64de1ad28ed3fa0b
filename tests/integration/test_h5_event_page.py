"""/m/events/<number> over the real app: the reporter's masked progress, photos and rating; a
staff member's task with 接单 / 办结 (photos) / 退回 / 上报 under the workflow's rules. Refusals and
hostile uploads come back as a message on the page; nothing is stored by a refused form."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from backend import links, media as media_store
from backend.models import Attachment, Event, Media, Rating, Resident, Revisit
from backend.services import actions
from backend.services.context import staff_actor
from backend.services.events import route_event
from tests.mp_client import image_bytes
from tests.h5_fixtures import client, console_app, path_of, report, world  # noqa: F401  (fixtures)

GPS_IFD, ORIENTATION, MAKE = 0x8825, 0x0112, 0x010F
PHONE_PHOTO = image_bytes("JPEG", exif={ORIENTATION: 6, MAKE: "SecretCam", GPS_IFD: {1: "N", 2: (24.0, 30.0, 18.0)}})


@pytest.fixture
def reporter():
    return Resident.create(oa_openid="oa-reporter")


@pytest.fixture
def task(world, reporter):
    """A report routed to grid A and held by 张三 (worker_a)."""
    event = report(world, reporter, "楼下垃圾好几天没人清了")
    return route_event(event.id)


def page(client, url):
    response = client.get(path_of(url))
    return response.status_code, response.get_data(as_text=True)


def act(client, url, action, note="", files=(), **extra):
    data = {"action": action, "note": note, **extra}
    if files:
        data["photo"] = [(io.BytesIO(body), name) for name, body in files]
    number = url.split("/m/events/")[1].split("?")[0]
    return client.post(f"/m/events/{number}/act?t={links_token(url)}", data=data, content_type="multipart/form-data")


def links_token(url):
    return url.split("t=", 1)[1]


def test_the_reporter_sees_masked_progress_photos_and_rates_once(client, world, reporter, task):
    before = media_store.store_bytes(image_bytes("PNG"), "image/png")
    Attachment.create(event=task, media=before, step=task.steps.first())
    worker = staff_actor(world.worker_a)
    actions.perform(task.number, worker, "accept")
    internal = media_store.store_bytes(image_bytes("PNG", color=(1, 2, 3)), "image/png")
    actions.perform(task.number, worker, "comment", {"note": "内部：垃圾是三楼住户堆的", "internal": True,
                                                     "media_ids": [internal.id]})
    actions.perform(task.number, worker, "resolve", {"note": "已清运", "photo_count": 1, "media_ids": [before.id]})
    url = links.event_link(task, resident=reporter)
    status, body = page(client, url)
    assert status == 200
    assert "已办结" in body and "网格员 张*" in body and "张三" not in body  # staff names masked
    assert "内部" not in body  # internal steps are not the reporter's
    assert f"/photos/{before.id}?" in body and f"/photos/{internal.id}?" not in body
    token = links_token(url)
    assert client.get(f"/m/events/{task.number}/photos/{before.id}?t={token}").mimetype == "image/png"
    assert client.get(f"/m/events/{task.number}/photos/{internal.id}?t={token}").status_code == 404
    staff_url = links.event_link(task, staff=world.worker_a)
    assert client.get(f"/m/events/{task.number}/photos/{internal.id}?t={links_token(staff_url)}").status_code == 200
    assert 'id="rate"' in body

    for score, message in (("6", "请选择1到5分"), ("五", "请选择1到5分"), ("", "请选择1到5分")):
        response = client.post(f"/m/events/{task.number}/rate?t={token}", data={"score": score})
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    response = client.post(f"/m/events/{task.number}/rate?t={token}", data={"score": "4", "comment": "长" * 501})
    assert response.status_code == 400 and "意见太长了" in response.get_data(as_text=True)
    assert Rating.select().count() == 0
    response = client.post(f"/m/events/{task.number}/rate?t={token}", data={"score": "2", "comment": "还有一点没清"})
    assert response.status_code == 303 and "ok=rate" in response.headers["Location"]
    [rating] = Rating.select()
    assert (rating.score, rating.comment, rating.resident_id) == (2, "还有一点没清", reporter.id)
    assert Revisit.select().where(Revisit.event == task.id).count() == 1  # ≤ 2 queues a revisit
    status, body = page(client, response.headers["Location"])
    assert "谢谢您的评价" in body and 'id="rated"' in body and 'id="rate"' not in body
    again = client.post(f"/m/events/{task.number}/rate?t={token}", data={"score": "5"})
    assert again.status_code == 400 and "已经评价过了" in again.get_data(as_text=True)
    assert client.post(f"/m/events/{task.number}/rate?t={links_token(staff_url)}",
                       data={"score": "5"}).status_code == 403  # staff never rate
    assert client.post(f"/m/events/{task.number}/act?t={token}", data={"action": "accept"}).status_code == 403


def test_a_voice_note_on_the_page_plays_and_nothing_else_does(client, world, reporter, task):
    """The resident's own voice note plays on their page, and on the grid worker's — as WAV,
    since no phone browser plays WeChat's AMR; an internal one stays with staff."""
    import wave

    from tests.integration.test_console_events import amr_bytes

    said = media_store.store_bytes(amr_bytes(25), "audio/amr", "voice")
    Attachment.create(event=task, media=said, step=task.steps.first())
    inside = media_store.store_bytes(amr_bytes(10), "audio/amr", "voice")
    actions.perform(task.number, staff_actor(world.worker_a), "comment",
                    {"note": "内部：邻居说的", "internal": True, "media_ids": [inside.id]})
    url = links.event_link(task, resident=reporter)
    token = links_token(url)
    status, body = page(client, url)
    assert status == 200 and f"/voices/{said.id}?" in body and f"/voices/{inside.id}?" not in body
    assert f"/photos/{said.id}?" not in body  # not a broken picture
    heard = client.get(f"/m/events/{task.number}/voices/{said.id}?t={token}")
    assert heard.status_code == 200 and heard.mimetype == "audio/wav"
    with wave.open(io.BytesIO(heard.get_data())) as wav:
        assert (wav.getframerate(), wav.getnframes()) == (8000, 25 * 160)
    assert client.get(f"/m/events/{task.number}/voices/{inside.id}?t={token}").status_code == 404
    assert client.get(f"/m/events/{task.number}/photos/{said.id}?t={token}").status_code == 404
    assert client.get(f"/m/events/{task.number}/voices/{said.id}?t=forged").status_code in (403, 404)
    staff_token = links_token(links.event_link(task, staff=world.worker_a))
    assert client.get(f"/m/events/{task.number}/voices/{inside.id}?t={staff_token}").mimetype == "audio/wav"


def test_a_voice_note_no_phone_can_play_shows_no_player(client, world, reporter, task):
    """SILK (some WeChat clients) has no decoder: no player whose link answers 404, but a line
    saying so — and where staff can hear it."""
    silk = media_store.store_bytes(b"\x02#!SILK_V3" + bytes(40), "audio/silk", "voice")
    Attachment.create(event=task, media=silk, step=task.steps.first())
    for url, told in ((links.event_link(task, resident=reporter), "这种格式手机网页放不了<"),
                      (links.event_link(task, staff=world.worker_a), "请在电脑上的后台收听")):
        status, body = page(client, url)
        assert status == 200 and "语音1" in body and told in body
        assert f"/voices/{silk.id}?" not in body and "<audio" not in body
    assert client.get(f"/m/events/{task.number}/voices/{silk.id}?t={links_token(url)}").status_code == 404


def test_a_grid_worker_accepts_and_resolves_with_a_phone_photo(client, world, task):
    url = links.event_link(task, staff=world.worker_a)
    status, body = page(client, url)
    assert status == 200 and 'id="do-accept"' in body and 'id="do-return"' in body and 'id="do-resolve"' not in body
    assert "受理期限" in body
    response = act(client, url, "accept")
    assert response.status_code == 303
    assert Event.get_by_id(task.id).status == "processing"
    status, body = page(client, response.headers["Location"])
    assert "已接单" in body and 'id="do-resolve"' in body and 'id="do-accept"' not in body
    assert 'id="do-return"' not in body and 'id="do-escalate"' in body  # taken: 上报, no more 退回

    response = act(client, url, "resolve", note="已清运")  # photo required for 垃圾
    assert response.status_code == 400 and "请拍一张处理后的照片" in response.get_data(as_text=True)
    assert "已清运" in response.get_data(as_text=True)  # what was typed is kept
    response = act(client, url, "resolve", note="已清运", files=[("x.jpg", PHONE_PHOTO)])
    assert response.status_code == 303
    event = Event.get_by_id(task.id)
    assert event.status == "closed"  # a grid worker resolving in their own grid closes it (办结)
    [media] = Media.select()
    stored = media_store.read_bytes(media)
    assert b"SecretCam" not in stored
    exif = Image.open(io.BytesIO(stored)).getexif()
    assert GPS_IFD not in exif and exif.get(ORIENTATION) == 6  # GPS gone, orientation kept
    status, body = page(client, url)
    assert "已办结" in body and f"/photos/{media.id}?" in body and 'id="actions"' not in body


@pytest.mark.parametrize("files, status, message", [
    ([("fake.jpg", b"\xff\xd8\xff\xe0 this is not a picture")], 400, "图片已损坏"),
    ([("text.png", "楼下垃圾".encode())], 400, "不是"),
    ([("huge.jpg", b"\xff\xd8\xff" + b"0" * (10 * 1024 * 1024))], 413, "不能超过10MB"),
    ([(f"p{i}.jpg", PHONE_PHOTO) for i in range(4)], 400, "最多上传3张"),
    ([("ok.jpg", PHONE_PHOTO), ("bad.jpg", b"GIF89a broken")], 400, "不是"),
    ([("empty.jpg", b"")], 400, "空的"),
])
def test_hostile_uploads_are_refused_and_nothing_is_stored(client, world, task, files, status, message):
    url = links.event_link(task, staff=world.worker_a)
    act(client, url, "accept")
    response = act(client, url, "resolve", note="已清运", files=files)
    assert response.status_code == status and message in response.get_data(as_text=True)
    assert Media.select().count() == 0 and Attachment.select().count() == 0
    assert Event.get_by_id(task.id).status == "processing"


def test_a_refused_resolve_keeps_no_photo(client, world, task):
    """The rule is asked before a photo is stored: 办结 on a task not yet accepted stores nothing."""
    response = act(client, links.event_link(task, staff=world.worker_a), "resolve", note="好了",
                   files=[("ok.jpg", PHONE_PHOTO)])
    assert response.status_code == 400 and "不能处置反馈" in response.get_data(as_text=True)
    assert Media.select().count() == 0


def test_return_and_escalate_need_a_reason(client, world, task):
    url = links.event_link(task, staff=world.worker_a)
    response = act(client, url, "return")
    assert response.status_code == 400 and "退回需要写明原因" in response.get_data(as_text=True)
    response = act(client, url, "escalate", note="需要社区协调物业")
    assert response.status_code == 303
    event = Event.get_by_id(task.id)
    assert (event.status, event.holder_level, event.holder_area_id) == ("assigned", "community", world.community.id)
    status, body = page(client, url)  # a public case in the worker's grid: still readable, nothing to do
    assert status == 200 and 'id="actions"' not in body and "不需要您操作" in body


def test_actions_are_the_workflows_not_the_links(client, world, task):
    other_url = links.event_link(task, staff=world.head)  # the community head over the grid
    status, body = page(client, other_url)
    assert status == 200 and 'id="actions"' not in body  # may read it (the chain), not take it
    response = act(client, other_url, "accept")
    assert response.status_code == 403 and "您不能对这件事做“受理”" in response.get_data(as_text=True)
    response = act(client, links.event_link(task, staff=world.worker_a), "reopen", note="x")
    assert response.status_code == 400 and "没有这个操作" in response.get_data(as_text=True)
    assert Event.get_by_id(task.id).status == "assigned"


def test_script_in_texts_is_shown_escaped(client, world, reporter):
    xss = "<script>alert('x')</script>"
    event = route_event(report(world, reporter, xss).id)
    for url in (links.event_link(event, resident=reporter), links.event_link(event, staff=world.worker_a)):
        status, body = page(client, url)
        assert status == 200 and xss not in body and "&lt;script&gt;" in body


def closed(world, task):
    worker = staff_actor(world.worker_a)
    actions.perform(task.number, worker, "accept")
    actions.perform(task.number, worker, "resolve", {"note": "已清运", "waive_photo": True})
    return Event.get_by_id(task.id)


def test_the_reporter_says_it_is_not_fixed_and_it_goes_back(client, world, reporter, task):
    event = closed(world, task)
    url = links.event_link(event, resident=reporter)
    status, body = page(client, url)
    assert 'id="complain"' in body
    token = links_token(url)
    refused = client.post(f"/m/events/{event.number}/complain?t={token}", data={"reason": "  "})
    assert refused.status_code == 400 and "请说一说哪里没修好" in refused.get_data(as_text=True)
    response = client.post(f"/m/events/{event.number}/complain?t={token}", data={"reason": "垃圾又堆起来了"})
    assert response.status_code == 303 and "ok=complain" in response.headers["Location"]
    event = Event.get_by_id(event.id)
    assert (event.status, event.reopen_count, event.holder_staff_id) == ("processing", 1, world.worker_a.id)
    status, body = page(client, response.headers["Location"])
    assert "已转回处理人重新处理" in body and "居民说没修好：垃圾又堆起来了" in body and 'id="complain"' not in body
    staff_token = links_token(links.event_link(event, staff=world.worker_a))
    assert client.post(f"/m/events/{event.number}/complain?t={staff_token}",
                       data={"reason": "x"}).status_code == 403


def test_the_reporter_answers_the_centres_revisit_question(client, world, reporter, task):
    from backend.services import revisits

    event = closed(world, task)
    url = links.event_link(event, resident=reporter)
    assert 'id="revisit"' not in page(client, url)[1]  # nothing asked yet
    revisits.ask_by_wechat(Revisit.create(event=event, reason="sample").id, world.centre)
    status, body = page(client, url)
    assert 'id="revisit"' in body and "基本满意" in body
    token = links_token(url)
    wrong = client.post(f"/m/events/{event.number}/revisit?t={token}", data={"answer": "还行吧"})
    assert wrong.status_code == 400 and "请回答" in wrong.get_data(as_text=True)
    response = client.post(f"/m/events/{event.number}/revisit?t={token}", data={"answer": "基本满意"})
    assert response.status_code == 303
    [revisit] = Revisit.select()
    assert (revisit.status, revisit.outcome) == ("done", "satisfied")
    status, body = page(client, response.headers["Location"])
    assert "谢谢您的回答" in body and 'id="revisit"' not in body
    again = client.post(f"/m/events/{event.number}/revisit?t={token}", data={"answer": "不满意"})
    assert again.status_code == 404 and Revisit.get().outcome == "satisfied"  # one answer
