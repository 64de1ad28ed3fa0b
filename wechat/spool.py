"""The /wechat spool: pushes that arrive while the database is unreachable (DESIGN §10).

WeChat gives a push 5 s and then shows the resident "该公众号暂时无法提供服务"; a PostgreSQL
restart takes longer than that. So a push that passed every check (signature, timestamp,
decryption, parsing) but cannot be stored is appended here — one line per push, written
with ``O_APPEND`` under an exclusive lock and fsynced before the answer goes out — and the
resident is told "收到了，系统正在维护，稍后回复您". When the database is back the spool is
replayed in order, one replayer at a time (``replay.lock``): each push goes through the
normal path, where the ``InboundMessage`` claim on its MsgId still decides that it acts
once, and the dialog's real answer is sent as a customer-service message.

While a person has pushes in the spool, their new pushes are spooled behind them
(``holds(openid)``), so one person's messages are acted on in the order they were sent;
everyone else's go straight to the database again as soon as it answers, so the replay —
one thread — never has to keep up with the whole account's traffic.

Lines: ``<crc32 hex> <json>\\n``. A line torn by a crash fails its checksum and is skipped
(logged); the next append starts on a fresh line. The file is bounded (``max_bytes``):
when full, pushes are refused (503) — WeChat retries them, and the resident is not told a
message was received that was not kept. Other processes on the host share the file: the
append lock is a separate file (``spool.lock``), because a drained spool is unlinked and
the next append creates a new one.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import threading
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger("ejia.wechat.spool")

REPLY = "收到了，系统正在维护，稍后回复您"
EPOCH = dt.datetime(1970, 1, 1)


class SpoolFull(Exception):
    """The spool reached its size bound: refuse the push (503) rather than pretend to keep it."""


class PairSpooled(Exception):
    """This (timestamp, nonce) pair is in the spool already: a replayed or forged push."""


@dataclass(frozen=True)
class Spooled:
    xml: bytes  # the verified push (decrypted in safe mode)
    timestamp: int  # the callback's (timestamp, nonce) pair, checked again when replayed
    nonce: str
    received_at: dt.datetime  # naive UTC, to the microsecond: when it arrived (or was claimed)
    openid: str  # whose it is: their later pushes go behind it


def _line(record: Spooled) -> bytes:
    micros = (record.received_at - EPOCH) // dt.timedelta(microseconds=1)  # exact, unlike a float
    body = json.dumps({"t": record.timestamp, "n": record.nonce, "at": micros, "o": record.openid,
                       "xml": record.xml.decode("utf-8")}, ensure_ascii=False, separators=(",", ":"))
    data = body.encode("utf-8")
    return b"%08x " % zlib.crc32(data) + data + b"\n"


def _parse(line: bytes) -> Spooled | None:
    """A complete line → its record; None if torn or corrupted."""
    checksum, _, data = line.rstrip(b"\n").partition(b" ")
    try:
        if int(checksum, 16) != zlib.crc32(data):
            return None
        body = json.loads(data)
        received_at = EPOCH + dt.timedelta(microseconds=int(body["at"]))
        return Spooled(body["xml"].encode("utf-8"), int(body["t"]), str(body["n"]), received_at, str(body["o"]))
    except (ValueError, KeyError, TypeError):
        return None


class Spool:
    def __init__(self, directory: Path, max_bytes: int):
        self.directory = Path(directory)
        self.path = self.directory / "spool.log"
        self.max_bytes = max_bytes
        self._thread_lock = threading.Lock()  # flock does not exclude threads sharing a description
        self._index = _Index()  # what this process has read of the file

    def pending(self) -> bool:
        """Anything spooled and not yet replayed (one stat: cheap enough for every push)."""
        try:
            return os.stat(self.path).st_size > 0
        except FileNotFoundError:
            return False

    def holds(self, openid: str) -> bool:
        """Whether pushes of this person are in the spool (until it is drained): theirs go behind."""
        if not self.pending():
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            with self._thread_lock:
                return openid in self._index.read(fd).openids
        finally:
            os.close(fd)

    def size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    @contextmanager
    def _locked(self, name: str, blocking: bool = True) -> Iterator[bool]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / name, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing releases the lock

    def append(self, xml: bytes, timestamp: int, nonce: str, received_at: dt.datetime, openid: str) -> None:
        """Keep one verified push durably (fsynced). Raises SpoolFull, PairSpooled."""
        line = _line(Spooled(xml, timestamp, nonce, received_at, openid))
        with self._thread_lock, self._locked("spool.lock"):
            created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size + len(line) + 1 > self.max_bytes:
                    raise SpoolFull(f"the spool holds {size} bytes (limit {self.max_bytes})")
                if (timestamp, nonce) in self._index.read(fd).pairs:
                    raise PairSpooled(f"timestamp {timestamp} and nonce {nonce!r} are spooled already")
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # a torn line from a crash: end it, keep ours whole
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_directory(self.directory)

    def replay(self, handle: Callable[[Spooled], None]) -> int | None:
        """Hand every spooled push to ``handle`` in order, then remove the drained file.

        One replayer on the host at a time: None when another holds the replay lock. An
        exception from ``handle`` (the database went away again) stops the replay and leaves
        the file; the next replay starts over, and the pushes already handled are recognised
        by their claims. Returns how many records were handed over."""
        with self._locked("replay.lock", blocking=False) as mine:
            if not mine:
                return None
            handled, offset, inode = 0, 0, None
            while True:
                try:
                    with open(self.path, "rb") as spool:
                        stat = os.fstat(spool.fileno())
                        if inode is not None and stat.st_ino != inode:
                            offset = 0  # drained and recreated meanwhile (cannot happen while we hold
                        inode = stat.st_ino  # the replay lock, but never skip a record if it did)
                        spool.seek(offset)
                        for raw in spool:
                            if not raw.endswith(b"\n"):
                                break  # being written right now: read it on the next pass
                            offset += len(raw)
                            record = _parse(raw)
                            if record is None:
                                log.error("spool: skipped an unreadable line before byte %d", offset)
                                continue
                            handle(record)
                            handled += 1
                except FileNotFoundError:
                    return handled
                with self._thread_lock, self._locked("spool.lock"):
                    try:
                        stat = os.stat(self.path)
                    except FileNotFoundError:
                        return handled
                    if stat.st_ino == inode and stat.st_size > offset:
                        with open(self.path, "rb") as spool:
                            spool.seek(offset)
                            rest = spool.read()
                        if b"\n" not in rest:  # nobody writes while we hold the lock: torn by a crash
                            log.error("spool: dropped %d bytes of a line torn by a crash", len(rest))
                            offset = stat.st_size
                    if stat.st_ino == inode and stat.st_size == offset:
                        os.unlink(self.path)
                        _fsync_directory(self.directory)
                        log.info("spool: %d push(es) replayed; spool emptied", handled)
                        return handled
                # more arrived while we replayed: another pass


class _Index:
    """What one process has read of the spool file: the pairs and the people in it, read on
    from where it stopped (under the caller's lock; a line still being written waits)."""

    def __init__(self):
        self.inode, self.offset, self.pairs, self.openids = 0, 0, set(), set()

    def read(self, fd: int) -> "_Index":
        stat = os.fstat(fd)
        if self.inode != stat.st_ino or self.offset > stat.st_size:  # drained and started afresh
            self.__init__()
            self.inode = stat.st_ino
        if self.offset < stat.st_size:
            data = os.pread(fd, stat.st_size - self.offset, self.offset)
            complete = data[:data.rfind(b"\n") + 1]
            for raw in complete.splitlines(keepends=True):
                record = _parse(raw)
                if record is not None:
                    self.pairs.add((record.timestamp, record.nonce))
                    self.openids.add(record.openid)
            self.offset += len(complete)
        return self


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
