"""Emergencies in chat (engine_emergency): the number first, filed at once, the place after."""
from __future__ import annotations

from wechat.dialog import texts
from wechat.dialog.commands import AddToReport, Result, SubmitReport
from wechat.dialog.state import State
from tests.unit.test_dialog_support import CORRIDOR, PLACE_A, PLACE_B, WORKER, Chat


def test_an_emergency_gets_the_number_in_the_first_line_and_is_filed_at_once():
    chat = Chat()
    reply = chat.text("3号楼着火了!!! 好大的烟")
    first, *rest = reply.split("\n")
    assert "119" in first
    [command] = chat.submitted()
    assert command.emergency and command.category_code is None  # the backend files it under 火情
    assert command.description == "3号楼着火了!!! 好大的烟"
    assert "20261126-0007" in reply and texts.EMERGENCY_ASK_PLACE in rest
    assert chat.state.flow == "emergency" and chat.state.step == "place"


def test_the_place_that_follows_goes_to_the_same_report():
    chat = Chat()
    chat.text("救命 有人拿刀砍人")
    reply = chat.location(PLACE_A)
    [add] = [c for c in chat.last_commands if isinstance(c, AddToReport)]
    assert add.number == "20261126-0007" and add.place["grid_id"] == PLACE_A.grid_id
    assert len(chat.submitted()) == 1  # not a second report
    assert "位置收到了" in reply and "金源第一网格" in reply


def test_a_typed_place_that_is_only_a_guess_is_kept_as_words_not_taken_as_the_place():
    chat = Chat()
    chat.text("救命 有人拿刀砍人")
    chat.text("3号楼", address_matches=(PLACE_A,), address_ask=True)
    [add] = [c for c in chat.last_commands if isinstance(c, AddToReport)]
    assert add.place is None and add.note == "3号楼"
    chat.text("金源社区3号楼", address_matches=(PLACE_A,))
    [add] = [c for c in chat.last_commands if isinstance(c, AddToReport)]
    assert add.place["grid_id"] == PLACE_A.grid_id


def test_photos_and_words_after_it_are_added_not_filed_again():
    chat = Chat()
    chat.text("楼下有人晕倒了", recent_place=PLACE_B)
    chat.photo("m-1")
    chat.text("是个老大爷，六十多岁")
    adds = [c for c in chat.commands if isinstance(c, AddToReport)]
    assert [a.wechat_media_ids for a in adds] == [("m-1",), ()]
    assert adds[1].note == "是个老大爷，六十多岁"
    assert len(chat.submitted()) == 1


def test_a_recent_location_is_used_and_said_to_be_unconfirmed():
    chat = Chat()
    reply = chat.text("煤气泄漏了好大的味道", recent_place=PLACE_B)
    [command] = chat.submitted()
    assert command.lat == PLACE_B.lat and not command.located
    assert "手机刚才的位置" in reply


def test_a_draft_in_progress_lends_its_words_place_and_photos():
    chat = Chat()
    chat.text("楼道里堆满了纸箱", suggestions=(CORRIDOR,))
    chat.photo("m-box")
    chat.location(PLACE_A)
    chat.text("现在纸箱着火了")
    [command] = chat.submitted()
    assert command.description == "楼道里堆满了纸箱；现在纸箱着火了"
    assert command.located and command.lat == PLACE_A.lat and "m-box" in command.wechat_media_ids


def test_a_voice_note_heard_as_an_emergency():
    chat = Chat()
    reply = chat.voice("m-v", recognition="快来人啊我爸晕倒了")
    assert reply.split("\n")[0].startswith("请马上打120")
    assert "m-v" in chat.submitted()[0].wechat_media_ids


def test_ordinary_alarming_words_take_the_normal_report_path():
    chat = Chat()
    reply = chat.text("楼道堆物有火灾隐患", suggestions=(CORRIDOR,))
    assert not chat.submitted() and chat.state.flow == "report"
    assert "119" not in reply


def test_commands_are_never_read_as_emergencies():
    chat = Chat(staff=WORKER)
    chat.text("办结 3 火已经扑灭了，楼道清理干净")
    assert not chat.submitted()


def test_cancel_after_filing_says_the_report_stands():
    chat = Chat()
    chat.text("着火了")
    reply = chat.text("取消")
    assert "撤回 20261126-0007" in reply and chat.state.idle


def test_a_failed_filing_still_says_whom_to_call():
    chat = Chat()
    chat.results[SubmitReport] = Result.refused("no_areas", "系统还没有设置辖区，请联系管理员")
    reply = chat.text("有人落水了")
    assert reply.startswith("请马上打119") and "没有报上" in reply
    assert chat.state.idle


def test_the_state_survives_a_json_round_trip():
    chat = Chat()
    chat.text("着火了")
    assert State.from_dict(chat.state.to_dict()).flow == "emergency"
