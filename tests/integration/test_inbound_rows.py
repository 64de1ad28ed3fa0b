"""backend.services.residents: a push stored once by its key, replies kept many at a time
(both engines)."""
from __future__ import annotations

import itertools

import pytest

from backend.models import InboundMessage, Resident
from backend.services import residents

_NONCES = ((1_700_000_000, str(n)) for n in itertools.count())


def _record(key: str, openid: str = "o-rows", opens_window: bool = True, nonce: tuple[int, str] | None = None):
    return residents.record_inbound(dedupe_key=key, openid=openid, msg_type="text", event_type=None,
                                    payload={"text": "路灯不亮"}, opens_window=opens_window,
                                    nonce=nonce or next(_NONCES))


def test_the_first_insert_claims_and_a_copy_stores_nothing(clean_db):
    first = _record("msg:1")
    assert first is not None
    assert _record("msg:1") is None
    [row] = InboundMessage.select()
    assert (row.dedupe_key, row.reply, row.created_at) == ("msg:1", None, first)  # reply pending
    assert Resident.get(Resident.oa_openid == "o-rows").last_message_at == first


def test_replies_are_kept_in_one_go_and_strangers_are_left_alone(clean_db):
    for key in ("msg:1", "msg:2", "msg:3"):
        _record(key)
    hostile = "x'); DELETE FROM inbound_message; --"
    residents.answer_inbounds([("msg:1", "收到，已记下"), ("msg:2", None), ("msg:3", hostile),
                               ("msg:not-stored", "无人认领")])
    kept = {row.dedupe_key: row.reply for row in InboundMessage.select()}
    assert kept == {"msg:1": "收到，已记下", "msg:2": residents.NO_REPLY, "msg:3": hostile}


def test_keeping_nothing_is_a_no_op(clean_db):
    _record("msg:1")
    residents.answer_inbounds([])
    assert InboundMessage.get().reply is None


def test_a_pair_is_accepted_once_and_a_reuse_stores_nothing(clean_db):
    pair = (1_800_000_000, "4242")
    assert _record("msg:1", nonce=pair) is not None
    with pytest.raises(residents.NonceReused):
        _record("msg:2", openid="o-forger", nonce=pair)  # another body under a used URL
    with pytest.raises(residents.NonceReused):
        _record("msg:1", nonce=pair)  # the same push again
    assert [row.dedupe_key for row in InboundMessage.select()] == ["msg:1"]
    assert not Resident.select().where(Resident.oa_openid == "o-forger").exists()
    assert _record("msg:3", nonce=(pair[0] + 1, pair[1])) is not None  # same nonce, another second: fine


def test_a_copy_under_a_fresh_pair_is_a_copy_and_under_a_used_pair_a_replay(clean_db):
    first = (1_800_000_000, "1")
    _record("msg:1", nonce=first)
    assert _record("msg:1", nonce=(1_800_000_005, "2")) is None  # WeChat's retry: signed afresh
    with pytest.raises(residents.NonceReused):
        _record("msg:1", nonce=first)  # the very same request again
    assert [(r.callback_timestamp, r.callback_nonce) for r in InboundMessage.select()] == [first]
