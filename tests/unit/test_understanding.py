"""Category understanding, measured (issue 15): the labelled corpora in tests/data/ and the matcher's rules.

``category_corpus.tsv`` (481 reports) was written before any tuning; ``category_holdout.tsv``
(120) after the first round and ``category_unseen.tsv`` (120) after the second, each measured once
before the matcher learnt from it. The corpus and the first held-out set meet the goals (top-3
≥ 95 %, top-1 ≥ 80 %); the last set, the closest to messages nobody has seen, is held to where it
stands (below the goal, said so in docs/understanding.md, which publishes every figure). Address
corpora: tests/integration/test_address_corpus.py (they need the demo areas in a database).
"""
from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest

from backend import suggester
from backend.taxonomy import DEFAULT_CATEGORIES, OTHER_CODE, suggest
from tests.understanding import CATEGORY_SETS, category_figures, load

SUGGESTIBLE = {row["code"] for row in DEFAULT_CATEGORIES
               if row["parent"] and row["keywords"] and not row["emergency_number"]}


def test_the_corpora_cover_every_suggestible_category():
    rows = [row for name in CATEGORY_SETS for row in load(name, ["code", "text"])]
    main = load("category_corpus.tsv", ["code", "text"])
    assert len(main) >= 400
    counts = Counter(code for code, _ in main)
    assert set(counts) == SUGGESTIBLE, set(counts) ^ SUGGESTIBLE  # no 12xx emergencies, no 9999 其他
    assert min(counts.values()) >= 10, counts.most_common()[-3:]
    assert all(text.strip() for _, text in rows)
    assert len({text for _, text in rows}) == len(rows), "a report appears twice"


GOALS = {  # (top-1, top-3)
    "category_corpus.tsv": (0.80, 0.95),
    "category_holdout.tsv": (0.80, 0.95),
    "category_unseen.tsv": (0.75, 0.90),  # a floor, not the goal: where the last unseen set stands
}


@pytest.mark.parametrize("name", CATEGORY_SETS)
def test_category_suggestion_meets_the_goal(name):
    figures = category_figures(name)
    top1, top3 = GOALS[name]
    shown = "\n".join(f"{code} {text} → {ranked}" for code, text, ranked in figures.misses)
    assert figures.top3_rate >= top3, (figures.top3_rate, shown)
    assert figures.top1_rate >= top1, (figures.top1_rate, shown)


def test_the_figures_come_from_the_suggester():
    """The measure can fail: with every keyword gone (names left), the same corpus falls far below the goal."""
    bare = [dict(row, keywords=[]) for row in DEFAULT_CATEGORIES]
    assert category_figures("category_corpus.tsv", bare).top3_rate < 0.6


@pytest.mark.parametrize("text, expected", [
    ("楼道灯坏了", "0801"),  # a lamp in the stairwell, not things piled in it
    ("楼道的感应灯不亮，晚上黑乎乎的", "0801"),
    ("楼上漏水", "0101"),  # a neighbour's flat leaking into mine: mediated between households
    ("楼顶漏水，物业不管", "0103"),  # the shared roof: the property manager's
    ("卖假药", "0203"),  # sold to the elderly as a cure: a fraud lead for the police
    ("有人在菜市场卖假药", "0203"),
    ("停车费一个月三百，太贵了", "0103"),  # 停车费 is 物业, not 乱停车
    ("路边堆了一堆建筑垃圾", "0502"),  # 建筑垃圾 is 乱堆物料, not 暴露垃圾
])
def test_known_misses_are_fixed(text, expected):
    assert suggest(text, DEFAULT_CATEGORIES)[0][0] == expected, suggest(text, DEFAULT_CATEGORIES)


def test_sell_fake_medicine_also_offers_health():
    assert [code for code, _ in suggest("药店在卖假药", DEFAULT_CATEGORIES)][:2] == ["0203", "0902"]


@pytest.mark.parametrize("typo, meant", [
    ("拉圾站太臭了", "0501"),  # 垃圾
    ("景盖没了", "0802"),  # 井盖
    ("拆签补偿什么时候发", "0105"),  # 拆迁
    ("然气灶关了还有味道", "0304"),  # 燃气
    ("小光告贴满了", "0703"),  # 小广告
])
def test_homophone_typos_are_read_as_the_word_meant(typo, meant):
    assert suggest(typo, DEFAULT_CATEGORIES)[0][0] == meant


