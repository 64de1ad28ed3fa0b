"""Default categories are well-formed, and suggestions put the resident's meaning first."""
from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest

from backend.models.categories import LIMIT_UNITS, Category
from backend.taxonomy import DEFAULT_CATEGORIES, OTHER_CODE, suggest, warm_up

BY_CODE = {row["code"]: row for row in DEFAULT_CATEGORIES}
MINORS = [row for row in DEFAULT_CATEGORIES if row["parent"] is not None]


@pytest.mark.parametrize("text, expected", [
    ("楼道堆满纸箱", "0301"),
    ("有人在电动车充电在家里", "0302"),
    ("电瓶车推到楼上充电", "0302"),
    ("路灯不亮了", "0801"),
    ("这里的路灯晚上都不亮", "0801"),
    ("楼上天天半夜吵得睡不着", "0101"),
    ("邻居家装修太吵", "0101"),
    ("老板拖欠工资三个月了", "0104"),
    ("家门口的井盖没了", "0802"),
    ("路边有人摆摊卖菜", "0701"),
    ("小区门口垃圾好几天没人清，发臭了", "0501"),
    ("闻到一股煤气味", "0304"),
    ("有个陌生人一直在楼下转悠", "0202"),
    ("接到电话说我中奖了要交钱", "0203"),
    ("隔壁老太太一个人住好几天没见了", "1001"),
    ("我家电动车被偷了", "0201"),
    ("墙上贴满了小广告", "0703"),
    ("有人在顶楼加盖房子", "0601"),
    ("下水道堵了污水冒出来", "0503"),
    ("路面有个大坑", "0803"),
    ("楼下冒烟了", "0305"),
    ("车停在消防通道上", "0305"),
    ("想问问低保怎么申请", "0904"),
    ("我想办居住证", "0903"),
    ("工地脚手架不牢固", "0402"),
    ("电线乱拉在树上", "0303"),
    ("小区电梯坏了物业不管", "0103"),
])
def test_resident_phrasings_rank_the_right_category_first(text, expected):
    ranked = suggest(text, DEFAULT_CATEGORIES)
    assert ranked, text
    assert ranked[0][0] == expected, (text, ranked)


@pytest.mark.parametrize("text", ["", "   ", "asdf", "123456", "？？？", "哈哈哈哈", "你好", None])
def test_empty_or_gibberish_gives_nothing(text):
    assert suggest(text, DEFAULT_CATEGORIES) == []


def test_single_character_keywords_need_a_word_of_their_own():
    """火 is a fire keyword, but 火车站 is a railway station."""
    codes = [code for code, _ in suggest("火车站旁边有人打架", DEFAULT_CATEGORIES)]
    assert "0305" not in codes
    assert codes[0] == "0201"


def test_deterministic_and_ties_broken_by_code():
    rows = [
        {"code": "02", "name": "乙", "plain_name": "", "keywords": []},
        {"code": "0202", "name": "乙类", "plain_name": "", "keywords": ["路灯"]},
        {"code": "01", "name": "甲", "plain_name": "", "keywords": []},
        {"code": "0101", "name": "甲类", "plain_name": "", "keywords": ["路灯"]},
    ]
    assert suggest("路灯坏了", rows) == [("0101", 2.0), ("0202", 2.0)]
    assert suggest("路灯坏了", list(reversed(rows))) == [("0101", 2.0), ("0202", 2.0)]
    first = suggest("楼道里堆了电瓶车在充电", DEFAULT_CATEGORIES, limit=5)
    assert all(suggest("楼道里堆了电瓶车在充电", DEFAULT_CATEGORIES, limit=5) == first for _ in range(20))
    assert [score for _, score in first] == sorted((score for _, score in first), reverse=True)


def test_limit_and_only_leaf_categories():
    ranked = suggest("楼道里堆了电瓶车在充电，电线也乱拉", DEFAULT_CATEGORIES, limit=2)
    assert len(ranked) == 2
    assert suggest("路灯", DEFAULT_CATEGORIES, limit=0) == []
    for text in ("消防隐患", "矛盾纠纷", "环境卫生"):  # 大类 names never come back themselves
        assert all(len(code) == 4 for code, _ in suggest(text, DEFAULT_CATEGORIES, limit=10))


def test_works_on_category_like_objects():
    rows = [SimpleNamespace(code=r["code"], name=r["name"], plain_name=r["plain_name"],
                            keywords=r["keywords"]) for r in DEFAULT_CATEGORIES]
    assert suggest("楼道堆满纸箱", rows) == suggest("楼道堆满纸箱", DEFAULT_CATEGORIES)
    admin_keyword = [SimpleNamespace(code="0801", name="路灯不亮", plain_name="路灯坏了", keywords=["WiFi"])]
    assert suggest("小区wifi没信号", admin_keyword) == [("0801", 4.0)]


