"""Hearing back in the chat, end to end: the phone offer costs no message, a phone sent is kept,
没修好 goes back to the handler, and a 回访 question is answered in plain words."""
from __future__ import annotations

from backend.models import Event, InboundMessage, Resident, Revisit
from backend.services import actions, revisits
from backend.services.context import staff_actor
from tests.e2e.test_chat_journeys import env, gcj, number_in, world  # noqa: F401  (fixtures)
from wechat.dialog import texts
from workers.testing import drain


def pushes(user) -> int:
    return InboundMessage.select().where(InboundMessage.openid == user.openid).count()


def test_the_phone_offer_adds_no_message_and_a_phone_sent_is_kept(env, world, live_app):
    user = live_app.user()
    user.send_text("楼下垃圾好几天没人清了")
    user.send_location(*gcj(world.in_a))
    done = user.send_text("1")
    assert pushes(user) == 3 and texts.PHONE_OFFER in done  # the figure: 0 messages added
    assert "139****5678" in user.send_text("13912345678")
    resident = Resident.get(Resident.oa_openid == user.openid)
    assert resident.phone_enc and resident.phone_index
    assert "不对" in user.send_text("12345678901234")  # not a mainland mobile: nothing changed
    second = live_app.user()
    second.send_text("路灯坏了好几天")
    second.send_location(*gcj(world.in_a))
    second.send_text("1")
    third_report = second.send_text("楼道里又堆满了纸箱")  # a second report: the offer is not repeated
    second.send_location(*gcj(world.in_a))
    assert texts.PHONE_OFFER not in second.send_text("1") and third_report


def test_not_fixed_and_a_revisit_answer_from_the_chat(env, world, sandbox, redis_conn, live_app):
    user = live_app.user()
    user.send_text("楼上邻居装修太吵了")
    user.send_location(*gcj(world.in_a))
    event = Event.get(Event.number == number_in(user.send_text("1")))
    drain(redis_conn)
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    actions.perform(event.number, staff_actor(world.worker_a), "resolve", {"note": "已沟通", "waive_photo": True, "photo_count": 1})
    drain(redis_conn)
    assert event.number in user.send_text("没修好，晚上还在敲")
    event = Event.get_by_id(event.id)
    assert event.status == "processing" and event.reopen_count == 1
    actions.perform(event.number, staff_actor(world.worker_a), "resolve", {"note": "已停工", "waive_photo": True, "photo_count": 1})
    revisits.ask_by_wechat(Revisit.create(event=event, reason="sample").id, world.centre)
    drain(redis_conn)
    assert texts.REVISIT_THANKS.format(number=event.number) == user.send_text("满意")
    assert Revisit.get(Revisit.event == event.id).outcome == "satisfied"
