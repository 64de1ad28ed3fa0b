"""Who uploaded which media file (the mini-program's uploads), kept for a day."""
from __future__ import annotations

import peewee

from backend.models.base import BaseModel, utcnow
from backend.models.events import Media


class MediaUpload(BaseModel):
    """An upload receipt: ``uploader`` ("resident:3", "staff:12") may attach or read ``media``.
    Media are content-addressed and shared, so the receipt — not the file — says whose it is.
    In the database, not Redis: a report with photos is accepted while Redis is away."""

    uploader = peewee.CharField(max_length=40)
    media = peewee.ForeignKeyField(Media, on_delete="CASCADE")
    created_at = peewee.DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("uploader", "media"), True),)
