"""The one address matcher (backend/placenames.py), pure: a small registry, every rule of the reading.

The measured figures on the demo areas: tests/integration/test_address_corpus.py.
"""
from __future__ import annotations

import pytest

from backend.placenames import MAX_CHOICES, MAX_PHRASE, AddressIndex, normalize, unambiguous, unit_number

AREAS = [
    (1, "漳州市", "city", "/1/"),
    (2, "芗城区", "district", "/1/2/"),
    (3, "通北街道", "street", "/1/2/3/"),
    (4, "金源社区", "community", "/1/2/3/4/"),
    (5, "通北社区", "community", "/1/2/3/5/"),
    (6, "金源社区第一网格", "grid", "/1/2/3/4/6/"),
    (7, "金源第二网格", "grid", "/1/2/3/4/7/"),  # the other naming habit: community without 社区
    (8, "通北社区第一网格", "grid", "/1/2/3/5/8/"),
    (9, "芝山街道", "street", "/1/2/9/"),
    (10, "芝山社区", "community", "/1/2/9/10/"),
    (11, "芝山社区第一网格", "grid", "/1/2/9/10/11/"),
]
BUILDINGS = [
    (101, "3号楼", "金源社区3号楼", 6, 24.5, 117.6),
    (102, "11号楼", "金源社区11号楼", 7, 24.5, 117.7),
    (103, "3号楼", "通北社区3号楼", 8, 24.6, 117.6),
    (104, "1号楼", "芝山社区1号楼", 11, 24.7, 117.6),
    (105, "金源花园8号楼", "通北路88号金源花园8号楼", 6, None, None),
]
UNITS = [(201, 101, "2单元"), (202, 101, "1单元")]


@pytest.fixture(scope="module")
def index():
    return AddressIndex(AREAS, BUILDINGS, UNITS)


def one(index, text):
    resolution = index.resolve(text)
    assert resolution.outcome == "one", (text, resolution)
    place = resolution.places[0]
    return (place.kind, place.id)


def choices(index, text):
    resolution = index.resolve(text)
    assert resolution.outcome == "choices", (text, resolution)
    return {(p.kind, p.id) for p in resolution.places}


