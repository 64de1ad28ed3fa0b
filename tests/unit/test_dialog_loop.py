"""Hearing back in the chat (issue 14): 没修好 reopens, 回访 answered in plain words."""
from __future__ import annotations

from wechat.dialog import texts
from wechat.dialog.commands import AnswerRevisit, ResidentAction, Result
from tests.unit.test_dialog_support import Chat, event_fact


def test_not_fixed_after_closure_reopens_the_latest_closed_case():
    chat = Chat()
    reply = chat.text("没修好，晚上还是很吵", complainable=event_fact("20261126-0003"))
    [command] = chat.last_commands
    assert command == ResidentAction("20261126-0003", "complain", comment="居民说没修好：晚上还是很吵")
    assert reply == texts.COMPLAINED.format(number="20261126-0003")


def test_not_fixed_with_nothing_closed_says_so():
    chat = Chat()
    assert chat.text("不满意") == texts.NOTHING_TO_COMPLAIN and not chat.commands


def test_a_revisit_question_is_answered_with_its_words():
    chat = Chat()
    reply = chat.text("基本满意", revisit_asked="20261126-0003")
    assert chat.last_commands == [AnswerRevisit("20261126-0003", "基本满意")]
    assert reply == texts.REVISIT_THANKS.format(number="20261126-0003")
    chat.results[AnswerRevisit] = Result.done(number="20261126-0003", status="processing")
    assert "重新处理" in chat.text("不满意", revisit_asked="20261126-0003")


def test_without_a_question_the_same_words_are_not_an_answer():
    chat = Chat()
    chat.text("满意")
    assert not any(isinstance(c, AnswerRevisit) for c in chat.commands)


def test_a_phone_sent_on_its_own_is_kept_and_anything_else_is_not_a_phone():
    from wechat.dialog.commands import KeepPhone

    chat = Chat()
    assert "139****5678" in chat.text("139 1234 5678")
    assert chat.last_commands == [KeepPhone("139 1234 5678")]
    chat.results[KeepPhone] = Result.refused("bad_phone", "这个号码不对，请发 11 位手机号")
    assert chat.text("12345678901234") == "这个号码不对，请发 11 位手机号"
    other = Chat()
    for text in ("5", "3号楼", "查 20261126-0003", "202611260003 楼下垃圾"):
        other.text(text)
    assert not any(isinstance(c, KeepPhone) for c in other.commands)


def test_the_confirmation_offers_to_keep_a_phone_once_without_asking_for_another_message():
    from tests.unit.test_dialog_support import CORRIDOR, PLACE_A
    from wechat.dialog.commands import SubmitReport

    chat = Chat()
    chat.results[SubmitReport] = Result.done(number="20261126-0007", grid_name="金源第一网格", created=True,
                                             offer_phone=True)
    chat.text("楼道里堆满了纸箱", suggestions=(CORRIDOR,))
    chat.location(PLACE_A)
    done = chat.text("1")
    assert "20261126-0007" in done and texts.PHONE_OFFER in done and chat.state.idle  # no extra step
