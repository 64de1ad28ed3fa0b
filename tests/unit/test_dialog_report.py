"""The resident's report flow, message by message (pure engine, no Redis, no database)."""
from __future__ import annotations

import pytest

from wechat.dialog import texts
from wechat.dialog.commands import FollowEvent, Result, SubmitReport
from wechat.dialog.facts import PlaceFact
from tests.unit.test_dialog_support import (
    CATALOGUE,
    CORRIDOR,
    GARBAGE,
    GIBBERISH,
    OUTSIDE,
    PLACE_A,
    PLACE_B,
    PLACE_QR,
    PLACE_WITH_DUP,
    Chat,
)


def messages_until_filed(chat: Chat, steps) -> int:
    """Send ``steps`` one by one; return how many were sent when the report was submitted."""
    for step in steps:
        step(chat)
        if chat.submitted():
            return chat.sent
    raise AssertionError(f"not filed after {chat.sent} messages; last state {chat.state}")


# ------------------------------------------------------------------ the figures: 4 and 3 messages


def test_text_location_photo_confirm_files_a_complete_report_in_four_messages():
    chat = Chat()
    count = messages_until_filed(chat, [
        lambda c: c.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,)),
        lambda c: c.location(PLACE_A),
        lambda c: c.photo("m-photo-1"),
        lambda c: c.text("1"),
    ])
    assert count == 4
    [report] = chat.submitted()
    assert report.description == "楼下垃圾好几天没人清了" and report.category_code == "0501"
    assert (report.lat, report.lng, report.datum) == (PLACE_A.lat, PLACE_A.lng, "gcj02")
    assert report.wechat_media_ids == ("m-photo-1",) and report.located
    assert chat.state.idle


def test_voice_location_confirm_files_in_three_messages_and_keeps_the_voice_for_staff():
    chat = Chat()
    count = messages_until_filed(chat, [
        lambda c: c.voice("m-voice-1", "楼道里堆满了纸箱", suggestions=(CORRIDOR,)),
        lambda c: c.location(PLACE_A),
        lambda c: c.text("1"),
    ])
    assert count == 3
    [report] = chat.submitted()
    assert report.description == "楼道里堆满了纸箱" and report.category_code == "0301"
    assert report.wechat_media_ids == ("m-voice-1",)


def test_each_reply_of_the_four_message_journey_says_what_comes_next():
    chat = Chat()
    assert "在哪里" in chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    summary = chat.location(PLACE_A)
    assert "金源社区 金源第一网格" in summary and "类别：垃圾没人清" in summary
    assert "回复 1 确认上报" in summary and "有照片可以直接发来" in summary
    assert chat.photo() == texts.PHOTO_RECEIVED.format(n=1)
    assert chat.photo("m-photo-2") == texts.PHOTO_RECEIVED.format(n=2)
    done = chat.text("确认")
    assert "20261126-0007" in done and "金源第一网格" in done and "进度" in done
    assert chat.submitted()[0].wechat_media_ids == ("m-photo", "m-photo-2")


@pytest.mark.parametrize("yes", ["1", "确认", "是", "１", "确认。"])
def test_confirmation_accepts_1_confirm_and_yes(yes):
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.location(PLACE_A)
    chat.text(yes)
    assert len(chat.submitted()) == 1


# ------------------------------------------------------------------ other orders and sources


def test_photo_first_then_text_then_location():
    chat = Chat()
    assert texts.ASK_DESCRIPTION in chat.photo("m-1")
    assert "在哪里" in chat.text("下水道堵了好几天", suggestions=())
    assert "请核对" in chat.location(PLACE_A)
    chat.text("1")
    [report] = chat.submitted()
    assert report.wechat_media_ids == ("m-1",) and report.category_code is None  # the backend decides (其他)


def test_location_first_then_description():
    chat = Chat()
    reply = chat.location(PLACE_A)
    assert "金源社区 金源第一网格" in reply and texts.ASK_DESCRIPTION in reply
    assert "请核对" in chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    assert chat.state.step == "confirm"


def test_menu_click_starts_a_report():
    chat = Chat()
    assert chat.event("CLICK", key="REPORT") == texts.ASK_DESCRIPTION
    assert chat.state.flow == "report" and chat.state.step == "describe"


def test_building_qr_scan_fills_building_and_unit():
    chat = Chat()
    reply = chat.event("scancode_waitmsg", key="SCAN", text="https://x/q/tok", scanned_place=PLACE_QR)
    assert "3号楼 2单元" in reply and texts.ASK_DESCRIPTION in reply
    chat.text("楼道里堆满了纸箱", suggestions=(CORRIDOR,))
    chat.text("1")
    [report] = chat.submitted()
    assert report.building_unit_id == 42 and report.lat is None


