"""Interruptions: 取消 anywhere, a new report while one is open, a message after the state expired,
and questions asked in the middle of a report."""
from __future__ import annotations

import pytest

from wechat.dialog import texts
from wechat.dialog.state import State
from tests.unit.test_dialog_report import QUESTIONS, drive
from tests.unit.test_dialog_support import GARBAGE, PLACE_A, WORKER, Chat, event_fact, task_fact


@pytest.mark.parametrize("step", list(QUESTIONS))
@pytest.mark.parametrize("word", ["取消", "算了", "不报了。"])
def test_cancel_mid_way_at_every_step_forgets_the_draft(step, word):
    chat = drive(step)
    assert chat.text(word) == texts.CANCELLED
    assert chat.state.idle and not chat.submitted()
    assert chat.text("1") == texts.HINT  # nothing left to confirm


def test_cancel_with_nothing_open():
    assert Chat().text("取消") == texts.NOTHING_TO_CANCEL


def test_cancel_mid_way_in_staff_flows():
    chat = Chat(staff=WORKER)
    chat.text("办结 3", task=task_fact(3, "processing"))
    assert chat.state.flow == "resolve"
    assert chat.text("取消") == texts.CANCELLED and chat.state.idle
    chat.text("即报即办")
    assert chat.text("取消") == texts.CANCELLED and chat.state.idle and not chat.commands


def test_a_new_report_while_one_is_open_asks_before_dropping_it():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.location(PLACE_A)
    reply = chat.event("CLICK", key="REPORT")
    assert "还有一件事没报完" in reply and "楼下垃圾好几天没人清了" in reply
    assert chat.state.step == "switch"
    assert "请核对" in chat.text("1")  # keep it: back to the question we had asked
    chat.text("我要上报")
    assert chat.text("2") == texts.ASK_DESCRIPTION  # drop it: a fresh report
    assert chat.state.draft.get("description") is None and chat.state.step == "describe"
    chat.text("路灯坏了好几天")
    chat.location(PLACE_A)
    chat.text("1")
    [report] = chat.submitted()
    assert report.description == "路灯坏了好几天"


def test_report_menu_with_an_empty_draft_just_asks_again():
    chat = Chat()
    chat.event("CLICK", key="REPORT")
    assert chat.event("CLICK", key="REPORT") == texts.ASK_DESCRIPTION


def test_a_message_after_the_state_expired_is_told_so_and_not_misread():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.location(PLACE_A)
    chat.now += 1801  # 30 minutes and a second later
    reply = chat.text("1", rateable=event_fact())  # “1” must not confirm, nor rate the old event 1 point
    assert reply.startswith(texts.EXPIRED.format(minutes=30))
    assert not chat.commands and chat.state.idle


def test_after_redis_let_the_state_expire_the_shell_says_which_flow_was_open():
    chat = Chat()  # Redis already dropped the state; the shell found the flow marker
    reply = chat.text("1", expired_flow="report", rateable=event_fact())
    assert reply.startswith(texts.EXPIRED.format(minutes=30)) and not chat.commands


def test_after_expiry_a_new_description_starts_a_new_report_with_the_notice():
    chat = Chat()
    reply = chat.text("楼下垃圾好几天没人清了", expired_flow="report", suggestions=(GARBAGE,))
    assert reply.startswith(texts.EXPIRED.format(minutes=30)) and "在哪里" in reply
    assert chat.state.flow == "report"


def test_state_inside_the_ttl_is_kept():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.now += 1700
    assert "请核对" in chat.location(PLACE_A)


@pytest.mark.parametrize("word, expected", [("帮助", texts.HELP), ("进度", texts.NO_EVENTS)])
def test_help_and_progress_mid_way_keep_the_draft(word, expected):
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    reply = chat.text(word)
    assert expected in reply and texts.RESUME in reply
    assert chat.state.step == "place"
    assert "请核对" in chat.location(PLACE_A)


def test_subscribe_starts_afresh():
    chat = Chat(state=State(flow="report", step="place", draft={"key": "k", "description": "x"}, updated_at=0))
    assert chat.event("subscribe") == texts.WELCOME and chat.state.idle


def test_position_reports_do_not_touch_an_open_conversation():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    before = chat.state
    chat.now += 1801
    assert chat.send("event", event="LOCATION", lat=24.5, lng=117.6) is None
    assert chat.state == before  # not expired by it, not refreshed by it
    assert chat.text("1").startswith(texts.EXPIRED.format(minutes=30))
