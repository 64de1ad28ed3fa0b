"""Uploads: real images only, metadata stripped, size limits, voice by magic bytes, who may read."""
from __future__ import annotations

import datetime as dt
import io
import os

import pytest
from PIL import Image, PngImagePlugin

from backend import clock, config
from backend.models import Media, MediaUpload
from backend.services import actions, uploads
from backend.services.context import staff_actor
from backend.services.events import route_event
from backend.models import Event
from miniprogram_api.media import IMAGE_LIMIT, VOICE_LIMIT
from tests.mp_client import image_bytes
from tests.factories import make_world
from tests.mp_fixtures import bind_mp_logins, live  # noqa: F401

GPS_IFD, ORIENTATION, MAKE = 0x8825, 0x0112, 0x010F


@pytest.fixture
def world(sandbox, redis_conn):
    world = make_world()
    bind_mp_logins(world, "worker_a", "other_worker")
    return world


@pytest.fixture
def resident(live, world):
    client = live.client()
    client.login("res-1")
    return client


def stored_files() -> set[str]:
    root = config.current().media_dir
    return {name for _, _, names in os.walk(root) for name in names} if root.exists() else set()


def test_jpeg_keeps_only_orientation(resident):
    exif = {ORIENTATION: 6, MAKE: "SecretCam", GPS_IFD: {1: "N", 2: (24.0, 30.0, 18.0)}}
    body = image_bytes("JPEG", exif=exif, comment=b"my address is 3-201", xmp=b"<x:xmpmeta>xmp-secret</x:xmpmeta>")
    reply = resident.upload(body, "IMG_0001.jpg")
    assert reply.status == 201 and reply.json["kind"] == "image" and reply.json["mime"] == "image/jpeg"
    download = resident.get(f"/media/{reply.json['id']}")
    assert download.status == 200 and download.headers["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(download.body))
    assert dict(image.getexif()) == {ORIENTATION: 6}
    for secret in (b"SecretCam", b"3-201", b"xmp-secret"):
        assert secret not in download.body


def test_png_and_webp_lose_their_metadata(resident):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "GPS 24.5,117.6")
    png = image_bytes("PNG", pnginfo=info, exif={MAKE: "SecretCam"})
    reply = resident.upload(png, "shot.png", "image/png")
    assert reply.status == 201 and reply.json["mime"] == "image/png"
    body = resident.get(f"/media/{reply.json['id']}").body
    assert b"GPS 24.5" not in body and b"SecretCam" not in body and Image.open(io.BytesIO(body)).size == (64, 48)
    webp = image_bytes("WEBP", exif={MAKE: "SecretCam", ORIENTATION: 3})
    reply = resident.upload(webp, "shot.webp", "image/webp")
    assert reply.status == 201 and reply.json["mime"] == "image/webp"
    image = Image.open(io.BytesIO(resident.get(f"/media/{reply.json['id']}").body))
    assert dict(image.getexif()) == {ORIENTATION: 3}


def _bomb() -> bytes:
    """60 megapixels of one colour: a few kB compressed, 60 M pixels to decode."""
    out = io.BytesIO()
    Image.new("1", (10000, 6000)).save(out, format="PNG", optimize=True)
    return out.getvalue()


@pytest.mark.parametrize("name, body, status, code", [
    ("text.jpg", "这不是图片，只是一段文字".encode() * 10, 400, "not_an_image"),
    ("truncated.jpg", image_bytes("JPEG", size=(400, 300))[:600], 400, "broken_image"),
    ("gif.jpg", image_bytes("GIF"), 400, "not_an_image"),
    ("bomb.png", None, 400, "image_too_large"),
    ("huge.jpg", b"\xff\xd8\xff" + b"0" * IMAGE_LIMIT, 413, "file_too_large"),
    ("huger.jpg", b"\xff\xd8\xff" + b"0" * (IMAGE_LIMIT + 200_000), 413, "too_large"),
    ("long.amr", b"#!AMR\n" + b"\x3c" * VOICE_LIMIT, 413, "file_too_large"),
    ("empty.jpg", b"", 400, "empty_file"),
])
def test_bad_uploads_are_refused_and_nothing_is_stored(resident, name, body, status, code):
    body = _bomb() if body is None else body
    files_before = stored_files()
    reply = resident.upload(body, name)
    assert reply.status == status and reply.error_code == code, reply
    assert Media.select().count() == 0 and stored_files() == files_before


def test_upload_request_shape(resident):
    assert resident.post("/media", {"file": "x"}).status == 415
    two = resident.request("POST", "/media", files={"file": ("a.jpg", image_bytes(), "image/jpeg"),
                                                    "other": ("b.jpg", image_bytes(), "image/jpeg")})
    assert two.status == 400 and two.error_code == "unknown_fields"
    none = resident.request("POST", "/media", files={"photo": ("a.jpg", image_bytes(), "image/jpeg")})
    assert none.status == 400
    assert resident.as_(None).upload(image_bytes()).status == 401
    assert Media.select().count() == 0