@pytest.mark.parametrize("event", ["SCAN", "subscribe_scan"])
def test_a_parametric_qr_with_a_unit_scene_works_like_a_building_scan(event):
    chat = Chat()
    assert "3号楼 2单元" in chat.event(event, key="unit:tok12345", scanned_place=PLACE_QR)
    assert chat.state.flow == "report" and chat.state.draft["place"]["building_unit_id"] == 42
    assert Chat().event(event, key="unit:unknown1", scanned_place=None) == texts.SCAN_BAD


def test_a_qr_that_is_not_ours_is_refused_and_nothing_starts():
    chat = Chat()
    assert chat.event("scancode_waitmsg", key="SCAN", text="https://evil.example/x") == texts.SCAN_BAD
    assert chat.state.idle


def test_voice_without_recognition_keeps_the_media_and_asks_for_a_few_words():
    chat = Chat()
    assert chat.voice("m-v1") == texts.VOICE_KEPT
    assert chat.text(GIBBERISH) == texts.VOICE_KEPT  # gibberish: the same question
    assert "在哪里" in chat.text("楼道里堆满了纸箱", suggestions=(CORRIDOR,))
    chat.location(PLACE_A)
    chat.text("1")
    assert chat.submitted()[0].wechat_media_ids == ("m-v1",)


def test_voice_without_recognition_can_skip_the_words():
    chat = Chat()
    chat.voice("m-v1")
    assert "在哪里" in chat.text("跳过")
    chat.location(PLACE_A)
    chat.text("1")
    report = chat.submitted()[0]
    assert report.description == texts.VOICE_ONLY and report.category_code is None


def test_voice_is_accepted_wherever_text_is():
    chat = Chat()
    chat.voice("m-v1", "楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.voice("m-v2", "金源社区3号楼", address_matches=(PLACE_B,))
    assert chat.state.step == "confirm"
    chat.voice("m-v3", "确认")
    assert chat.submitted()[0].wechat_media_ids == ("m-v1", "m-v2", "m-v3")


# ------------------------------------------------------------------ place


def test_recent_location_is_offered_and_1_uses_it():
    chat = Chat()
    reply = chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,), recent_place=PLACE_A)
    assert "用刚才的位置吗" in reply and "金源社区 金源第一网格" in reply
    assert "请核对" in chat.text("1")  # the recent place is kept in the state: no look-up needed now
    chat.text("1")
    assert chat.sent == 3 and chat.submitted()[0].lat == PLACE_A.lat


def test_typed_address_matching_one_building():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    reply = chat.text("金源社区三栋", address_matches=(PLACE_B,))
    assert "金源社区 金源第二网格 3号楼" in reply
    chat.text("1")
    report = chat.submitted()[0]
    assert (report.lat, report.datum, report.address) == (PLACE_B.lat, "wgs84", "金源社区3号楼")


def test_a_typed_grid_without_coordinates_is_submitted_to_that_grid_and_a_community_to_the_centre():
    grid_only = PlaceFact(source="area", grid_id=6, grid_name="金源第二网格", community_name="金源社区")
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    assert "地点：金源社区 金源第二网格" in chat.text("金源第二网格", address_matches=(grid_only,))
    chat.text("1")
    report = chat.submitted()[0]
    assert (report.grid_id, report.lat, report.located) == (6, None, True)
    community = PlaceFact(source="area", label="通北街道金源社区", community_name="金源社区")
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    assert "网格由综治中心分派" in chat.text("金源社区", address_matches=(community,))
    chat.results[SubmitReport] = Result.done(number="20261126-0011", grid_name=None)
    assert texts.SUBMITTED_CENTRE_AREA in chat.text("1")
    assert chat.submitted()[0].grid_id is None


def test_a_location_never_sends_a_grid_id_the_backend_locates_the_point():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.location(PLACE_A)
    chat.text("1")
    assert chat.submitted()[0].grid_id is None


def test_ambiguous_address_is_answered_by_asking():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    reply = chat.text("3号楼", address_matches=(PLACE_A, PLACE_B))
    assert texts.PLACE_CHOOSE in reply and "1 金源社区 金源第一网格" in reply and "2 金源社区 金源第二网格" in reply
    assert chat.text("9").startswith(texts.HINT)  # out of range: hint and the same choices
    assert chat.state.step == "place_choice"
    chat.text("2")
    assert chat.state.step == "confirm" and chat.state.draft["place"]["grid_id"] == 6