@pytest.mark.parametrize("raw, expected", [
    ("金源社区 ３号楼", "金源社区3栋"), ("金源社区三栋", "金源社区3栋"), ("金源社区叁号楼", "金源社区3栋"),
    ("金源3#楼", "金源3栋"), ("金源3#", "金源3栋"), ("十二幢", "12栋"), ("二十一座", "21栋"),
    ("联三社区一网格", "联三社区第1网格"), ("蓝田社区3网格", "蓝田社区第3网格"), ("二单元", "2单元"),
    ("通北社区，5号楼！", "通北社区5栋"), ("3楼", "3楼"),  # a floor is not a building
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_the_street_is_the_street_and_the_community_the_community(index):
    assert one(index, "通北街道") == ("area", 3)
    assert one(index, "通北街道办事处") == ("area", 3)
    assert one(index, "通北社区") == ("area", 5)
    assert one(index, "通北社区居委会门口") == ("area", 5)
    assert one(index, "通北街道金源社区") == ("area", 4)  # the street only contains the community
    assert one(index, "芗城区") == ("area", 2)
    assert choices(index, "通北") == {("area", 3), ("area", 5)}  # both are called 通北: ask


def test_a_community_by_its_everyday_names(index):
    for text in ("金源社区", "金源小区", "金源居委会", "金源社区居民委员会", "在金源那边"):
        assert one(index, text) == ("area", 4), text


def test_a_building_needs_an_area_above_it_or_is_offered_as_a_choice(index):
    assert one(index, "金源社区3号楼") == ("building", 101)
    assert one(index, "金源三栋楼下") == ("building", 101)
    assert one(index, "通北社区的3栋") == ("building", 103)
    assert one(index, "漳州市芗城区通北街道金源社区3号楼") == ("building", 101)
    assert choices(index, "3号楼") == {("building", 101), ("building", 103)}  # never 没找到
    assert choices(index, "通北街道3号楼") == {("building", 101), ("building", 103)}  # both lie in it
    lone = index.resolve("1号楼")  # one building of that name, but nothing named above it: still asked
    assert lone.outcome == "choices" and [(p.kind, p.id) for p in lone.places] == [("building", 104)]
    assert one(index, "金源花园8号楼") == ("building", 105)  # a distinctive name needs no area
    assert one(index, "通北路88号") == ("building", 105)  # part of a registered address


def test_a_number_never_matches_inside_a_longer_number(index):
    assert one(index, "金源社区11号楼") == ("building", 102)
    assert index.resolve("13号楼").outcome == "none"
    assert one(index, "金源社区1号楼") == ("area", 4)  # no 1号楼 in 金源: the community, not 11号楼


def test_two_buildings_in_one_phrase_are_a_question(index):
    assert choices(index, "金源社区3号楼和11号楼中间") == {("building", 101), ("building", 102)}


def test_grids_by_either_naming_habit(index):
    assert one(index, "金源社区第一网格") == ("area", 6)
    assert one(index, "金源第一网格") == ("area", 6)
    assert one(index, "金源一网格") == ("area", 6)
    assert one(index, "金源第二网格") == ("area", 7)
    assert one(index, "金源社区第2网格") == ("area", 7)
    assert choices(index, "第一网格") == {("area", 6), ("area", 8), ("area", 11)}
    assert one(index, "金源第二网格11号楼") == ("building", 102)


def test_units(index):
    resolution = index.resolve("金源社区3号楼二单元门口")
    assert resolution.outcome == "one" and (resolution.places[0].unit_id, resolution.places[0].unit_name) == (201, "2单元")
    assert index.resolve("金源社区3号楼5单元").places[0].unit_id is None  # no such unit: the building
    assert {p.unit_id for p in index.resolve("3号楼1单元").places} == {202, None}
    assert unit_number("三单元") == "3单元" and unit_number("3号楼") is None


def test_a_name_heard_with_a_typo_counts_only_with_its_suffix(index):
    assert one(index, "金园社区3号楼") == ("building", 101)  # 园 for 源
    assert one(index, "通背社区") == ("area", 5)
    assert index.resolve("金园").outcome == "none"


def test_too_many_choices():
    areas = [(1, "漳州市", "city", "/1/")] + [(10 + i, f"{name}社区", "community", f"/1/{10 + i}/")
                                              for i, name in enumerate("甲乙丙丁戊己庚辛")]
    buildings = [(100 + i, "3号楼", f"{name}社区3号楼", 10 + i, None, None) for i, name in enumerate("甲乙丙丁戊己庚辛")]
    resolution = AddressIndex(areas, buildings).resolve("3号楼")
    assert resolution.outcome == "too_many" and len(resolution.places) == MAX_CHOICES + 1


@pytest.mark.parametrize("text", [
    "", "   ", None, "😀😀😀", "\x00\x01\x1b[31m", "<script>" * 100, "火星基地七号", "我家楼下", "胜利路",
    "楼" * 4000, "金源社区" * 30, "\ud800金源社区", "3楼", "201室",
])
def test_hostile_or_unknown_input_is_answered(index, text):
    resolution = index.resolve(text)
    assert resolution.outcome in ("none", "choices", "one")
    if text and len(text) > MAX_PHRASE:
        assert resolution.outcome == "none"  # a long message is a description, not an address
    assert index.match(text or "") is not None


def test_unambiguous_refuses_ties_and_guesses(index):
    assert unambiguous(index.match("金源社区3号楼")).id == 101
    assert unambiguous(index.match("3号楼")) is None
    assert unambiguous(index.match("1号楼")) is None  # a lone guess is still a guess
    assert unambiguous([]) is None
