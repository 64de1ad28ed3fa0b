"""The /wechat spool file (wechat/spool.py): durable appends in order from many processes,
a bound, (timestamp, nonce) pairs once, torn lines skipped, one replayer, drained files gone."""
from __future__ import annotations

import datetime as dt
import multiprocessing

import pytest

from wechat.spool import PairSpooled, Spool, Spooled, SpoolFull


NOW = dt.datetime(2026, 12, 3, 2, 30, 0, 123457)


def xml(n: int) -> bytes:
    return f"<xml><MsgId>{n}</MsgId><Content><![CDATA[第{n}条\n换行]]></Content></xml>".encode()


def drain(spool: Spool) -> list[Spooled]:
    seen = []
    assert spool.replay(seen.append) == len(seen)
    return seen


def test_pushes_come_back_in_order_and_the_drained_spool_is_removed(tmp_path):
    spool = Spool(tmp_path, 1 << 20)
    assert not spool.pending()
    for n in range(5):
        spool.append(xml(n), 1_800_000_000, str(n), NOW + dt.timedelta(microseconds=n), "o-1")
    assert spool.pending()
    records = drain(spool)
    assert [r.xml for r in records] == [xml(n) for n in range(5)]
    assert [(r.timestamp, r.nonce, r.received_at) for r in records][1] == (
        1_800_000_000, "1", NOW + dt.timedelta(microseconds=1))  # to the microsecond: a claim's time
    assert not spool.pending() and not spool.path.exists()
    assert drain(spool) == []


def test_a_full_spool_refuses_instead_of_pretending(tmp_path):
    spool = Spool(tmp_path, 600)
    spool.append(xml(1), 1, "a", NOW, "o-1")
    spool.append(xml(2), 1, "b", NOW, "o-1")
    with pytest.raises(SpoolFull):
        for n in range(3, 20):
            spool.append(xml(n), 1, f"n{n}", NOW, "o-1")
    assert spool.size() <= 600
    kept = drain(spool)
    assert [r.nonce for r in kept[:2]] == ["a", "b"] and len(kept) < 17  # nothing half-written


def test_a_pair_is_spooled_once(tmp_path):
    spool = Spool(tmp_path, 1 << 20)
    spool.append(xml(1), 1_800_000_000, "42", NOW, "o-1")
    with pytest.raises(PairSpooled):
        spool.append(xml(2), 1_800_000_000, "42", NOW, "o-1")
    other_process_view = Spool(tmp_path, 1 << 20)  # reads what others appended before checking
    with pytest.raises(PairSpooled):
        other_process_view.append(xml(3), 1_800_000_000, "42", NOW, "o-1")
    assert [r.nonce for r in drain(spool)] == ["42"]


def test_a_line_torn_by_a_crash_is_skipped_and_the_next_push_kept_whole(tmp_path):
    spool = Spool(tmp_path, 1 << 20)
    spool.append(xml(1), 1, "a", NOW, "o-1")
    with open(spool.path, "ab") as file:
        file.write(b'1234abcd {"t": 1, "n": "b", "xml": "<xml>')  # the process died mid-write
    spool.append(xml(3), 1, "c", NOW, "o-1")
    assert [r.nonce for r in drain(spool)] == ["a", "c"]


def test_a_torn_last_line_does_not_hold_the_replay(tmp_path):
    spool = Spool(tmp_path, 1 << 20)
    spool.append(xml(1), 1, "a", NOW, "o-1")
    with open(spool.path, "ab") as file:
        file.write(b"deadbeef {")
    assert [r.nonce for r in drain(spool)] == ["a"] and not spool.pending()


def test_a_failing_handler_stops_the_replay_and_keeps_the_file(tmp_path):
    spool = Spool(tmp_path, 1 << 20)
    for n in range(3):
        spool.append(xml(n), 1, str(n), NOW, "o-1")
    handled = []

    def database_still_down(record):
        if record.nonce == "1":
            raise ConnectionError("still down")
        handled.append(record.nonce)

    with pytest.raises(ConnectionError):
        spool.replay(database_still_down)
    assert handled == ["0"] and spool.pending()
    assert [r.nonce for r in drain(spool)] == ["0", "1", "2"]  # started over: the claims sort out "0"


def test_one_replayer_at_a_time(tmp_path):
    spool, other = Spool(tmp_path, 1 << 20), Spool(tmp_path, 1 << 20)
    spool.append(xml(1), 1, "a", NOW, "o-1")
    inside = []

    def handle(record):
        inside.append(other.replay(lambda r: None))  # another process tries meanwhile

    spool.replay(handle)
    assert inside == [None]


def _append_many(directory, worker: int, count: int) -> None:
    spool = Spool(directory, 1 << 24)
    for n in range(count):
        spool.append(xml(worker * 1000 + n), 1_800_000_000, f"{worker}-{n}", NOW, "o-1")


def test_appends_from_several_processes_are_all_kept_whole(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(tmp_path, w, 40)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    records = drain(Spool(tmp_path, 1 << 24))
    assert sorted(r.nonce for r in records) == sorted(f"{w}-{n}" for w in range(4) for n in range(40))
    for worker in range(4):  # each process's own pushes stay in the order it sent them
        mine = [int(r.nonce.split("-")[1]) for r in records if r.nonce.startswith(f"{worker}-")]
        assert mine == sorted(mine)


def test_a_person_with_pushes_in_the_spool_is_held_behind_them_until_it_is_drained(tmp_path):
    spool, other_process = Spool(tmp_path, 1 << 20), Spool(tmp_path, 1 << 20)
    assert not other_process.holds("o-1")
    spool.append(xml(1), 1, "a", NOW, "o-1")
    assert other_process.holds("o-1") and not other_process.holds("o-2")  # o-2 goes straight in
    spool.append(xml(2), 1, "b", NOW, "o-2")
    assert other_process.holds("o-2")
    drain(spool)
    assert not other_process.holds("o-1") and not other_process.holds("o-2")
    spool.append(xml(3), 1, "c", NOW, "o-3")  # a new file: the process reads it afresh
    assert other_process.holds("o-3") and not other_process.holds("o-1")
