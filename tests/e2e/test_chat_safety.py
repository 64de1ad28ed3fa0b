"""Safety and privacy in the chat, end to end (signed pushes over HTTP, real dialog, workers).

An emergency's first reply names the number to call and one worker pass tells the grid
worker, the community head and the street centre; the place that follows routes it; a
resident can see and erase what we hold about them; a sensitive case reported in chat is
never shown to another resident asking for it by number.
"""
from __future__ import annotations

from backend.models import Event, InboundMessage, Notification, Resident
from tests.e2e.test_chat_journeys import env, gcj, number_in, world  # noqa: F401  (fixtures)
from tests.workers_run import drain, set_staff_phone


def test_an_emergency_in_chat_gets_the_number_first_and_three_levels_are_told(env, world, sandbox, redis_conn,
                                                                                 live_app):
    for person in (world.worker_a, world.head, world.centre):
        set_staff_phone(person, f"1380000{person.id:04d}", env.field_key)
    user = live_app.user()
    user.report_location(*gcj(world.in_a))  # the phone reported where it is a minute ago
    reply = user.send_text("着火了!!! 快来人")
    first = reply.split("\n")[0]
    assert "119" in first and len(first) <= 30
    event = Event.get(Event.number == number_in(reply))
    assert event.urgent and event.emergency == "119" and event.grid_id == world.grid_a.id
    drain(redis_conn)  # one worker pass: route, then the notices
    told = {(r.recipient, r.channel) for r in Notification.select().where(Notification.event == event.id)
            if r.status == "sent"}
    for person in (world.worker_a, world.head, world.centre):
        assert (f"staff:{person.id}", "template") in told and (f"staff:{person.id}", "sms") in told, person.role
    # the real place follows and lands on the same report
    follow_up = user.send_location(*gcj(world.in_a), "金源路1号")
    assert "位置收到了" in follow_up and Event.select().count() == 1


def test_an_emergency_without_a_place_asks_for_it_and_routes_on(env, world, sandbox, redis_conn, live_app):
    user = live_app.user()
    reply = user.send_text("救命 有人拿刀砍人")
    assert reply.startswith("请马上打110") and "在哪里" in reply
    event = Event.get(Event.number == number_in(reply))
    drain(redis_conn)
    assert Event.get_by_id(event.id).holder_level == "centre"
    user.send_location(*gcj(world.in_b))
    drain(redis_conn)
    event = Event.get_by_id(event.id)
    assert event.holder_level == "grid" and event.holder_area_id == world.grid_b.id
    assert event.sensitivity == "sensitive"
    stranger = live_app.user()
    assert event.description not in stranger.send_text(f"查 {event.number}")


def test_my_data_and_erase_in_chat(env, world, live_app):
    user = live_app.user()
    user.send_text("楼下垃圾好几天没人清了，我电话13912345678")
    user.send_location(*gcj(world.in_a))
    number = number_in(user.send_text("1"))
    shown = user.send_text("我的信息")
    assert "正在办 1 件" in shown and "删除我的信息" in shown
    ask = user.send_text("删除我的信息")
    assert "回复 1" in ask
    assert "没有删除" in user.send_text("算了不删")
    user.send_text("删除我的信息")
    done = user.send_text("1")
    assert "已删除" in done and "正在办的 1 件" in done
    me = Resident.get(Resident.oa_openid == user.openid)
    assert me.erase_requested_at is not None
    texts = [row.payload.get("Content") for row in InboundMessage.select().where(InboundMessage.openid == user.openid)]
    assert not any(t and "13912345678" in t for t in texts)
    assert Event.get(Event.number == number).status in ("reported", "assigned")