def test_a_lone_guess_is_offered_as_a_choice_not_taken():
    """A building name with nothing named above it, matching one building only, is still asked."""
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    reply = chat.text("8号楼", address_matches=(PLACE_A,), address_ask=True)
    assert texts.PLACE_CHOOSE in reply and "1 金源社区 金源第一网格" in reply
    assert chat.state.step == "place_choice" and chat.state.draft.get("place") is None
    chat.text("1")
    assert chat.state.step == "confirm" and chat.state.draft["place"]["grid_id"] == PLACE_A.grid_id


def test_too_many_matches_ask_for_more_detail():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    assert "太多" in chat.text("1号楼", address_matches=(PLACE_A,) * 7)
    assert chat.state.step == "place"


def test_an_address_matching_nothing_asks_again_or_offers_a_location():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    reply = chat.text("火星基地七号", address_matches=())
    assert "没找到" in reply and "发送位置" in reply
    assert chat.state.step == "place"
    assert "请核对" in chat.location(PLACE_A)


def test_a_location_outside_every_grid_goes_to_the_centre_and_the_resident_is_told():
    chat = Chat()
    chat.text("有人在这里吵架闹事", suggestions=())
    assert texts.OUTSIDE in chat.location(OUTSIDE)
    chat.results[SubmitReport] = Result.done(number="20261126-0008", grid_name=None)
    reply = chat.text("1")
    assert texts.SUBMITTED_CENTRE in reply and "20261126-0008" in reply


def test_skipping_the_place_sends_the_report_to_the_centre():
    chat = Chat()
    chat.text("有人在这里吵架闹事")
    assert texts.NO_PLACE in chat.text("跳过")
    chat.results[SubmitReport] = Result.done(number="20261126-0008", grid_name=None)
    assert texts.SUBMITTED_NOPLACE in chat.text("1")
    assert chat.submitted()[0].located is False


def test_an_unusable_location_is_refused_with_the_same_question():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    reply = chat.location(None, error="位置坐标不对")
    assert "位置坐标不对" in reply and texts.ASK_PLACE in reply and chat.state.step == "place"


def test_2_changes_the_place_and_a_new_location_in_confirmation_replaces_it():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.location(PLACE_A)
    assert texts.ASK_PLACE in chat.text("2")
    assert "金源第二网格" in chat.text("金源社区3号楼", address_matches=(PLACE_B,))
    assert "金源第一网格" in chat.location(PLACE_A)  # a location sent at confirmation replaces the place
    chat.text("1")
    assert chat.submitted()[0].lat == PLACE_A.lat


# ------------------------------------------------------------------ category


def test_3_lists_the_suggestions_and_other_and_a_choice_returns_to_confirmation():
    chat = Chat()
    chat.text("楼道里堆了垃圾", suggestions=(CORRIDOR, GARBAGE))
    chat.location(PLACE_A)
    menu = chat.text("3", categories=CATALOGUE)
    assert "1 楼道里堆了东西\n2 垃圾没人清\n3 其他\n4 看全部类别" in menu
    assert "类别：垃圾没人清" in chat.text("2")
    chat.text("1")
    assert chat.submitted()[0].category_code == "0501"


def test_all_categories_walks_major_then_minor_and_other_is_offered():
    chat = Chat()
    chat.text("楼道里堆了垃圾", suggestions=(CORRIDOR,))
    chat.location(PLACE_A)
    chat.text("3", categories=CATALOGUE)
    majors = chat.text("3", categories=CATALOGUE)  # 看全部类别
    assert "1 有着火的危险\n2 垃圾、脏乱、污水\n3 其他事情\n4 其他" in majors
    minors = chat.text("2", categories=CATALOGUE)
    assert "1 垃圾没人清\n2 下水道堵了" in minors
    assert "类别：下水道堵了" in chat.text("2", categories=CATALOGUE)


def test_without_suggestions_the_category_menu_starts_with_the_major_ones_and_other():
    chat = Chat()
    chat.text("有点事想反映一下")
    assert "类别：" + texts.OTHER_LABEL in chat.location(PLACE_A)
    menu = chat.text("3", categories=CATALOGUE)
    assert menu.endswith("4 其他")
    assert texts.OTHER_LABEL in chat.text("4", categories=CATALOGUE)
    chat.text("1")
    assert chat.submitted()[0].category_code == "9999"


# ------------------------------------------------------------------ nearby duplicates


def test_a_nearby_open_event_of_the_same_category_is_offered_to_follow():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.location(PLACE_WITH_DUP)
    offer = chat.text("1")
    assert "20261126-0001" in offer and "关注这件" in offer and "继续上报" in offer and "30米" in offer
    assert not chat.submitted()
    reply = chat.text("1")
    assert chat.last_commands == [FollowEvent("20261126-0001")]
    assert "已关注 20261126-0001" in reply and not chat.submitted() and chat.state.idle


