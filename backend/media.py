"""Content-addressed media: objects named by their sha256 in the media store (MEDIA_DIR, or
an S3 bucket with MEDIA_STORE=s3://…; backend/media_store.py), one Media row per object.

Every image is cleaned here before it is hashed and written (backend.images: decoded, re-encoded
without EXIF/GPS), whichever path brought it — so no stored photo says where it was taken.
Callers check sizes and what kind of file they expect; voice notes are stored as they came.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import peewee

from backend import config
from backend.images import clean_image
from backend.media_store import (
    LocalStore,
    MediaMissing,
    MediaStore,
    MediaStream,
    MediaUnavailable,
    from_settings,
)
from backend.models import Media

__all__ = ["KINDS", "PHOTO_LIMIT", "PHOTO_FORMATS", "MediaMissing", "MediaUnavailable", "store", "media_path",
           "store_bytes", "store_photos", "open_media", "read_bytes", "delete_object"]

KINDS = ("image", "voice", "video")
# What a phone upload may be (the mini-program's /media and the H5 pages): type sniffed by
# decoding, not by name or header; GIF is refused.
PHOTO_LIMIT = 10 * 1024 * 1024
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP")


#: How long WeChat keeps a temporary media id (a photo or voice note sent in the chat): the
#: worker fetches it well within; after this it can no longer be fetched.
WECHAT_MEDIA_LIFETIME = dt.timedelta(days=3)


def store() -> MediaStore:
    """The configured media store (MEDIA_STORE / MEDIA_DIR): the one way to media bytes."""
    return from_settings(config.current())


def media_path(sha256: str, media_dir: Path | None = None) -> Path:
    """Where the *local* store keeps an object (backups, tests); readers use ``open_media``."""
    return LocalStore(Path(media_dir or config.current().media_dir)).path(sha256)


def store_bytes(data: bytes, mime: str, kind: str = "image", image_formats: tuple[str, ...] | None = None) -> Media:
    """Write ``data`` (atomically, once) and return its Media row (existing or new). An image is
    cleaned first (``mime`` then comes from its real format; ``image_formats`` narrows what is
    accepted); a bad one raises BadImage. The store unreachable raises MediaUnavailable with
    no row written."""
    if kind not in KINDS:
        raise ValueError(f"unknown media kind {kind!r}")
    if kind == "image":
        data, mime = clean_image(data, image_formats)
    return _store(data, mime, kind)


def store_photos(blobs: list[bytes]) -> list[Media]:
    """Phone photos: every one is cleaned (and so proved an image) before any is written, so
    one fake or broken file among several stores nothing. Raises BadImage, MediaUnavailable."""
    cleaned = [clean_image(data, PHOTO_FORMATS) for data in blobs]
    return [_store(data, mime, "image") for data, mime in cleaned]


def _store(data: bytes, mime: str, kind: str) -> Media:
    """The object first, then its row: a row (and so anything attached to it) never points at
    an object that is not there. ``put`` is idempotent, so a row whose object went missing
    (a store switched without ``media migrate``) is healed by storing the same bytes again."""
    digest = hashlib.sha256(data).hexdigest()
    store().put(digest, data, mime)
    existing = Media.get_or_none(Media.sha256 == digest)
    if existing is not None:
        return existing
    try:
        with Media._meta.database.atomic():
            return Media.create(sha256=digest, mime=mime, size=len(data), kind=kind)
    except peewee.IntegrityError:
        return Media.get(Media.sha256 == digest)


def open_media(media: Media) -> MediaStream:
    """The object's bytes as a stream of chunks (``size`` known up front). MediaMissing if
    the object is gone, MediaUnavailable if the store does not answer."""
    return store().open(media.sha256)


def read_bytes(media: Media) -> bytes:
    """A whole object in memory: small things only (a photo in a test); serving streams."""
    return open_media(media).read_all()


def delete_object(sha256: str) -> None:
    store().delete(sha256)