@pytest.mark.parametrize("name, head, mime", [
    ("a.amr", b"#!AMR\n", "audio/amr"),
    ("a.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
    ("b.mp3", b"\xff\xfb\x90\x64", "audio/mpeg"),
    ("a.m4a", b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
])
def test_voice_is_recognised_by_magic_bytes(resident, name, head, mime):
    reply = resident.upload(head + os.urandom(2000), name, "application/octet-stream")
    assert reply.status == 201 and reply.json == {**reply.json, "kind": "voice", "mime": mime}


def test_only_the_uploader_or_those_who_see_the_event_may_read_or_attach(live, resident, world):
    photo = resident.upload(image_bytes(color=(1, 2, 3))).json["id"]
    stranger = live.client()
    stranger.login("res-2")
    assert stranger.get(f"/media/{photo}").status == 404
    assert stranger.report(*world.in_a, media_ids=[photo]).error_code == "unknown_media"
    assert stranger.get("/media/999999").status == 404
    number = resident.report(*world.in_a, category="0101", media_ids=[photo]).json["number"]
    assert resident.get(f"/events/{number}").json["media_ids"] == [photo]
    route_event(Event.get(Event.number == number).id)
    worker = live.client()
    worker.login("worker_a")
    assert worker.get(f"/media/{photo}").status == 200  # the grid worker sees the event
    outsider = live.client()
    outsider.login("other_worker")
    assert outsider.get(f"/media/{photo}").status == 404


def test_resolve_with_photos_uploaded_by_the_worker(live, resident, world):
    number = resident.report(*world.in_a, category="0101").json["number"]
    route_event(Event.get(Event.number == number).id)
    actions.perform(number, staff_actor(world.worker_a), "accept")
    worker = live.client()
    worker.login("worker_a")
    no_photo = worker.post(f"/events/{number}/actions/resolve", {"note": "已清理"})
    assert no_photo.status == 400 and no_photo.error_code == "photo_required"
    residents_photo = resident.upload(image_bytes(color=(9, 9, 9))).json["id"]
    assert worker.post(f"/events/{number}/actions/resolve",
                       {"note": "已清理", "media_ids": [residents_photo]}).error_code == "unknown_media"
    photo = worker.upload(image_bytes(color=(5, 5, 5))).json["id"]
    done = worker.post(f"/events/{number}/actions/resolve", {"note": "已清理", "media_ids": [photo]})
    assert done.status == 200 and done.json["status"] == "closed"
    assert done.json["trajectory"][-1]["media_ids"] == [photo]
    assert resident.get(f"/media/{photo}").status == 200  # the reporter sees the result photo


def test_upload_receipts_are_in_the_database_and_last_a_day(live, resident, world, redis_conn):
    photo = resident.upload(image_bytes(color=(7, 7, 7))).json["id"]
    redis_conn.flushdb()  # Redis restarted empty: the receipt is not there
    number = resident.report(*world.in_a, category="0101", media_ids=[photo]).json["number"]
    assert resident.get(f"/events/{number}").json["media_ids"] == [photo]
    late = resident.upload(image_bytes(color=(8, 8, 8))).json["id"]
    with clock.frozen(clock.now() + uploads.VALID_FOR + dt.timedelta(minutes=1)):
        assert resident.report(*world.in_b, category="0101", media_ids=[late]).error_code == "unknown_media"
        assert uploads.forget_uploads(clock.now() - uploads.VALID_FOR) == 2  # what sweeps.forget_expired runs
    assert MediaUpload.select().count() == 0


def test_a_voice_note_plays_on_any_phone(live, resident, world):
    """iOS plays no AMR: /media/<id>/listen gives the mini-program WAV, to those who may read it."""
    import wave

    from tests.integration.test_console_events import amr_bytes

    note = resident.upload(amr_bytes(50), "voice.amr", "application/octet-stream").json["id"]
    number = resident.report(*world.in_a, category="0201", description="邻居吵架（语音）", media_ids=[note]).json["number"]
    route_event(Event.get(Event.number == number).id)
    [step] = resident.get(f"/events/{number}").json["trajectory"][:1]
    assert (step["voice_ids"], step["photo_ids"], step["media_ids"]) == ([note], [], [note])  # no broken picture
    heard = resident.get(f"/media/{note}/listen")
    assert heard.status == 200 and heard.headers["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(heard.body)) as wav:
        assert (wav.getframerate(), wav.getnframes()) == (8000, 50 * 160)
    worker = live.client()
    worker.login("worker_a")
    assert worker.get(f"/media/{note}/listen").status == 200  # the grid worker sees the event
    outsider = live.client()
    outsider.login("other_worker")
    assert outsider.get(f"/media/{note}/listen").status == 404
    photo = resident.upload(image_bytes(color=(4, 4, 4))).json["id"]
    assert resident.get(f"/media/{photo}/listen").error_code == "not_playable"
    broken = resident.upload(b"#!AMR\n" + b"not a frame" * 8, "b.amr", "application/octet-stream").json["id"]
    assert resident.get(f"/media/{broken}/listen").error_code == "not_playable"
