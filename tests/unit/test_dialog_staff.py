"""Staff in chat: binding by QR scene, 待办, 接单/办结/退回/上报 N, 即报即办 (pure engine)."""
from __future__ import annotations

import pytest

from wechat.dialog import texts
from wechat.dialog.commands import BindStaff, QuickRecord, Result, SetFollowing, StaffAction
from tests.unit.test_dialog_support import GIBBERISH, PLACE_A, WORKER, Chat, task_fact


# ------------------------------------------------------------------ binding


@pytest.mark.parametrize("event", ["subscribe_scan", "SCAN"])
def test_scanning_a_bind_qr_binds(event):
    chat = Chat()
    reply = chat.event(event, key="bind:tok-123")
    binding = [c for c in chat.last_commands if not isinstance(c, SetFollowing)]
    assert binding == [BindStaff("tok-123")]
    assert (SetFollowing(True) in chat.last_commands) == (event == "subscribe_scan")  # scanning to follow
    assert reply == texts.BOUND.format(role="网格员", name="张三", area="金源第一网格")


def test_a_used_or_expired_bind_qr_is_refused_plainly():
    chat = Chat()
    chat.results[BindStaff] = Result.refused("bind_token_expired", "这个绑定二维码已经过期，请找管理员重新生成")
    assert chat.event("SCAN", key="bind:old") == "这个绑定二维码已经过期，请找管理员重新生成"


def test_scanning_the_same_qr_again_after_binding_says_already_bound():
    chat = Chat(staff=WORKER)
    chat.results[BindStaff] = Result.refused("bind_token_invalid", "这个绑定二维码无效或已经用过了")
    assert chat.event("SCAN", key="bind:used") == texts.ALREADY_BOUND.format(label="网格员 张三")


@pytest.mark.parametrize("text", ["绑定 ABCD2345", "绑定abcd2345", "绑定：ABCD 2345", "绑定 ＡＢＣＤ２３４５。"])
def test_typing_the_code_from_the_staff_sheet_binds(text):
    chat = Chat()
    assert chat.text(text) == texts.BOUND.format(role="网格员", name="张三", area="金源第一网格")
    assert chat.last_commands == [BindStaff("ABCD2345")]


@pytest.mark.parametrize("text", ["绑定", "绑定 ABC", "绑定 ABCD23456", "我要绑定手机"])
def test_other_bind_words_are_not_a_code(text):
    chat = Chat()
    chat.text(text)
    assert not any(isinstance(c, BindStaff) for c in chat.commands)


@pytest.mark.parametrize("scene", ["bind:", "unit:abc", "", "hello"])
def test_other_scenes_do_not_bind(scene):
    chat = Chat()
    chat.event("subscribe_scan", key=scene)
    assert not any(isinstance(c, BindStaff) for c in chat.commands)
    assert SetFollowing(True) in chat.commands  # following the account is still recorded


# ------------------------------------------------------------------ 待办


def test_todo_lists_tasks_with_short_numbers_in_deadline_order():
    chat = Chat(staff=WORKER)
    reply = chat.text("待办", tasks_todo=(task_fact(5, "assigned", deadline="今天 11:00前受理", overdue=True),
                                         task_fact(3, "assigned", deadline="今天 17:30前受理", place="金源第一网格")),
                      tasks_doing=(task_fact(2, "processing", deadline="明天 17:30前办完"),), tasks_more=4)
    lines = reply.splitlines()
    assert lines[0] == texts.TODO_HEAD and lines[1].startswith("[5]") and "已超时" in lines[1]
    assert lines[2].startswith("[3]") and "金源第一网格" in lines[2]
    assert lines[3] == texts.DOING_HEAD and lines[4].startswith("[2]")
    assert "还有4件" in reply and "接单 5" in reply and "办结 5" in reply  # the hint names a number on screen


def test_todo_empty_and_for_non_staff():
    assert Chat(staff=WORKER).text("待办") == texts.NO_TASKS
    assert Chat(staff=WORKER).event("CLICK", key="TODO") == texts.NO_TASKS
    assert Chat().text("待办") == texts.NOT_STAFF


# ------------------------------------------------------------------ 接单, 退回, 上报


def test_accept_by_short_number():
    chat = Chat(staff=WORKER)
    reply = chat.text("接单 3", task=task_fact(3, "assigned"))
    assert chat.last_commands == [StaffAction(7, "20261126-0003", "accept")]
    assert reply == texts.ACCEPTED.format(number="20261126-0003", short=3)


