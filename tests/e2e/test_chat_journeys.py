"""Chat journeys end to end: signed, encrypted pushes to /wechat over real HTTP (``WeChatUser``),
the real dialog, database and Redis, real RQ workers (``drain``) and the WeChat sandbox.

Message counts are counted as pushes stored by the callback (``InboundMessage`` rows for the
user), not assumed: text + location + photo + 1 → 4; voice + location + 1 → 3; staff close an
event in their own grid with 2 actions (接单 + 办结 with a photo).
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import re
import threading
import time

import pytest

from PIL import Image

from backend import clock, config, geo, taxonomy
from backend.media import read_bytes
from backend.qr import unit_url
from backend.models import (
    Attachment,
    Building,
    BuildingUnit,
    DialogDraft,
    Event,
    EventFollower,
    EventStep,
    InboundMessage,
    Rating,
    Staff,
)
from backend.services import actions
from backend.services import staff as staff_service
from backend.services.context import staff_actor
from backend.services.events import route_event
from tests.factories import make_world
from wechat.binding import make_bind_qr
from wechat.cli import cmd_staff_bind_qr
from wechat.client import OfficialAccount
from wechat.dialog import texts
from tests.mp_client import image_bytes
from tests.workers_run import drain
from workers import relay

JPEG = image_bytes("JPEG", exif={0x8825: {1: "N", 2: (24.0, 30.0, 18.0)}})  # a phone photo, with GPS
AMR = b"#!AMR\n" + bytes(120)
NUMBER = re.compile(r"\d{8}-\d{4}")
SANDBOX_LATENCY_S = 3.0


@pytest.fixture(scope="module", autouse=True)
def _warm_taxonomy():
    """Load jieba once, as a web worker does at start (≈1–3 s), so timings measure the chat."""
    taxonomy.warm_up()


@pytest.fixture
def env(live_app, sandbox):
    """Settings pointing every WeChat call (the jobs', the CLI's) at the sandbox, and the relay
    listening as in the live app's process — an earlier test's teardown may have removed the
    one the app installed (found running test_redis_sentinel … test_notifications first)."""
    before, previous = config.current(), relay.installed()
    installed = config.install(before.with_overrides(wechat_api_base=sandbox.url, quiet_hours="off"))
    relay.install_relay(installed)
    yield installed
    if previous is None:
        relay.uninstall_relay()
    else:
        relay.install_relay(previous.settings, previous.connection, previous.retry_left)
    config.install(before)


@pytest.fixture
def world(env):
    return make_world()


def gcj(point) -> tuple[float, float]:
    return geo.wgs84_to_gcj02(*point)


def pushes(user) -> int:
    return InboundMessage.select().where(InboundMessage.openid == user.openid).count()


def number_in(reply: str) -> str:
    match = NUMBER.search(reply or "")
    assert match, f"no event number in {reply!r}"
    return match.group(0)


def bound_staff(live_app, staff: Staff):
    """A WeChat user bound to ``staff`` through the service (binding by chat is tested below)."""
    user = live_app.user()
    _, token, _ = staff_service.create_bind_token(staff.id)
    staff_service.bind_openid(token, user.openid)
    return user


def file_report(live_app, point, text="楼下垃圾好几天没人清了"):
    user = live_app.user()
    user.send_text(text)
    user.send_location(*gcj(point))
    return user, Event.get(Event.number == number_in(user.send_text("1")))


# ------------------------------------------------------------------ residents


def test_resident_journey_text_location_photo_confirm(env, world, sandbox, redis_conn, live_app):
    user = live_app.user()
    media_id = sandbox.register_media(JPEG, "image/jpeg")
    assert "在哪里" in user.send_text("楼下垃圾好几天没人清了")
    summary = user.send_location(*gcj(world.in_a), "金源路1号")
    assert "金源社区 金源第一网格" in summary and "类别：垃圾没人清" in summary
    assert user.send_image(media_id) == texts.PHOTO_RECEIVED.format(n=1)
    done = user.send_text("1")
    assert pushes(user) == 4  # the figure: a complete report in four messages
    event = Event.get(Event.number == number_in(done))
    assert "金源第一网格" in done and "进度" in done
    assert event.grid_id == world.grid_a.id and event.category.code == "0101"
    assert event.reporter_resident.oa_openid == user.openid and event.location_confirmed
    assert event.raw_datum == "gcj02" and abs(event.lat - world.in_a[0]) < 1e-5
    [attachment] = Attachment.select().where(Attachment.event == event)
    assert attachment.wechat_media_id == media_id and attachment.media is None
    drain(redis_conn)  # routing, notifications and the download_media job
    attachment = Attachment.get_by_id(attachment.id)
    assert attachment.media is not None and attachment.media.kind == "image"
    stored = read_bytes(attachment.media)
    assert Image.open(io.BytesIO(stored)).size == Image.open(io.BytesIO(JPEG)).size
    assert not Image.open(io.BytesIO(stored)).getexif()  # the GPS the phone wrote is gone
    event = Event.get_by_id(event.id)
    assert event.status == "assigned" and event.holder_area_id == world.grid_a.id


def test_voice_location_confirm_is_three_messages(env, world, sandbox, redis_conn, live_app):
    user = live_app.user()
    voice_id = sandbox.register_media(AMR, "audio/amr", kind="voice")
    assert "楼道里堆满了纸箱" in user.send_voice(voice_id, recognition="楼道里堆满了纸箱。")
    user.send_location(*gcj(world.in_b))
    event = Event.get(Event.number == number_in(user.send_text("1")))
    assert pushes(user) == 3  # the figure: three messages with voice
    assert event.grid_id == world.grid_b.id and event.category.code == "0301"
    drain(redis_conn)
    [attachment] = Attachment.select().where(Attachment.event == event)
    assert attachment.media.kind == "voice" and read_bytes(attachment.media) == AMR


def test_a_nearby_open_event_is_offered_and_followed_instead_of_filed_again(env, world, live_app):
    _, first = file_report(live_app, world.in_a)
    user = live_app.user()
    user.send_text("垃圾堆了好几天了，没人清")
    user.send_location(*gcj(world.in_a))
    offer = user.send_text("1")
    assert first.number in offer and "关注这件" in offer
    assert f"已关注 {first.number}" in user.send_text("1")
    assert Event.select().count() == 1
    follower = EventFollower.get(EventFollower.event == first)
    assert follower.resident.oa_openid == user.openid


def test_a_typed_address_is_matched_to_a_building(env, world, live_app):
    building = Building.create(area=world.grid_b, name="3号楼", address="金源社区3号楼", lat=24.506, lng=117.655)
    user = live_app.user()
    user.send_text("楼下垃圾好几天没人清了")
    assert "金源第二网格" in user.send_text("金源社区三栋")
    event = Event.get(Event.number == number_in(user.send_text("确认")))
    assert event.grid_id == world.grid_b.id and event.lat == building.lat
    other = live_app.user()
    other.send_text("楼下垃圾好几天没人清了")
    assert "金源社区 金源第一网格" in other.send_text("金源第一网格")  # a grid, no building: no point
    event = Event.get(Event.number == number_in(other.send_text("1")))
    assert event.grid_id == world.grid_a.id and event.lat is None


def test_a_bare_building_number_offers_choices_and_a_street_is_a_street(env, world, live_app):
    """Issue 15: "3号楼" alone used to answer 没找到, and "通北街道" was placed in a community."""
    mine = Building.create(area=world.grid_b, name="3号楼", address="金源社区3号楼", lat=24.506, lng=117.655)
    unit = BuildingUnit.create(building=mine, name="2单元", qr_token="qr-unit-3-2")
    Building.create(area=world.other_grid, name="3号楼", address="联三社区3号楼", lat=24.5251, lng=117.6451)
    user = live_app.user()
    user.send_text("楼下垃圾好几天没人清了")
    offer = user.send_text("3号楼2单元")
    assert texts.PLACE_CHOOSE in offer and "金源社区" in offer and "联三社区" in offer
    number = 1 if offer.index("金源社区") < offer.index("联三社区") else 2
    summary = user.send_text(str(number))
    assert "金源第二网格" in summary and "3号楼 2单元" in summary
    event = Event.get(Event.number == number_in(user.send_text("1")))
    assert (event.grid_id, event.building_unit_id) == (world.grid_b.id, unit.id)
    other = live_app.user()
    other.send_text("楼下垃圾好几天没人清了")
    reply = other.send_text("通北街道")
    assert "通北街道" in reply and "金源社区" not in reply and "网格由综治中心分派" in reply


def test_a_building_qr_scan_fills_building_and_unit(env, world, live_app):
    building = Building.create(area=world.grid_b, name="3号楼", address="金源社区3号楼", lat=24.506, lng=117.655)
    unit = BuildingUnit.create(building=building, name="2单元", qr_token="qr-unit-2-abc")
    user = live_app.user()
    assert "3号楼 2单元" in user.scancode("MENU_SCAN", unit_url(unit.qr_token))
    assert "金源第二网格" in user.send_text("楼道里堆满了纸箱")
    event = Event.get(Event.number == number_in(user.send_text("1")))
    assert (event.building_unit_id, event.grid_id) == (unit.id, world.grid_b.id)
    assert pushes(user) == 3
    assert user.scancode("MENU_SCAN", "https://evil.example/x") == texts.SCAN_BAD


def test_a_location_outside_every_grid_goes_to_the_centre_and_the_resident_is_told(env, world, redis_conn,
                                                                                     live_app):
    user = live_app.user()
    user.send_text("有人在这里吵架")
    assert texts.OUTSIDE in user.send_location(*gcj(world.nowhere))
    reply = user.send_text("1")
    assert texts.SUBMITTED_CENTRE in reply
    drain(redis_conn)
    event = Event.get(Event.number == number_in(reply))
    assert event.grid_id is None and (event.holder_level, event.holder_area_id) == ("centre", world.city.id)


def test_bad_input_over_http(env, world, live_app):
    user = live_app.user()
    assert user.send_text("asdf😀") == texts.HINT
    long = "楼道里堆满了纸箱🔥，mixed 文字 ありがとう。" * 200  # over 5,000 characters
    assert user.send_text(long).startswith(texts.TRUNCATED.format(limit=1000))
    assert user.send_text("qwerty").startswith(texts.HINT)  # the place step: a hint, the same question
    user.send_location(*gcj(world.in_a))
    event = Event.get(Event.number == number_in(user.send_text("1")))
    assert event.description == long[:1000] and "🔥" in event.description and "ありがとう" in event.description


def test_the_recent_location_event_is_offered(env, world, live_app):
    user = live_app.user()
    assert user.report_location(*gcj(world.in_b)) is None  # LOCATION events only get “success”
    offer = user.send_text("楼下垃圾好几天没人清了")
    assert "用刚才的位置吗" in offer and "金源第二网格" in offer
    assert "金源第二网格" in user.send_text("1")
    event = Event.get(Event.number == number_in(user.send_text("1")))
    assert event.grid_id == world.grid_b.id and abs(event.lat - world.in_b[0]) < 1e-5
    assert pushes(user) == 4  # the LOCATION event and three messages


def test_photos_sent_together_are_all_kept(env, world, live_app):
    user = live_app.user()
    user.send_text("楼下垃圾好几天没人清了")
    user.send_location(*gcj(world.in_a))
    senders = [live_app.user(openid=user.openid) for _ in range(4)]
    threads = [threading.Thread(target=s.send_image, args=(f"m-{i}",)) for i, s in enumerate(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    event = Event.get(Event.number == number_in(user.send_text("1")))
    kept = {a.wechat_media_id for a in Attachment.select().where(Attachment.event == event)}
    assert kept == {"m-0", "m-1", "m-2", "m-3"}


def test_state_lives_in_the_database_with_a_ttl_and_a_message_after_expiry_is_told_so(env, world, live_app,
                                                                                     redis_conn):
    user = live_app.user()
    user.send_text("楼下垃圾好几天没人清了")
    draft = DialogDraft.get(DialogDraft.openid == user.openid)
    assert draft.flow == "report" and draft.state["step"] == "place" and draft.lease is None
    assert 0 < draft.expires_at - time.time() <= env.dialog_ttl_seconds
    assert redis_conn.keys("ejia:dialog:*") == []  # Redis holds nothing of it
    config.install(env.with_overrides(dialog_ttl_seconds=1))
    user.send_location(*gcj(world.in_a))
    time.sleep(1.1)
    assert user.report_location(*gcj(world.in_a)) is None  # a position report keeps nothing alive
    time.sleep(1.1)  # the state has expired
    reply = user.send_text("1")
    assert reply.startswith("刚才没办完的事") and Event.select().count() == 0


def test_follow_up_progress_query_rate_and_withdraw(env, world, live_app):
    resident, event = file_report(live_app, world.in_a)
    worker = staff_actor(world.worker_a)
    route_event(event.id)
    actions.perform(event.number, worker, "accept")
    actions.perform(event.number, worker, "resolve", {"note": "已清理", "photo_count": 1,
                                                      "wechat_media_ids": ["m-done"]})
    assert "已办结，待您打分" in resident.send_text("进度")
    trajectory = resident.send_text(f"查 {event.number}")
    assert "网格员 张*" in trajectory and "张三" not in trajectory and texts.ASK_RATE in trajectory
    assert "打了5分" in resident.send_text("5 很满意")
    rating = Rating.get(Rating.event == event)
    assert (rating.score, rating.comment) == (5, "很满意")
    assert "不能撤回" in resident.send_text(f"撤回 {event.number}")
    user2, other = file_report(live_app, world.in_b, "路灯坏了好几天")
    assert resident.send_text(f"撤回 {other.number}").startswith("没有找到")  # not mine
    assert user2.send_text(f"撤回 {other.number}") == texts.WITHDRAWN.format(number=other.number)
    assert Event.get_by_id(other.id).status == "withdrawn"


# ------------------------------------------------------------------ staff


def test_staff_journey_bind_todo_accept_resolve_with_photo(env, world, sandbox, redis_conn, live_app):
    Staff.update(oa_openid=None).where(Staff.id == world.worker_a.id).execute()
    qr = make_bind_qr(world.worker_a.id, OfficialAccount(env, redis_conn))
    [call] = sandbox.calls("qrcode/create")
    assert call["body"]["action_info"]["scene"]["scene_str"] == qr.scene
    staff_user = live_app.user()
    assert "绑定成功" in staff_user.scan(qr.scene, follow=True)  # subscribe_scan
    assert Staff.get_by_id(world.worker_a.id).oa_openid == staff_user.openid

    _, event = file_report(live_app, world.in_a)
    drain(redis_conn)
    short = int(event.number[-4:])
    todo = staff_user.send_text("待办")
    assert f"[{short}]" in todo and "楼下垃圾" in todo
    assert "已接单" in staff_user.send_text(f"接单 {short}")
    assert texts.ASK_RESOLVE_PHOTO in staff_user.send_text(f"办结 {short} 已清理干净")
    photo = sandbox.register_media(JPEG, "image/jpeg")
    assert staff_user.send_image(photo) == texts.CLOSED.format(number=event.number)
    event = Event.get_by_id(event.id)
    assert event.status == "closed" and event.closed_at is not None
    staff_steps = EventStep.select().where((EventStep.event == event) & (EventStep.actor_kind == "staff"))
    assert [s.action for s in staff_steps.order_by(EventStep.id)] == ["accept", "resolve"]  # the figure: 2
    drain(redis_conn)
    [after] = Attachment.select().where((Attachment.event == event) & (Attachment.wechat_media_id == photo))
    assert Attachment.get_by_id(after.id).media is not None


def test_staff_commands_outside_scope_or_in_wrong_status_change_nothing(env, world, live_app, redis_conn):
    _, event = file_report(live_app, world.in_a)
    drain(redis_conn)
    stranger = bound_staff(live_app, world.worker_b)  # another grid
    before = (Event.get_by_id(event.id).status, EventStep.select().count())
    assert stranger.send_text(f"接单 {event.number}").startswith("没有找到")
    assert stranger.send_text(f"接单 {int(event.number[-4:])}").startswith("没有找到")
    worker = bound_staff(live_app, world.worker_a)
    assert "请先回复“接单" in worker.send_text(f"办结 {int(event.number[-4:])}")
    assert (Event.get_by_id(event.id).status, EventStep.select().count()) == before


def test_binding_refusals(env, world, live_app):
    _, token, _ = staff_service.create_bind_token(world.worker_a.id)
    first, second = live_app.user(), live_app.user()
    assert "绑定成功" in first.scan(f"bind:{token}")
    assert "无效或已经用过" in second.scan(f"bind:{token}")  # one time only
    _, expired, _ = staff_service.create_bind_token(world.worker_b.id, ttl_seconds=60)
    with clock.frozen(clock.now() + dt.timedelta(seconds=61)):  # the server thread shares the clock
        assert "过期" in second.scan(f"bind:{expired}")
    _, token_b, _ = staff_service.create_bind_token(world.worker_b.id)
    assert "已经绑定了其他工作人员" in first.scan(f"bind:{token_b}")  # first is 张三 already
    assert Staff.get_by_id(world.worker_b.id).oa_openid == "oa-李四"  # nothing changed


def test_quick_record_is_one_closed_event(env, world, sandbox, live_app):
    staff_user = bound_staff(live_app, world.worker_a)
    assert staff_user.send_text("即报即办 清理了楼道杂物") == texts.ASK_QUICK_PHOTO
    staff_user.send_image(sandbox.register_media(JPEG, "image/jpeg"))
    reply = staff_user.send_location(*gcj(world.in_a))
    event = Event.get(Event.number == number_in(reply))
    assert "即报即办" in reply
    assert event.status == "closed" and event.quick_record and event.grid_id == world.grid_a.id
    assert event.reporter_staff_id == world.worker_a.id
    assert Attachment.select().where(Attachment.event == event).count() == 1


def test_bind_qr_cli_prints_the_scene_and_the_qr(env, world, sandbox, capsys):
    assert cmd_staff_bind_qr(argparse.Namespace(staff_id=world.worker_b.id, expire_seconds=900)) == 0
    out = json.loads(capsys.readouterr().out)
    staff = Staff.get_by_id(world.worker_b.id)
    assert out["scene"] == f"bind:{staff.bind_token}" and out["staff_id"] == staff.id
    assert out["qrcode_url"].startswith(sandbox.url) and out["ticket"]
    [call] = sandbox.calls("qrcode/create")
    assert call["body"]["expire_seconds"] == 900
    assert cmd_staff_bind_qr(argparse.Namespace(staff_id=999999, expire_seconds=600)) == 1


# ------------------------------------------------------------------ within the request, no outbound call


def test_every_step_is_answered_within_the_request_without_calling_wechat(env, world, sandbox, redis_conn,
                                                                         live_app):
    staff_user = bound_staff(live_app, world.worker_b)
    _, earlier = file_report(live_app, world.in_b, "路灯坏了好几天")  # a task for grid B's worker
    drain(redis_conn)
    sandbox.reset()
    sandbox.configure(latency_ms=int(SANDBOX_LATENCY_S * 1000))  # any WeChat call would now take 3 s
    user = live_app.user()
    timings = []

    def timed(send, *args):
        started = time.monotonic()
        reply = send(*args)
        timings.append(time.monotonic() - started)
        return reply

    timed(user.subscribe)
    timed(user.send_voice, "m-voice", None)
    timed(user.send_text, "楼下垃圾好几天没人清了")
    timed(user.send_location, *gcj(world.in_a))
    timed(user.send_image, "m-photo")
    event = Event.get(Event.number == number_in(timed(user.send_text, "1")))
    timed(user.send_text, "进度")
    timed(user.send_text, f"查 {event.number}")
    timed(staff_user.send_text, "待办")
    short = int(earlier.number[-4:])
    assert "已接单" in timed(staff_user.send_text, f"接单 {short}")
    assert texts.ASK_RESOLVE_PHOTO in timed(staff_user.send_text, f"办结 {short} 已修好")
    assert "已办结" in timed(staff_user.send_image, "m-fixed")
    assert sandbox.calls() == []  # no outbound call while chatting
    assert max(timings) < SANDBOX_LATENCY_S / 3, timings  # far below the injected latency
    sandbox.configure(latency_ms=0)
    drain(redis_conn)
    assert sandbox.calls("media/get")  # the slow work happened afterwards, in jobs
    assert Attachment.get((Attachment.event == event) & (Attachment.wechat_media_id == "m-photo"))