def test_fast_after_warm_up():
    warm_up()
    texts = ["有人在电动车充电在家里", "楼道堆满纸箱", "路灯不亮了", "我家电动车被偷了"]
    started = time.perf_counter()
    for _ in range(100):
        for text in texts:
            suggest(text, DEFAULT_CATEGORIES)
    assert (time.perf_counter() - started) / 400 < 0.001


# ---- the default data -------------------------------------------------------------------

def test_codes_are_valid_unique_and_nested():
    codes = [row["code"] for row in DEFAULT_CATEGORIES]
    assert len(codes) == len(set(codes))
    seen_majors = set()
    for row in DEFAULT_CATEGORIES:
        if row["parent"] is None:
            assert re.fullmatch(r"\d{2}", row["code"]), row
            seen_majors.add(row["code"])
        else:
            assert re.fullmatch(r"\d{4}", row["code"]), row
            assert row["code"].startswith(row["parent"]) and row["parent"] in seen_majors, row
    assert all(any(m["parent"] == major for m in MINORS) for major in seen_majors)


def test_every_row_is_a_valid_category():
    fields = set(Category._meta.fields)
    for row in DEFAULT_CATEGORIES:
        # ``parent`` and ``default_department`` hold codes the seeder resolves.
        assert set(row) - {"default_department"} <= fields, set(row) - fields
        assert "default_department_kind" in fields
        assert row["name"] and row["plain_name"], row
        assert len(row["plain_name"]) <= 14, row  # short words, not a definition
        assert row["default_department"] in (None, "cgb", "mzb", "wjb", "pcs"), row
        for kind in ("accept", "resolve", "verify"):
            assert row[f"{kind}_unit"] in LIMIT_UNITS and row[f"{kind}_limit"] > 0, row
        if row["urgent"] and row["parent"]:
            assert {row["accept_unit"], row["resolve_unit"]} <= {"hours", "days"}, row
        assert all(isinstance(word, str) and word.strip() for word in row["keywords"]), row


def test_the_other_category():
    others = [row for row in MINORS if not row["keywords"] and not row["emergency_number"]]
    assert [row["code"] for row in others] == [OTHER_CODE]
    assert BY_CODE[OTHER_CODE]["name"].startswith("其他")


def test_limits_and_photos_follow_practice():
    assert (BY_CODE["0601"]["accept_limit"], BY_CODE["0601"]["accept_unit"]) == (4, "work_hours")
    assert (BY_CODE["0501"]["resolve_limit"], BY_CODE["0501"]["resolve_unit"]) == (4, "work_hours")
    for row in MINORS:
        if row["parent"] == "01" and not row["urgent"]:  # disputes; 0108 家庭暴力 is urgent
            assert (row["resolve_limit"], row["resolve_unit"]) == (5, "work_days"), row
        if row["parent"] in ("01", "09") or row["code"] == "0202":
            assert row["photo_required"] is False, row
        if row["parent"] in ("03", "04", "12"):
            assert row["urgent"], row
        if row["parent"] == "12":  # emergencies send people to a number
            assert row["emergency_number"] and row["emergency_number"].split(",")[0] in ("110", "119", "120", "122")


def test_sensitive_branches_by_default():
    """Violence at home, disputes between people, 治安, special populations, petitions: sensitive."""
    for code in ("0101", "0108", "0201", "0202", "1001", "1003", "1101", "1204", "0904"):
        assert BY_CODE[code]["sensitivity"] == "sensitive", code
    for code in ("0301", "0501", "0801"):
        assert BY_CODE[code]["sensitivity"] == "public", code
    assert {row["sensitivity"] for row in DEFAULT_CATEGORIES} <= {"public", "internal", "sensitive"}


def test_emergency_categories_are_never_suggested_by_words():
    for text in ("着火了", "煤气漏了", "出车祸了", "有人落水"):
        assert not any(code.startswith("12") for code, _ in suggest(text, DEFAULT_CATEGORIES, limit=10)), text
    assert BY_CODE["0301"]["photo_required"] and BY_CODE["0801"]["photo_required"]


@pytest.mark.parametrize("words, parent", [
    (["火", "烟", "电线", "燃气", "楼道", "充电", "电瓶"], "03"),
    (["吵架", "噪音", "扰民", "邻里"], "01"),
    (["可疑", "盗", "骗", "尾随"], "02"),
])
def test_domain_word_mapping(words, parent):
    for word in words:
        holders = [row["code"] for row in MINORS if word in row["keywords"]]
        assert holders and all(code.startswith(parent) for code in holders), (word, holders)