@pytest.mark.parametrize("text, word", [
    ("快递老是被人拿走", "老师"),  # 老是 is not 老师: its different character is a particle
    ("那块地方放东西", "房东"),  # 地方放东西 holds no 房东: the window cuts 东西 in two
    ("楼上方有东西掉下来", "上访"),  # 上方 is a common word, not a typo of 上访
    ("电视坏了", "电梯"),
])
def test_a_typo_must_not_be_a_word_in_its_own_right(text, word):
    rows = [{"code": "0101", "name": "甲", "plain_name": "", "keywords": [word]}]
    assert suggest(text, rows) == []
    typo = {"老师": "老湿", "房东": "房冬", "上访": "尚访", "电梯": "电体"}[word]
    assert suggest(f"{typo}的事", rows) == [("0101", 1.5)]  # the same sound, a typo: three quarters


def test_a_context_word_weighs_less_than_the_problem():
    """楼道 says where; 电线 says what. A neighbour's hazard is not a dispute."""
    assert suggest("楼道里的电线乱七八糟", DEFAULT_CATEGORIES)[0][0] == "0303"
    assert suggest("邻居把电动车推进家里充电", DEFAULT_CATEGORIES)[0][0] == "0302"


def test_shared_characters_offer_something_but_never_outweigh_a_term():
    rows = [{"code": "0403", "name": "甲", "plain_name": "", "keywords": ["裂缝", "开裂"]},
            {"code": "0801", "name": "乙", "plain_name": "", "keywords": ["路灯"]}]
    assert [code for code, _ in suggest("墙裂了好几道缝", rows)] == ["0403"]  # 裂 and 缝, no whole term
    assert suggest("墙上有几道裂痕", rows) == []  # one shared character alone is not enough
    (term, term_score), (by_characters, characters_score) = suggest("路灯裂了好几道缝", rows)
    assert (term, by_characters) == ("0801", "0403") and term_score > 2 * characters_score
    assert [code for code, _ in suggest("墙上出现很多裂痕，缝越来越大", DEFAULT_CATEGORIES)][:1] == ["0403"]


def test_numbers_are_never_matched_inside_longer_numbers():
    assert suggest("打了12345热线", DEFAULT_CATEGORIES)[0][0] == "1101"
    assert suggest("123456", DEFAULT_CATEGORIES) == []


def test_other_and_emergencies_are_never_suggested():
    for text in ("其他事情", "其他问题", "着火了", "煤气漏了，快来人", "有人落水"):
        codes = [code for code, _ in suggest(text, DEFAULT_CATEGORIES, limit=10)]
        assert OTHER_CODE not in codes and not any(code.startswith("12") for code in codes), (text, codes)


@pytest.mark.parametrize("text", [
    "", " \t\n", "😀" * 50, "\x00\x01\x02\x1b[31m", "楼道堆满纸箱" * 700, "a" * 4000, "你好", "哈哈哈哈",
    "\ud800", "ＡＢＣ１２３", "<script>alert(1)</script>", "楼道\u200b灯坏了",
])
def test_hostile_input_gets_an_answer_never_an_exception(text):
    ranked = suggest(text, DEFAULT_CATEGORIES)
    assert isinstance(ranked, list) and len(ranked) <= 3
    assert all(code in SUGGESTIBLE for code, _ in ranked)


def test_long_text_is_read_only_as_far_as_the_limit():
    head = "路灯不亮。" + "今天天气不错。" * 200
    assert suggest(head, DEFAULT_CATEGORIES)[0][0] == "0801"
    tail = "今天天气不错。" * 200 + "路灯不亮。"
    assert len(tail) > suggester.MAX_TEXT and suggest(tail, DEFAULT_CATEGORIES) == []


def test_keywords_edited_in_the_console_take_effect():
    rows = [SimpleNamespace(**{k: row[k] for k in ("code", "name", "plain_name", "keywords", "emergency_number")})
            for row in DEFAULT_CATEGORIES]
    assert suggest("共享充电宝被偷", rows)[0][0] == "0201"
    for row in rows:
        if row.code == "0302":
            row.keywords = [*row.keywords, "共享充电宝"]
    assert suggest("共享充电宝被偷", rows)[0][0] == "0302"