def test_a_task_outside_my_scope_is_not_found_and_nothing_is_sent():
    chat = Chat(staff=WORKER)
    assert chat.text("接单 20261126-0042", task=None) == texts.TASK_NOT_FOUND.format(ref="20261126-0042")
    assert not chat.commands


def test_wrong_status_is_a_plain_refusal():
    chat = Chat(staff=WORKER)
    chat.results[StaffAction] = Result.refused("wrong_status", "这件事现在是“处置中”，不能受理")
    assert chat.text("接单 3", task=task_fact(3, "processing")) == "这件事现在是“处置中”，不能受理"


@pytest.mark.parametrize("word, action, expected", [("退回", "return", texts.RETURNED),
                                                    ("上报", "escalate", texts.ESCALATED)])
def test_return_and_escalate_need_a_reason(word, action, expected):
    chat = Chat(staff=WORKER)
    assert chat.text(f"{word} 3", task=task_fact(3, "assigned")) == texts.NEED_REASON.format(word=word, short=3)
    assert not chat.commands
    reply = chat.text(f"{word} 3 不在本网格", task=task_fact(3, "assigned"))
    assert chat.last_commands == [StaffAction(7, "20261126-0003", action, note="不在本网格")]
    assert reply == expected.format(number="20261126-0003")


def test_staff_words_without_a_number_ask_for_it():
    assert Chat(staff=WORKER).text("接单") == texts.NEED_REF.format(word="接单")


def test_staff_commands_from_residents_are_refused_and_escalate_words_stay_a_description():
    assert Chat().text("接单 3") == texts.NOT_STAFF
    chat = Chat()
    assert "在哪里" in chat.text("上报 3 号楼下面垃圾没人清")
    assert chat.state.flow == "report"


# ------------------------------------------------------------------ 办结: two actions close an event


def test_two_staff_actions_close_an_event_in_their_own_grid():
    chat = Chat(staff=WORKER)
    chat.text("接单 3", task=task_fact(3, "assigned", own_grid=True))
    assert chat.text("办结 3 已清理干净", task=task_fact(3, "processing", own_grid=True)) == texts.ASK_RESOLVE_PHOTO
    reply = chat.photo("m-after")
    actions = [c for c in chat.commands if isinstance(c, StaffAction)]
    assert [a.action for a in actions] == ["accept", "resolve"]  # the figure: 2 staff actions
    assert actions[1] == StaffAction(7, "20261126-0003", "resolve", note="已清理干净", wechat_media_ids=("m-after",))
    assert reply == texts.CLOSED.format(number="20261126-0003")
    assert chat.state.step == "after"  # a further photo goes to this case
    assert chat.photo("m-more") == texts.PHOTO_ADDED_TO.format(number="20261126-0003")
    assert chat.last_commands == [StaffAction(7, "20261126-0003", "comment", note=texts.PHOTO_ADDED_STAFF,
                                              wechat_media_ids=("m-more",))]
    chat.text("待办")
    assert chat.state.idle


def test_resolve_then_a_photo_is_two_messages_the_sentence_optional():
    chat = Chat(staff=WORKER)
    assert "请拍一张处理后的照片" in chat.text("办结 3", task=task_fact(3, "processing"))
    assert chat.text(GIBBERISH).startswith(texts.HINT)
    chat.results[StaffAction] = Result.done(number="20261126-0003", status="resolved")
    assert chat.photo("m-1") == texts.RESOLVED.format(number="20261126-0003")
    assert chat.last_commands == [StaffAction(7, "20261126-0003", "resolve", note=texts.RESOLVED_BY_PHOTO,
                                              wechat_media_ids=("m-1",))]


def test_a_photo_first_then_a_sentence_closes_the_one_case_in_hand():
    chat = Chat(staff=WORKER)
    doing = (task_fact(3, "processing", own_grid=True),)
    reply = chat.photo_with("m-1", tasks_doing=doing)
    assert reply.startswith("照片收到") and "[3]" in reply and chat.state.flow == "resolve"
    assert chat.text("已清理干净") == texts.CLOSED.format(number="20261126-0003")
    assert chat.last_commands == [StaffAction(7, "20261126-0003", "resolve", note="已清理干净",
                                              wechat_media_ids=("m-1",))]
    assert not chat.submitted()  # never a resident report


def test_a_photo_first_with_several_cases_asks_which_then_resolve_n_uses_it():
    chat = Chat(staff=WORKER)
    doing = (task_fact(3, "processing"), task_fact(4, "processing"))
    assert texts.PHOTO_WHICH_TASK in chat.photo_with("m-1", tasks_doing=doing)
    chat.results[StaffAction] = Result.done(number="20261126-0004", status="resolved")
    chat.text("办结 4", task=task_fact(4, "processing"))
    assert chat.last_commands == [StaffAction(7, "20261126-0004", "resolve", note=texts.RESOLVED_BY_PHOTO,
                                              wechat_media_ids=("m-1",))]
    assert not chat.submitted()


