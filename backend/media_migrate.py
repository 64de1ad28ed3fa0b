"""Copy a local media store into object storage: ``python -m server media migrate``.

Resumable by construction: objects are named by their sha256 and an object that is already
in the target with the same size is skipped, so a run stopped at any point (Ctrl-C, a lost
connection) is finished by running it again — nothing is copied twice and nothing is left
half-written (one S3 PUT, or a multipart upload, appears whole or not at all). Each file is
streamed from disk, a part at a time.

The verification pass reads every object back from the target and compares the sha256 of
what it returns with its name, and checks that every Media row has its object there.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from backend.media_store import LocalStore, MediaMissing, MediaStore, sha256_of_stream
from backend.models import Media

log = logging.getLogger("ejia.media.migrate")
Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class CopyReport:
    total: int = 0
    copied: int = 0
    skipped: int = 0  # already in the target (an earlier, perhaps interrupted, run)
    bytes_copied: int = 0


@dataclass
class VerifyReport:
    checked: int = 0
    bad: list[str] = field(default_factory=list)  # objects whose content is not their name's digest
    absent: list[str] = field(default_factory=list)  # in the source, not in the target
    rows_without_object: list[str] = field(default_factory=list)  # Media rows neither store has

    @property
    def ok(self) -> bool:
        return not (self.bad or self.absent or self.rows_without_object)


def _mimes() -> dict[str, str]:
    return {row.sha256: row.mime for row in Media.select(Media.sha256, Media.mime)}


def copy_store(source: LocalStore, target: MediaStore, progress: Progress | None = None) -> CopyReport:
    """Copy every object of ``source`` that ``target`` lacks (or holds at another size)."""
    shas = list(source.walk())
    mimes = _mimes()
    report = CopyReport(total=len(shas))
    for done, sha in enumerate(shas, 1):
        size = source.size(sha)
        there = target.size(sha)
        if there is not None and there == size:
            report.skipped += 1
        else:
            if there is not None:  # a different object under this name: replace it with the true one
                log.warning("object %s in the target is %d bytes, the local file %s: copying again", sha, there, size)
                target.delete(sha)
            with open(source.path(sha), "rb") as handle:
                target.put(sha, handle, mimes.get(sha, "application/octet-stream"))
            report.copied += 1
            report.bytes_copied += size or 0
        if progress:
            progress(done, report.total)
    return report


def verify_store(source: LocalStore, target: MediaStore, progress: Progress | None = None) -> VerifyReport:
    """Read every object of ``source`` back from ``target`` and check its digest; check that
    every Media row's object is in the target."""
    shas = list(source.walk())
    report = VerifyReport()
    for done, sha in enumerate(shas, 1):
        try:
            digest, _size = sha256_of_stream(target.open(sha))
        except MediaMissing:
            report.absent.append(sha)
        else:
            if digest != sha:
                report.bad.append(sha)
        report.checked += 1
        if progress:
            progress(done, len(shas))
    local = set(shas)
    for sha in sorted(_mimes()):
        if sha not in local and not target.exists(sha):
            report.rows_without_object.append(sha)
    return report