def test_continue_reporting_despite_a_nearby_event():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.location(PLACE_WITH_DUP)
    chat.text("1")
    assert chat.text(GIBBERISH).startswith(texts.HINT)
    chat.text("2")
    assert len(chat.submitted()) == 1


def test_a_nearby_event_of_another_category_is_not_offered():
    chat = Chat()
    chat.text("楼道里堆满了纸箱", suggestions=(CORRIDOR,))
    chat.location(PLACE_WITH_DUP)
    chat.text("1")
    assert len(chat.submitted()) == 1


def test_following_fails_when_the_event_has_just_closed_and_the_resident_may_still_report():
    chat = Chat()
    chat.results[FollowEvent] = Result.refused("not_open", "这件事已经结束了，不能关注；请回复 2 继续上报")
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.location(PLACE_WITH_DUP)
    chat.text("1")
    assert "已经结束" in chat.text("1")
    chat.text("1")  # back at the confirmation, the duplicate is not offered again
    assert len(chat.submitted()) == 1


# ------------------------------------------------------------------ the results, and bad input


def test_a_refused_submission_keeps_the_draft_for_another_try():
    chat = Chat()
    chat.results[SubmitReport] = Result.refused("description_too_long", "描述太长了")
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.location(PLACE_A)
    reply = chat.text("1")
    assert "没有报上：描述太长了" in reply and chat.state.step == "confirm"
    chat.results[SubmitReport] = Result.done(number="20261126-0010", grid_name="金源第一网格")
    assert "20261126-0010" in chat.text("1")
    keys = {c.client_key for c in chat.submitted()}
    assert len(keys) == 1  # a retry carries the same client key: the backend files once


def test_text_at_confirmation_is_added_to_the_description():
    chat = Chat()
    chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    chat.location(PLACE_A)
    assert texts.SUPPLEMENT in chat.text("晚上味道更大")
    chat.text("1")
    assert chat.submitted()[0].description == "楼下垃圾好几天没人清了；晚上味道更大"


def test_a_5000_character_text_is_truncated_with_notice_and_emoji_kept():
    chat = Chat()
    long = "楼道里堆满了纸箱🔥，mixed 文字 ありがとう。" * 200
    reply = chat.text(long, suggestions=(CORRIDOR,))
    assert reply.startswith(texts.TRUNCATED.format(limit=1000))
    chat.location(PLACE_A)
    chat.text("1")
    description = chat.submitted()[0].description
    assert len(description) == 1000 and description == long[:1000] and "🔥" in description


def test_emoji_and_mixed_scripts_are_kept_intact():
    chat = Chat()
    chat.text("楼下垃圾🗑️没人清 rubbish ゴミ", suggestions=(GARBAGE,))
    chat.location(PLACE_A)
    chat.text("1")
    assert chat.submitted()[0].description == "楼下垃圾🗑️没人清 rubbish ゴミ"


def drive(step: str) -> Chat:
    chat = Chat()
    if step == "describe":
        chat.event("CLICK", key="REPORT")
    else:
        chat.text("楼下垃圾好几天没人清了", suggestions=(GARBAGE,))
    if step in ("place_choice",):
        chat.text("3号楼", address_matches=(PLACE_A, PLACE_B))
    if step in ("confirm", "category", "duplicate"):
        chat.location(PLACE_WITH_DUP if step == "duplicate" else PLACE_A)
    if step == "category":
        chat.text("3", categories=CATALOGUE)
    if step == "duplicate":
        chat.text("1")
    if step == "switch":
        chat.text("我要上报")
    assert chat.state.step == step
    return chat


QUESTIONS = {"describe": texts.DESCRIBE_AGAIN, "place": texts.ASK_PLACE, "place_choice": texts.PLACE_CHOOSE,
             "confirm": texts.CONFIRM_AGAIN, "category": texts.ASK_CATEGORY, "duplicate": "回复 2 继续上报",
             "switch": "回复 1 接着报这件"}


@pytest.mark.parametrize("step", list(QUESTIONS))
@pytest.mark.parametrize("junk", [GIBBERISH, "？？？", "7", "😀😀😀", "…"])
def test_gibberish_at_every_step_gets_a_hint_and_the_same_question(step, junk):
    chat = drive(step)
    before = chat.state
    reply = chat.text(junk)
    assert reply and QUESTIONS[step] in reply
    assert chat.state.step == before.step and chat.state.draft == before.draft
    assert not chat.last_commands
