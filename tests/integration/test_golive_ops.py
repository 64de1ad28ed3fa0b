"""Operator pieces of going live (issue 16): the working-calendar file, the official-account
menu through the client and the sandbox, template lists, and plain words for WeChat errors."""
from __future__ import annotations

import argparse
import datetime as dt

import pytest
import requests

from backend import sla
from backend.errors import DomainError
from backend.models import HolidayOverride
from backend.services import calendar_import
from wechat.cli import cmd_wechat_menu, explain
from wechat.client import MiniProgram, OfficialAccount, WeChatError
from wechat.dialog.engine import MENU_KEYS
from wechat.menu import MENU, click_buttons, leaves

NOTICE = """# 国务院办公厅关于2027年部分节假日安排的通知（节选）
2027-01-01 休 元旦
2027-02-06..2027-02-12 休 春节
2027-02-14 班 春节调休
2027年4月5日 休 清明节
2027/10/01~2027/10/07 放假 国庆节
20271009 上班 国庆调休
"""


def test_a_notice_typed_as_text_becomes_the_years_calendar():
    assert calendar_import.coverage(dt.date(2026, 12, 3)) == [2027]
    parsed = calendar_import.parse(NOTICE.encode())
    assert not parsed.errors and parsed.years == [2027]
    assert sum(1 for w, _ in parsed.days.values() if not w) == 16 and parsed.days[dt.date(2027, 2, 14)] == (True, "春节调休")
    assert calendar_import.import_days(parsed) == {"create": 18, "update": 0, "same": 0}
    assert calendar_import.import_days(calendar_import.parse(NOTICE.encode())) == {"create": 0, "update": 0, "same": 18}
    assert calendar_import.coverage(dt.date(2026, 12, 3)) == []
    calendar = sla.load_calendar()
    assert not calendar.is_workday(dt.date(2027, 2, 8)) and calendar.is_workday(dt.date(2027, 2, 14))  # a Sunday
    as_csv = "日期,类型,名称\r\n2027-05-01,休,劳动节\r\n".encode("gbk")
    assert calendar_import.import_days(calendar_import.parse(as_csv))["create"] == 1


@pytest.mark.parametrize("line, message", [
    ("2027-13-01 休", "没有这一天"), ("2027-02-30 休", "没有这一天"), ("明年元旦 休", "看不懂"),
    ("2027-03-01 maybe", "应是 休 或 班"), ("2027-03-01", "每行应是"), ("2027-03-05..2027-03-01 休", "日期范围不对"),
    ("2027-03-01..2027-06-01 休", "最长 31 天"), ("1999-10-01 休", "年份超出范围"),
    ("2027-03-01 休 " + "长" * 65, "64 字"),
])
def test_a_bad_calendar_line_is_named_and_nothing_is_written(line, message):
    parsed = calendar_import.parse(f"2027-01-01 休 元旦\n{line}\n".encode())
    [problem] = parsed.errors
    assert problem.row == 2 and message in problem.message
    with pytest.raises(DomainError):
        calendar_import.import_days(parsed)
    assert HolidayOverride.select().count() == 0


def test_contradicting_days_and_empty_files_are_refused():
    assert "相反" in calendar_import.parse("2027-02-14 休\n2027-02-14 班\n".encode()).errors[0].message
    for raw in (b"", b"# only a comment\n", bytes(range(256))):
        with pytest.raises(DomainError):
            calendar_import.parse(raw)


def test_every_menu_button_is_something_the_chat_understands():
    assert len(MENU["button"]) <= 3 and [b["name"] for b in MENU["button"]] == ["我要上报", "我的进度", "帮助"]
    for key, _name in click_buttons():
        assert key in MENU_KEYS, key
    scan = [leaf for leaf in leaves() if leaf["type"].startswith("scancode")]
    assert scan and scan[0]["type"] == "scancode_waitmsg"  # the reply comes back as a message
    assert {"TODO", "QUICK"} <= {key for key, _ in click_buttons()}  # the staff entries


def test_the_menu_is_created_through_the_client_and_validated_by_the_sandbox(sandbox, redis_conn, capsys):
    assert cmd_wechat_menu(argparse.Namespace(print=False, wait=0), sandbox.settings) == 0
    [call] = sandbox.calls("menu/create")
    assert call["errcode"] == 0 and call["body"] == MENU
    assert requests.get(f"{sandbox.url}/_sandbox/menu", timeout=5).json() == MENU
    world = requests.get(f"{sandbox.url}/_sandbox/chat/world", timeout=5).json()
    assert [m["key"] for m in world["menu"]] == [k for k, _ in click_buttons()]  # the simulator offers them
    account = OfficialAccount(sandbox.settings, redis_conn)
    with pytest.raises(WeChatError) as caught:
        account.create_menu({"button": [{"type": "click", "name": "名字太长了超过十六个字节", "key": "X"}]})
    assert caught.value.errcode == 40018
    assert "已创建" in capsys.readouterr().out


def test_template_lists_come_from_the_sandbox(sandbox, redis_conn):
    account = OfficialAccount(sandbox.settings, redis_conn)
    assert {t["template_id"] for t in account.private_templates()} == {"ejia-task", "ejia-digest", "ejia-progress-oa"}
    sandbox.configure(templates=["only-this"], subscribe_templates=[])
    assert [t["template_id"] for t in account.private_templates()] == ["only-this"]
    assert MiniProgram(sandbox.settings, redis_conn).subscribe_templates() == []
    with pytest.raises(AssertionError):
        sandbox.configure(templates="not a list")


def test_wechat_errors_are_explained_in_words_an_operator_can_act_on(sandbox, redis_conn):
    sandbox.inject(errcode=40013, api="stable_token", count=1)
    with pytest.raises(WeChatError) as caught:
        OfficialAccount(sandbox.settings, redis_conn).fetch_token()
    assert "WECHAT_APP_ID 不对" in explain(caught.value, sandbox.settings)
    away = sandbox.settings.with_overrides(wechat_api_base="http://127.0.0.1:9")
    with pytest.raises(WeChatError) as caught:
        OfficialAccount(away, redis_conn).fetch_token()
    words = explain(caught.value, away)
    assert "连不上微信接口 http://127.0.0.1:9" in words and "python -m server sandbox" in words
    sandbox.inject(errcode=40164, api="menu/create", count=1)
    with pytest.raises(WeChatError) as caught:
        OfficialAccount(sandbox.settings, redis_conn).create_menu(MENU)
    assert "IP 白名单" in explain(caught.value, sandbox.settings)
