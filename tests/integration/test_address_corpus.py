"""Address understanding, measured (issue 15): the corpora in tests/data/ against the demo areas.

``address_corpus.tsv`` (105 phrases) was written before the matcher was rewritten, and
``address_holdout.tsv`` (43) after it, measured once before any change. The goal on both:
at least 95 % resolved, offered as choices or rightly not found, and **none** silently wrong —
a wrong single answer is the worst outcome (ask instead). The same matcher answers the chat
(``wechat.dialog.gather.address_matches``) and Open311. docs/understanding.md has the figures.
"""
from __future__ import annotations

import pytest

from backend.models import Area, Building
from backend.seed import seed_demo
from backend.services.address import resolve_address
from tests.understanding import ADDRESS_SETS, address_figures


@pytest.fixture
def demo(clean_db):
    seed_demo(history=False)  # places only: the addresses are read against them
    return clean_db


def test_the_corpora_meet_the_goal_and_nothing_is_silently_wrong(demo):
    for name in ADDRESS_SETS:
        figures = address_figures(name)
        assert figures.n >= (100 if name == "address_corpus.tsv" else 40)
        assert figures.outcomes["wrong"] == 0, (name, figures.wrong)
        assert figures.answered_rate >= 0.95, (name, figures.missed)
        assert figures.top3 / figures.ranked_n >= 0.95, name


def test_known_misses_and_the_chat_shell(demo, settings):
    from wechat.dialog.gather import address_matches

    street = resolve_address("通北街道")
    assert street.outcome == "one" and (street.places[0].level, street.places[0].name) == ("street", "通北街道")
    places, ask = address_matches("通北街道", settings)
    assert len(places) == 1 and not ask and places[0].grid_id is None and places[0].community_name is None
    assert "通北街道" in places[0].label

    bare = resolve_address("3号楼")
    assert bare.outcome == "choices" and len(bare.places) == Building.select().where(Building.name == "3号楼").count()
    places, ask = address_matches("3号楼2单元", settings)
    assert ask and len(places) == 6 and all(p.building_unit_id and "2单元" in p.label for p in places)
    assert len({p.community_name for p in places}) == 6  # each choice says which community

    places, ask = address_matches("金源社区三号楼二单元门口", settings)
    assert not ask and len(places) == 1 and places[0].label == "金源社区3号楼 2单元"
    grid = Area.get(Area.name == "金源社区第二网格")
    places, ask = address_matches("金源二网格", settings)
    assert not ask and [(p.grid_id, p.lat) for p in places] == [(grid.id, None)]
    assert address_matches("金源社区3号楼" + "，楼道里堆满了纸箱" * 10, settings) == ((), False)  # a description
