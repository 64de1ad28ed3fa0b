"""Upload receipts: which media file a person uploaded through the mini-program (a day long).

A report or a resolution may attach only photos its author uploaded (media ids are small
integers, not secrets), and an uploader may read back what they uploaded. The receipts used
to be a Redis set; here they survive a Redis outage, so a report with photos is accepted
while Redis is away (DESIGN §10: Redis is never the only copy of what a resident sent).
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from backend import clock
from backend.models import MediaUpload

VALID_FOR = dt.timedelta(days=1)


def remember_upload(uploader: str, media_id: int) -> None:
    """``uploader`` ("resident:3") uploaded ``media_id`` now (again: the day starts afresh)."""
    (MediaUpload.insert(uploader=uploader, media=media_id, created_at=clock.now())
     .on_conflict(conflict_target=[MediaUpload.uploader, MediaUpload.media],
                  update={MediaUpload.created_at: clock.now()})
     .execute())


def own_uploads(uploader: str, media_ids: Iterable[int]) -> set[int]:
    """Those of ``media_ids`` that ``uploader`` uploaded within the last day."""
    ids = list(media_ids)
    if not ids:
        return set()
    rows = MediaUpload.select(MediaUpload.media).where(
        (MediaUpload.uploader == uploader) & MediaUpload.media.in_(ids)
        & (MediaUpload.created_at >= clock.now() - VALID_FOR))
    return {row.media_id for row in rows}


def forget_uploads(before: dt.datetime) -> int:
    """Drop receipts older than ``before``; the count."""
    return MediaUpload.delete().where(MediaUpload.created_at < before).execute()
