"""Uploads (photos and voice) and downloads, checked before anything is stored.

Photos: JPEG, PNG, WebP or GIF up to 10 MB; the media store decodes them in full and re-encodes
them without metadata except the EXIF orientation (backend.images: a renamed text file, a
truncated file or a decompression bomb is a 400; GPS never reaches the store). Voice: AMR,
MP3 or M4A up to 2 MB, recognised by magic bytes.

Who may attach or read a media id: its uploader (an upload receipt kept in the database for
a day — ``backend.services.uploads`` — so ids are not guessable handles to other people's
photos, and a report with photos does not depend on Redis), and anyone who may see an event
it is attached to.

A voice note also plays through ``/media/<id>/listen``: WeChat's AMR, which iOS does not play,
decoded to WAV (backend/voice.py); MP3 and M4A as they are.

Reads go through the app, streamed from the media store (local disk or S3), never by a
presigned URL to the bucket: every read is a permission check (docs/architecture.md, "Media").
An unreachable store is a 503 (``media_unavailable``) and nothing is stored.
"""
from __future__ import annotations

from flask import Response, request

from backend import media as media_store, voice
from backend.models import Attachment, Event, Media
from backend.services import uploads
from backend.services.context import event_view
from backend.workflow import can_see
from miniprogram_api.api import Api, Call
from miniprogram_api.errors import ApiError
from miniprogram_api.schemas import MediaOut

api = Api()

IMAGE_LIMIT = media_store.PHOTO_LIMIT
VOICE_LIMIT = 2 * 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_FORMATS = media_store.PHOTO_FORMATS  # what wx.chooseMedia gives; GIF is refused


def voice_mime(data: bytes) -> str | None:
    if data.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return "audio/amr"
    if data.startswith(b"ID3") or (len(data) > 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if data[4:8] == b"ftyp" and data[8:12] in (b"M4A ", b"M4B ", b"mp42", b"mp41", b"isom", b"iso2"):
        return "audio/mp4"
    return None


def check_own_uploads(principal, media_ids) -> list[int]:
    """The ids, if the caller uploaded each of them in the last day; 400 otherwise."""
    ids = list(dict.fromkeys(media_ids or ()))
    if ids and uploads.own_uploads(principal.key, ids) != set(ids):
        raise ApiError(400, "unknown_media", "有图片没有上传成功或已过期，请重新上传")
    return ids


@api.operation("POST", "/media", summary="上传图片（JPEG/PNG/WebP ≤10MB）或语音（AMR/MP3/M4A ≤2MB）",
               tag="media", auth="any", upload=True, ok=201, response=MediaOut, errors=(503,),
               limit="30/minute;300/day",
               description="multipart/form-data with one part named `file`. Images are decoded and "
                           "re-encoded without metadata except the EXIF orientation.")
def upload_media(call: Call):
    request.max_content_length = IMAGE_LIMIT + MULTIPART_OVERHEAD
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "请用 multipart/form-data 上传，文件字段名为 file")
    unknown = sorted(set(request.form.keys()) | (set(request.files.keys()) - {"file"}))
    if unknown:
        raise ApiError(400, "unknown_fields", "不认识这些字段：" + "、".join(unknown))
    files = request.files.getlist("file")
    if len(files) != 1:
        raise ApiError(400, "file_required", "请选择一个文件上传")
    data = files[0].read(IMAGE_LIMIT + 1)
    if len(data) > IMAGE_LIMIT:
        raise ApiError(413, "file_too_large", "文件太大了，图片不能超过 10MB")
    if not data:
        raise ApiError(400, "empty_file", "文件是空的")
    mime = voice_mime(data)
    if mime is not None:
        if len(data) > VOICE_LIMIT:
            raise ApiError(413, "file_too_large", "语音太大了，不能超过 2MB")
        kind = "voice"
    else:
        mime, kind = "image/jpeg", "image"  # store_bytes decodes, cleans and names the real format
    stored = media_store.store_bytes(data, mime, kind, image_formats=UPLOAD_FORMATS)
    uploads.remember_upload(call.principal.key, stored.id)
    return MediaOut(id=stored.id, kind=kind, mime=stored.mime, size=stored.size)


def _may_read(principal, media_id: int) -> bool:
    if uploads.own_uploads(principal.key, [media_id]):
        return True
    events = (Event.select().join(Attachment, on=(Attachment.event == Event.id))
              .where(Attachment.media == media_id).distinct().limit(20))
    return any(can_see(event_view(e), principal.actor) for e in events)


def _readable(call: Call) -> Media:
    """The path's media row if the caller may read it; the same 404 whether it does not exist
    or is someone else's (ids are not handles to other people's files)."""
    media_id = call.path["media_id"]
    row = Media.get_or_none(Media.id == media_id)
    if row is None or not _may_read(call.principal, media_id):
        raise ApiError(404, "media_not_found", "没有找到这个文件")
    return row


@api.operation("GET", "/media/<int:media_id>", summary="下载图片或语音（上传者或能看到相关事件的人）",
               tag="media", auth="any", binary=("image/jpeg", "image/png", "image/webp", "audio/amr",
                                                "audio/mpeg", "audio/mp4"), errors=(503,))
def download_media(call: Call):
    row = _readable(call)
    if request.if_none_match.contains(row.sha256):  # content-addressed: the digest is the ETag
        return Response(status=304, headers={"ETag": f'"{row.sha256}"'})
    try:
        stream = media_store.open_media(row)
    except media_store.MediaMissing:
        raise ApiError(404, "media_not_found", "文件已不存在") from None
    # Streamed a chunk at a time from the store (never the whole file in memory).
    response = Response(stream, mimetype=row.mime, direct_passthrough=True)
    response.content_length = stream.size
    response.set_etag(row.sha256)
    response.headers["Cache-Control"] = "private, max-age=86400"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@api.operation("GET", "/media/<int:media_id>/listen", summary="播放语音：AMR 转成 WAV（iOS 放不了 AMR），MP3/M4A 原样",
               tag="media", auth="any", binary=("audio/wav", "audio/mpeg", "audio/mp4", "audio/ogg"), errors=(503,))
def listen_media(call: Call):
    row = _readable(call)
    if not voice.playable(row):
        raise ApiError(404, "not_playable", "这个文件不是能播放的语音")
    etag = voice.etag(row)
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    try:
        body, mime = voice.listen(row)
    except media_store.MediaMissing:
        raise ApiError(404, "media_not_found", "文件已不存在") from None
    except voice.NotPlayable:
        raise ApiError(404, "not_playable", "这段语音放不出来（文件坏了）") from None
    response = Response(body, mimetype=mime)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, max-age=86400"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
