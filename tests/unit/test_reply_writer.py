"""wechat.inbound.ReplyWriter: replies queued by request threads, written behind in batches."""
from __future__ import annotations

import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from wechat.inbound import ReplyWriter


class Rows:
    """Stands in for the InboundMessage rows (the writer's target, not the thing under test)."""

    def __init__(self, fail_times: int = 0):
        self.batches: list[list[tuple[str, str | None]]] = []
        self.fail_times = fail_times
        self.lock = threading.Lock()

    def write(self, batch):
        with self.lock:
            if self.fail_times:
                self.fail_times -= 1
                raise ConnectionError("database away")
            self.batches.append(list(batch))

    def written(self) -> list[tuple[str, str | None]]:
        return [pair for batch in self.batches for pair in batch]


def _wait_for(condition, seconds=3.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_the_thread_writes_without_being_asked():
    rows = Rows()
    writer = ReplyWriter(rows.write, interval=0.01)
    writer.keep("msg:1", "收到")
    assert _wait_for(lambda: rows.written() == [("msg:1", "收到")])


def test_replies_of_concurrent_pushes_share_a_statement():
    rows = Rows()
    writer = ReplyWriter(rows.write, interval=0.2)
    for i in range(50):
        writer.keep(f"msg:{i}", f"第{i}条")
    assert _wait_for(lambda: len(rows.written()) == 50)
    assert len(rows.batches) <= 2  # the first reply may be written alone, the rest waited for it
    assert rows.written() == [(f"msg:{i}", f"第{i}条") for i in range(50)]


def test_a_failed_write_is_tried_again():
    rows = Rows(fail_times=1)
    writer = ReplyWriter(rows.write, interval=0.01)
    writer.keep("msg:1", None)
    assert _wait_for(lambda: rows.written() == [("msg:1", None)], seconds=5)


@settings(max_examples=30, deadline=None)
@given(plan=st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=40),
       interval=st.sampled_from([0.0, 0.001, 0.005]))
def test_every_kept_reply_is_written_exactly_once(plan, interval):
    """Whatever the interleaving of request threads, the writer thread and flush() (tests,
    shutdown), each reply reaches the rows exactly once."""
    rows = Rows()
    writer = ReplyWriter(rows.write, interval=interval)
    threads = []
    for number, (thread_no, flush_after) in enumerate(plan):
        def request(number=number, thread_no=thread_no, flush_after=flush_after):
            writer.keep(f"t{thread_no}:{number}", str(number))
            if flush_after:
                writer.flush()
        threads.append(threading.Thread(target=request))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.flush()
    written = rows.written()
    assert sorted(written) == sorted((f"t{t}:{n}", str(n)) for n, (t, _) in enumerate(plan))
    assert len(set(written)) == len(written)
