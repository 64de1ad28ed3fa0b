"""Content-addressed media under MEDIA_DIR: files named by their sha256, one row per file.

Every image is cleaned here before it is hashed and written (backend.images: decoded, re-encoded
without EXIF/GPS), whichever path brought it — so no stored photo says where it was taken.
Callers check sizes and what kind of file they expect; voice notes are stored as they came.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import peewee

from backend import config
from backend.images import clean_image
from backend.models import Media

KINDS = ("image", "voice", "video")
# What a phone upload may be (the mini-program's /media and the H5 pages): type sniffed by
# decoding, not by name or header; GIF is refused.
PHOTO_LIMIT = 10 * 1024 * 1024
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP")


def media_path(sha256: str, media_dir: Path | None = None) -> Path:
    base = Path(media_dir or config.current().media_dir)
    return base / sha256[:2] / sha256[2:4] / sha256


def store_bytes(data: bytes, mime: str, kind: str = "image", image_formats: tuple[str, ...] | None = None) -> Media:
    """Write ``data`` (atomically, once) and return its Media row (existing or new). An image is
    cleaned first (``mime`` then comes from its real format; ``image_formats`` narrows what is
    accepted); a bad one raises BadImage."""
    if kind not in KINDS:
        raise ValueError(f"unknown media kind {kind!r}")
    if kind == "image":
        data, mime = clean_image(data, image_formats)
    return _store(data, mime, kind)


def store_photos(blobs: list[bytes]) -> list[Media]:
    """Phone photos: every one is cleaned (and so proved an image) before any is written, so
    one fake or broken file among several stores nothing. Raises BadImage."""
    cleaned = [clean_image(data, PHOTO_FORMATS) for data in blobs]
    return [_store(data, mime, "image") for data, mime in cleaned]


def _store(data: bytes, mime: str, kind: str) -> Media:
    digest = hashlib.sha256(data).hexdigest()
    path = media_path(digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    existing = Media.get_or_none(Media.sha256 == digest)
    if existing is not None:
        return existing
    try:
        with Media._meta.database.atomic():
            return Media.create(sha256=digest, mime=mime, size=len(data), kind=kind)
    except peewee.IntegrityError:
        return Media.get(Media.sha256 == digest)


def read_bytes(media: Media) -> bytes:
    return media_path(media.sha256).read_bytes()