def test_a_photo_with_no_case_in_hand_is_a_report_as_before():
    chat = Chat(staff=WORKER)
    chat.photo_with("m-1", tasks_doing=())
    assert chat.state.flow == "report"


def test_verification_takes_a_photo_too():
    chat = Chat(staff=WORKER)
    chat.text("办结 3", task=task_fact(3, "resolved", own_grid=True))
    chat.photo("m-check")
    assert chat.last_commands == [StaffAction(7, "20261126-0003", "comment", note=texts.PHOTO_ADDED_STAFF,
                                              wechat_media_ids=("m-check",))]
    assert not chat.submitted()


def test_resolve_without_photo_is_allowed_only_where_the_category_waives_it():
    chat = Chat(staff=WORKER)
    chat.text("办结 3", task=task_fact(3, "processing"))
    chat.text("已调解")
    assert chat.text("跳过") == texts.RESOLVE_SKIP_PHOTO and not chat.commands
    chat = Chat(staff=WORKER)
    chat.text("办结 4 已调解双方", task=task_fact(4, "processing", photo_required=False))
    assert chat.last_commands == [StaffAction(7, "20261126-0004", "resolve", note="已调解双方")]


def test_resolve_before_accepting_asks_to_accept_first():
    chat = Chat(staff=WORKER)
    assert chat.text("办结 3", task=task_fact(3, "assigned")) == texts.ACCEPT_FIRST.format(short=3)
    assert chat.state.idle and not chat.commands


def test_resolve_on_an_event_awaiting_my_verification_verifies_it():
    chat = Chat(staff=WORKER)
    reply = chat.text("办结 3", task=task_fact(3, "resolved", own_grid=True))
    assert chat.last_commands == [StaffAction(7, "20261126-0003", "verify")]
    assert reply == texts.VERIFIED.format(number="20261126-0003")


def test_resolve_on_a_closed_event_is_refused():
    chat = Chat(staff=WORKER)
    assert chat.text("办结 3", task=task_fact(3, "closed")) == texts.CANNOT_RESOLVE.format(status="已办结")


def test_a_refused_resolve_ends_the_flow_with_the_reason():
    chat = Chat(staff=WORKER)
    chat.results[StaffAction] = Result.refused("not_allowed", "您不能对这件事做“处置反馈”")
    chat.text("办结 3 已处理", task=task_fact(3, "processing"))
    assert chat.photo() == "您不能对这件事做“处置反馈”" and chat.state.idle


# ------------------------------------------------------------------ 即报即办


def test_quick_record_text_photo_place_gives_one_closed_event():
    chat = Chat(staff=WORKER)
    assert chat.text("即报即办") == texts.ASK_QUICK
    assert chat.text("清理了楼道杂物") == texts.ASK_QUICK_PHOTO
    assert chat.photo("m-q") == texts.ASK_QUICK_PLACE
    reply = chat.location(PLACE_A)
    [command] = chat.last_commands
    assert isinstance(command, QuickRecord)
    assert (command.description, command.lat, command.datum, command.wechat_media_ids) == (
        "清理了楼道杂物", PLACE_A.lat, "gcj02", ("m-q",))
    assert reply == texts.QUICK_DONE.format(number="20261126-0009") and chat.state.idle


def test_quick_record_in_one_line_and_skipping_place_uses_my_grid():
    chat = Chat(staff=WORKER)
    assert chat.text("即报即办 扶起了倒下的共享单车") == texts.ASK_QUICK_PHOTO
    chat.photo()
    chat.text("跳过")
    assert chat.last_commands[0].lat is None and chat.sent == 3


def test_quick_record_outside_my_area_asks_for_the_place_again():
    chat = Chat(staff=WORKER)
    chat.results[QuickRecord] = Result.refused("out_of_area", "这个位置不在您负责的区域")
    chat.text("即报即办 清理了楼道杂物")
    chat.photo()
    reply = chat.location(PLACE_A)
    assert "不在您负责的区域" in reply and texts.ASK_QUICK_PLACE in reply and chat.state.flow == "quick"


def test_quick_record_gibberish_and_non_staff():
    chat = Chat(staff=WORKER)
    chat.text("即报即办")
    assert chat.text(GIBBERISH) == texts.join(texts.HINT, texts.ASK_QUICK)
    assert Chat().text("即报即办") == texts.NOT_STAFF
