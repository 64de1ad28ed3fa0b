"""The ``download_media`` job: a photo or voice note a user sent through the official account.

WeChat's media ids are temporary (3 days), so the bytes are fetched promptly and stored
content-addressed (backend.media.store_bytes). The content is checked by its magic bytes —
never by the Content-Type WeChat (or anyone in between) claims — and size-limited;
anything else fails for good (failed registry, no retry) and the attachment stays unlinked.
https://developers.weixin.qq.com/doc/offiaccount/Asset_Management/Get_temporary_materials.html
"""
from __future__ import annotations

import datetime as dt

from backend import clock
from backend.images import BadImage
from backend.media import WECHAT_MEDIA_LIFETIME, store_bytes
from backend.models import Attachment
from workers.context import (
    db_session,
    ensure_ready,
    event_scope,
    fail_without_retry,
    job_logger,
    redis_connection,
)
from workers.queues import enqueue, jobs_known

log = job_logger("ejia.media")
SWEEP_GRACE = dt.timedelta(minutes=2)  # the outbox handler's own job comes first
SWEEP_BATCH = 5000  # one query, one Redis round trip
MAX_BYTES = {"image": 10 << 20, "voice": 2 << 20}
SIGNATURES = (  # (prefix, offset, mime, kind)
    (b"\xff\xd8\xff", 0, "image/jpeg", "image"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "image"),
    (b"GIF87a", 0, "image/gif", "image"),
    (b"GIF89a", 0, "image/gif", "image"),
    (b"#!AMR\n", 0, "audio/amr", "voice"),
    (b"#!SILK_V3", 0, "audio/silk", "voice"),
    (b"#!SILK_V3", 1, "audio/silk", "voice"),  # WeChat's SILK files start with 0x02
    (b"ID3", 0, "audio/mpeg", "voice"),
    (b"OggS", 0, "audio/ogg", "voice"),
)


class BadMedia(ValueError):
    """Bytes that are not an image or a voice note we accept."""


def sniff(data: bytes) -> tuple[str, str]:
    """(mime, kind) from the content itself, or BadMedia."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime, kind = "image/webp", "image"
    else:
        for prefix, offset, mime, kind in SIGNATURES:
            if data[offset:offset + len(prefix)] == prefix:
                break
        else:
            raise BadMedia("content is neither an image (JPEG/PNG/GIF/WebP) nor a voice note (AMR/SILK/MP3/Ogg)")
    if len(data) > MAX_BYTES[kind]:
        raise BadMedia(f"{kind} of {len(data)} bytes exceeds {MAX_BYTES[kind]}")
    if kind == "image":
        _check_image(data, mime)
    return mime, kind


def _check_image(data: bytes, mime: str) -> None:
    """A header followed by garbage is not a photo: require the format's end or size."""
    if mime == "image/jpeg" and b"\xff\xd9" not in data[-64:]:
        raise BadMedia("JPEG is truncated or not a JPEG (no end-of-image marker)")
    if mime == "image/png" and b"IEND" not in data[-16:]:
        raise BadMedia("PNG is truncated (no IEND chunk)")


def download(attachment_id: int) -> str:
    settings = ensure_ready()
    with db_session(), event_scope(None):
        attachment = Attachment.get_or_none(Attachment.id == attachment_id)
        if attachment is None:
            log.info("attachment %s no longer exists; nothing to download", attachment_id)
            return "missing"
        from workers.context import set_event

        set_event(attachment.event.number)
        if attachment.media_id is not None:
            return "already stored"
        if not attachment.wechat_media_id:
            log.info("attachment %s has no WeChat media id", attachment_id)
            return "nothing to fetch"
        from wechat.client import OfficialAccount, WeChatError

        try:
            data, _claimed_type = OfficialAccount(settings, redis_connection()).download_media(
                attachment.wechat_media_id)
        except WeChatError as err:
            if err.kind == "permanent" or err.errcode == 40007:  # 40007: media expired / unknown
                raise fail_without_retry(err)
            raise
        try:
            mime, kind = sniff(data)
            media = store_bytes(data, mime, kind)  # an image is cleaned of EXIF/GPS on the way in
        except (BadMedia, BadImage) as exc:
            log.warning("attachment %s: %s", attachment_id, exc)
            raise fail_without_retry(exc)
        Attachment.update(media=media.id).where(Attachment.id == attachment_id).execute()
        log.info("attachment %s stored as %s (%s, %d bytes)", attachment_id, media.sha256[:12], mime, len(data))
        return "stored"


def job_id(attachment_id: int) -> str:
    return f"media-{attachment_id}"


def sweep() -> int:
    """Enqueue ``download_media`` for WeChat media no job is fetching: attachments of the last
    3 days with only a WeChat media id, older than SWEEP_GRACE, whose job Redis does not know.

    The outbox handler enqueues each download once and the row is then stamped processed, so a
    Redis restart or failover that lost the job left the photo unfetched until WeChat forgot
    it. A job Redis still knows in any state is left alone: queued or running, it will run; in
    the failed registry, it failed for good (fake content, expired id) or ran out of retries,
    and ``jobs retry`` is the operator's call, not a loop every minute.
    """
    ensure_ready()
    now = clock.now()
    with db_session():
        ids = [row.id for row in Attachment.select(Attachment.id).where(
            (Attachment.created_at > now - WECHAT_MEDIA_LIFETIME) & (Attachment.created_at <= now - SWEEP_GRACE)
            & Attachment.media.is_null() & Attachment.wechat_media_id.is_null(False))
            .order_by(Attachment.id).limit(SWEEP_BATCH)]
    connection = redis_connection()
    known = jobs_known(connection, [job_id(attachment_id) for attachment_id in ids])
    lost = [attachment_id for attachment_id, exists in zip(ids, known) if not exists]
    for attachment_id in lost:
        enqueue(connection, "media", attachment_id, job_id=job_id(attachment_id))
    if lost:
        log.info("media sweep enqueued %d lost download(s): attachments %s", len(lost), lost[:20])
    return len(lost)
