"""After reporting: 进度, 查 N, rating, 撤回 N — and the always-helpful answers."""
from __future__ import annotations

import pytest

from wechat.dialog import texts
from wechat.dialog.commands import RememberLocation, ResidentAction, Result
from tests.unit.test_dialog_support import GIBBERISH, Chat, event_fact


def test_progress_lists_my_recent_events_with_their_status_and_since_when():
    events = (event_fact("20261126-0004", "processing", last_step="今天 09:30"),
              event_fact("20261126-0003", "closed", last_step="昨天 16:00"),
              event_fact("20261126-0001", "assigned", followed=True, description="垃圾没人清"))
    reply = Chat().text("进度", my_events=events)
    assert "20261126-0004" in reply and "处置中（今天 09:30）" in reply  # a status, shown as a status
    assert "已办结，待您打分（昨天 16:00）" in reply and "20261126-0001（关注）" in reply and "查 编号" in reply
    assert "评价" not in reply.split("查 编号")[0].replace("待您打分", "")


def test_progress_menu_click_and_query_word_are_the_same_intent():
    events = (event_fact("20261126-0004", "processing"),)
    assert Chat().event("CLICK", key="PROGRESS", my_events=events) == Chat().text("查询", my_events=events)


def test_query_shows_the_trajectory_as_given_by_the_shell():
    fact = event_fact("20261126-0004", "processing",
                      trajectory=("今天 09:01 上报事件 居民", "今天 09:02 分派", "今天 09:30 受理 网格员 张*"))
    reply = Chat().text("查 20261126-0004", event=fact)
    assert reply.splitlines()[1] == "现在：处置中" and reply.endswith("今天 09:30 受理 网格员 张*")


def test_query_of_an_unknown_or_foreign_event_says_not_found():
    reply = Chat().text("查 20261126-0099", event=None)
    assert "没有找到" in reply and "20261126-0099" in reply


def test_query_of_a_closed_unrated_event_asks_for_a_score_and_the_next_number_rates_it():
    chat = Chat()
    reply = chat.text("查 3", event=event_fact("20261126-0003", "closed"))
    assert texts.ASK_RATE in reply and chat.state.flow == "rate"
    reply = chat.text("4 处理得很快")
    assert chat.last_commands == [ResidentAction("20261126-0003", "rate", score=4, comment="处理得很快")]
    assert "打了4分" in reply and chat.state.idle


def test_in_the_rate_flow_a_new_problem_is_still_reported():
    chat = Chat()
    chat.text("查 3", event=event_fact("20261126-0003", "closed"))
    reply = chat.text("楼道里堆满了纸箱")
    assert "在哪里" in reply and chat.state.flow == "report"


@pytest.mark.parametrize("text, score, comment", [("5", 5, None), ("5分", 5, None), ("１ 太慢了", 1, "太慢了"),
                                                  ("2分，没有处理好", 2, "没有处理好")])
def test_a_bare_score_rates_my_latest_closed_event(text, score, comment):
    chat = Chat()
    reply = chat.text(text, rateable=event_fact("20261126-0003", "closed"))
    assert chat.last_commands == [ResidentAction("20261126-0003", "rate", score=score, comment=comment)]
    assert f"打了{score}分" in reply
    assert (texts.RATED_LOW in reply) == (score <= 2)


def test_a_score_with_nothing_to_rate_gets_a_plain_answer():
    assert Chat().text("5分") == texts.NOTHING_TO_RATE
    assert Chat().text("5") == texts.HINT
    assert Chat().text("8", rateable=event_fact()) == texts.HINT


def test_rating_twice_is_refused_plainly():
    chat = Chat()
    chat.results[ResidentAction] = Result.refused("already_rated", "这件事您已经评价过了")
    assert chat.text("评价 3 5", event=event_fact()) == "这件事您已经评价过了"


def test_withdraw_by_number():
    chat = Chat()
    reply = chat.text("撤回 20261126-0004", event=event_fact("20261126-0004", "assigned"))
    assert chat.last_commands == [ResidentAction("20261126-0004", "withdraw")]
    assert reply == texts.WITHDRAWN.format(number="20261126-0004")


def test_withdraw_refused_after_acceptance_changes_nothing():
    chat = Chat()
    chat.results[ResidentAction] = Result.refused("wrong_status", "这件事现在是“处置中”，不能撤回")
    assert chat.text("撤回 4", event=event_fact("20261126-0004", "processing")) == "这件事现在是“处置中”，不能撤回"


def test_withdraw_without_a_number_asks_which_and_unknown_numbers_are_not_found():
    assert Chat().text("撤回") == texts.WITHDRAW_WHICH
    assert "没有找到" in Chat().text("撤回 9", event=None)


# ------------------------------------------------------------------ always helpful


def test_subscribe_welcome_explains_the_three_things():
    reply = Chat().event("subscribe")
    assert reply == texts.WELCOME
    assert "反映" in reply and "进度" in reply and "1 到 5 分" in reply


@pytest.mark.parametrize("key, expected", [("HELP", texts.HELP), ("TODO", texts.NOT_STAFF),
                                           ("REPORT", texts.ASK_DESCRIPTION), ("NOPE", texts.HINT)])
def test_menu_keys_map_to_the_same_intents(key, expected):
    assert Chat().event("CLICK", key=key) == expected


@pytest.mark.parametrize("junk", [GIBBERISH, "？？？", "12345", "😀", "...", "ok?"])
def test_unknown_input_gets_a_short_hint_never_silence(junk):
    assert Chat().text(junk) == texts.HINT


def test_greetings_links_and_unknown_kinds_are_answered():
    assert Chat().text("你好") == texts.GREETING
    assert Chat().send("link", "描述", title="标题", url="https://example.org") == texts.LINK
    assert Chat().send("unknown") == texts.HINT


def test_location_events_are_remembered_silently():
    chat = Chat()
    reply = chat.send("event", event="LOCATION", lat=24.5, lng=117.6)
    assert reply is None and chat.last_commands == [RememberLocation(24.5, 117.6, chat.now)]
    assert chat.send("event", event="LOCATION") is None and not chat.last_commands  # no coordinates


@pytest.mark.parametrize("event", ["VIEW", "TEMPLATESENDJOBFINISH", "location_select", "unsubscribe"])
def test_events_nobody_reads_get_no_reply(event):
    assert Chat().event(event) is None
