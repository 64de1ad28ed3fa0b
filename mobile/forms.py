"""What the mobile forms send, checked before anything is stored: photos, texts, client keys,
and a per-address budget for reports filed without an account.

Photos obey the mini-program's limits (backend.media: JPEG/PNG/WebP, ≤ 10 MB each, the type
proved by decoding, EXIF removed but the orientation); at most three per form, and the whole
request stays under the app's 16 MB (beyond it werkzeug answers 413, shown as a page).
"""
from __future__ import annotations

import logging
import re

import redis
from flask import current_app, request

from backend.errors import DomainError
from backend.media import PHOTO_LIMIT

log = logging.getLogger("ejia.mobile")

MAX_PHOTOS = 3
MAX_COMMENT = 500
CLIENT_KEY_RE = re.compile(r"^[0-9a-f]{32}$")


class PhotoTooLarge(DomainError):
    status = 413


class TooManyRequests(DomainError):
    status = 429


def photos(field: str = "photo") -> list[bytes]:
    """The photos a form carried (a file input left empty sends a part with no name: skipped)."""
    parts = [part for part in request.files.getlist(field) if part.filename]
    if len(parts) > MAX_PHOTOS:
        raise DomainError("too_many_photos", f"最多上传{MAX_PHOTOS}张照片")
    blobs = []
    for part in parts:
        data = part.read(PHOTO_LIMIT + 1)
        if len(data) > PHOTO_LIMIT:
            raise PhotoTooLarge("photo_too_large", "照片太大了，每张不能超过10MB")
        if not data:
            raise DomainError("empty_photo", "有一张照片是空的，请重新选择")
        blobs.append(data)
    return blobs


def text(name: str, limit: int, label: str) -> str:
    value = (request.form.get(name) or "").strip()
    if len(value) > limit:
        raise DomainError(f"{name}_too_long", f"{label}太长了，请控制在{limit}字以内")
    return value


def client_key() -> str:
    """The form's one-time key (made when the page was shown): a resubmit files nothing twice."""
    key = request.form.get("client_key", "")
    if not CLIENT_KEY_RE.match(key):
        raise DomainError("bad_client_key", "页面已过期，请刷新后重新填写")
    return key


def spend(budget: str, limit: int, window_seconds: int) -> None:
    """One use of ``budget`` by this client address; past ``limit`` in the window → 429.
    Redis unreachable: let it through (logged) — a counter outage must not stop reporting."""
    key = f"ejia:h5:{budget}:{request.remote_addr or '-'}"
    try:
        pipe = current_app.extensions["ejia.redis"].pipeline()
        pipe.set(key, 0, ex=window_seconds, nx=True)
        pipe.incr(key)
        count = pipe.execute()[1]
    except redis.exceptions.RedisError as exc:
        log.warning("h5 budget %s not counted: %s", budget, exc)
        return
    if count > limit:
        raise TooManyRequests("too_many_requests", "提交太频繁了，请过一会儿再试")
