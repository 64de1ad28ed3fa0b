"""Media in object storage (issue 19): with MEDIA_STORE=s3://… every path that writes media
(the mini-program's upload, the H5 photos, the WeChat media job) puts the object in the bucket
— nothing on the local disk — and every path that reads it (mini-program, H5, console) streams
it back through the app. Retention deletes the object. The store unreachable: uploads answer
503 in plain Chinese and nothing is half-stored (no Media row, no event pointing at a missing
object); a WeChat photo waits for the job's retry.

The S3 endpoint is moto in server mode (a real HTTP server, tests/s3_server.py) and the app
uses the real boto3 client; nothing of the store is mocked."""
from __future__ import annotations

import contextlib
import hashlib
import io

import pytest
from rq.registry import ScheduledJobRegistry

from backend import config, links, media
from backend.db import transaction
from backend.media_store import object_name
from backend.models import Attachment, Event, Media, MediaUpload, Resident
from backend.services import retention
from backend.services.context import resident_actor
from backend.services.events import Submission, route_event, submit_event
from tests.factories import make_world
from tests.integration.test_console_fixtures import _ReopeningClient, console_app, give_login, logged_in  # noqa: F401
from tests.mp_client import image_bytes
from tests.mp_fixtures import bind_mp_logins, live  # noqa: F401
from tests.s3_server import PrivateS3, closed_port_settings
from tests.worker_fixtures import worker_settings_installed
from tests.workers_run import drain
from workers.queues import MEDIA, queue

PHOTO = image_bytes("JPEG", size=(320, 240), color=(10, 120, 200))
AMR = b"#!AMR\n" + bytes(range(256)) * 8


@pytest.fixture(scope="module")
def s3():
    server = PrivateS3().start()
    yield server
    server.stop()


@contextlib.contextmanager
def installed(settings):
    """Make ``settings`` the process's (the live app's threads and the test read it)."""
    before = config.current()
    config.install(settings)
    try:
        yield settings
    finally:
        config.install(before)


@pytest.fixture
def on_s3(s3, settings):
    with installed(s3.settings_for(config.current())) as current:
        yield current


@pytest.fixture
def store_down(settings):
    with installed(closed_port_settings(config.current())) as current:
        yield current


@pytest.fixture
def world(sandbox, redis_conn):
    world = make_world()
    bind_mp_logins(world, "worker_a")
    give_login(world.centre, "centre")
    return world


def local_files(settings) -> list[str]:
    root = settings.media_dir
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def in_bucket(s3, sha: str) -> bool:
    return f"media/{object_name(sha)}" in s3.keys()


# ------------------------------------------------------------------ mini-program


def test_a_mini_program_photo_and_voice_go_to_the_bucket_and_come_back_through_the_app(live, world, s3, on_s3):
    before_local = local_files(on_s3)
    resident = live.client()
    resident.login("res-1")
    photo = resident.upload(PHOTO, "p.jpg", "image/jpeg")
    assert photo.status == 201, photo.body
    row = Media.get_by_id(photo.json["id"])
    assert in_bucket(s3, row.sha256) and local_files(on_s3) == before_local  # nothing on this host's disk
    served = resident.get(f"/media/{row.id}")
    assert served.status == 200 and served.body == s3.get(f"media/{object_name(row.sha256)}")
    assert hashlib.sha256(served.body).hexdigest() == row.sha256
    again = resident.request("GET", f"/media/{row.id}", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status == 304 and not again.body

    voice = resident.upload(AMR, "v.amr", "audio/amr")
    assert voice.status == 201 and resident.get(f"/media/{voice.json['id']}").body == AMR
    number = resident.report(*world.in_a, category="0101", media_ids=[row.id]).json["number"]
    assert resident.get(f"/events/{number}").json["media_ids"] == [row.id]

    # the same bytes again: the same object and row, written once
    assert resident.upload(PHOTO, "again.jpg", "image/jpeg").json["id"] == row.id
    assert Media.select().count() == 2 and len(s3.keys()) >= 2


def test_an_unreachable_store_makes_the_upload_a_503_and_stores_nothing(live, world, store_down):
    resident = live.client()
    resident.login("res-1")
    reply = resident.upload(PHOTO, "p.jpg", "image/jpeg")
    assert reply.status == 503
    assert reply.json["error"]["code"] == "media_unavailable"
    assert reply.json["error"]["message"] == "照片和语音暂时存不进去，请稍后再试"
    assert reply.headers["Retry-After"]
    assert Media.select().count() == 0 and MediaUpload.select().count() == 0
    # the report itself still goes in, without the photo that was never stored
    filed = resident.report(*world.in_a, category="0101")
    assert filed.status == 201 and not Attachment.select().exists()


def test_a_photo_whose_object_is_gone_is_a_404_and_a_store_that_is_away_a_503(live, world, s3, on_s3, settings):
    resident = live.client()
    resident.login("res-1")
    row = Media.get_by_id(resident.upload(PHOTO, "p.jpg", "image/jpeg").json["id"])
    s3.client().delete_object(Bucket=s3.bucket, Key=f"media/{object_name(row.sha256)}")
    assert resident.get(f"/media/{row.id}").status == 404
    with installed(closed_port_settings(on_s3)):
        away = resident.get(f"/media/{row.id}")
        assert away.status == 503 and away.json["error"]["message"] == "照片和语音暂时打不开，请稍后再试"
    # storing the same bytes again heals the row: put is idempotent, the object comes back
    assert resident.upload(PHOTO, "p.jpg", "image/jpeg").json["id"] == row.id
    assert resident.get(f"/media/{row.id}").status == 200


# ------------------------------------------------------------------ H5 pages and the console


def _h5_act(client, url, action, files=(), note=""):
    data = {"action": action, "note": note}
    if files:
        data["photo"] = [(io.BytesIO(body), name) for name, body in files]
    number = url.split("/m/events/")[1].split("?")[0]
    token = url.split("t=", 1)[1]
    return client.post(f"/m/events/{number}/act?t={token}", data=data, content_type="multipart/form-data")


def _task(world):
    reporter = Resident.create(oa_openid="oa-reporter")
    event = submit_event(Submission(description="楼下垃圾好几天没人清了", reporter=resident_actor(reporter),
                                    lat=world.in_a[0], lng=world.in_a[1], category_code="0101")).event
    return route_event(event.id)


def test_an_h5_photo_goes_to_the_bucket_and_is_shown_on_the_page_and_in_the_console(console_app, world, s3, on_s3):
    client = _ReopeningClient(console_app.test_client())
    task = _task(world)
    url = links.event_link(task, staff=world.worker_a)
    assert _h5_act(client, url, "accept").status_code == 303
    response = _h5_act(client, url, "resolve", files=[("x.jpg", PHOTO)], note="已清运")
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    [row] = Media.select()
    assert in_bucket(s3, row.sha256)
    number, token = task.number, url.split("t=", 1)[1]
    page = client.get(f"/m/events/{number}/photos/{row.id}?t={token}")
    assert page.status_code == 200 and hashlib.sha256(page.get_data()).hexdigest() == row.sha256
    console = logged_in(console_app, "centre").get(f"/console/media/{row.id}")
    assert console.status_code == 200 and console.get_data() == page.get_data()
    assert console.headers["ETag"] == f'"{row.sha256}"'
    from tests.integration.test_console_events import amr_bytes

    note = media.store_bytes(amr_bytes(), "audio/amr", "voice")  # a resident's voice note, in the bucket too
    Attachment.create(event=task, media=note, step=task.steps.first())
    centre = logged_in(console_app, "centre")
    assert centre.get(f"/console/media/{note.id}/listen").mimetype == "audio/wav"
    with installed(closed_port_settings(on_s3)):  # the store away: a page in Chinese, not a 500
        away = client.get(f"/m/events/{number}/photos/{row.id}?t={token}")
        assert away.status_code == 503 and "照片暂时打不开" in away.get_data(as_text=True)
        assert client.get(f"/m/events/{number}/voices/{note.id}?t={token}").status_code == 503
        for path in (f"/console/media/{row.id}", f"/console/media/{note.id}/listen"):
            away = centre.get(path)
            assert away.status_code == 503 and "暂时取不出来" in away.get_data(as_text=True), path


def test_an_unreachable_store_refuses_the_h5_resolve_and_nothing_is_done(console_app, world, store_down):
    client = _ReopeningClient(console_app.test_client())
    task = _task(world)
    url = links.event_link(task, staff=world.worker_a)
    _h5_act(client, url, "accept")
    response = _h5_act(client, url, "resolve", files=[("x.jpg", PHOTO)], note="已清运")
    body = response.get_data(as_text=True)
    assert response.status_code == 503 and "照片和语音暂时存不进去，请稍后再试" in body and "已清运" in body
    assert Media.select().count() == 0 and Attachment.select().count() == 0
    assert Event.get_by_id(task.id).status == "processing"  # not resolved without its photo


def test_an_unreachable_store_refuses_the_poster_report_with_photos(console_app, world, store_down):
    from backend.models import Building, BuildingUnit

    building = Building.create(area=world.grid_a, name="3号楼", address="金源小区3号楼", lat=24.5052, lng=117.6452)
    unit = BuildingUnit.create(building=building, name="2单元", qr_token="posterTOKEN-3-2")
    client = _ReopeningClient(console_app.test_client())
    form = client.get(f"/q/{unit.qr_token}").get_data(as_text=True)
    key = form.split('name="client_key" value="')[1].split('"')[0]
    response = client.post(f"/q/{unit.qr_token}", content_type="multipart/form-data", data={
        "description": "楼道里堆满了纸箱", "client_key": key, "photo": [(io.BytesIO(PHOTO), "p.jpg")]})
    body = response.get_data(as_text=True)
    assert response.status_code == 503 and "暂时存不进去" in body and "楼道里堆满了纸箱" in body
    assert Event.select().count() == 0 and Media.select().count() == 0


# ------------------------------------------------------------------ the WeChat media job


def _chat_report_with_photo(sandbox, redis_conn):
    """A chat report with a WeChat photo, filed and drained through the workers: (world, its attachment)."""
    world = make_world()
    reporter = Resident.create(oa_openid="oa-resident-1")
    media_id = sandbox.register_media(PHOTO, "image/jpeg")
    event = submit_event(Submission(description="路灯坏了", reporter=resident_actor(reporter), lat=world.in_a[0],
                                    lng=world.in_a[1], category_code="0101", wechat_media_ids=[media_id])).event
    drain(redis_conn)
    [attachment] = Attachment.select().where(Attachment.event == event.id)
    return world, attachment


def test_a_wechat_photo_is_stored_in_the_bucket_by_the_job(console_app, sandbox, s3, settings, redis_conn):
    with worker_settings_installed(s3.settings_for(sandbox.settings.with_overrides(quiet_hours="off")), settings):
        world, attachment = _chat_report_with_photo(sandbox, redis_conn)
        assert attachment.media is not None and in_bucket(s3, attachment.media.sha256)
        assert media.read_bytes(attachment.media)[:3] == b"\xff\xd8\xff"
        give_login(world.centre, "centre")
        served = logged_in(console_app, "centre").get(f"/console/media/{attachment.media_id}")
        assert served.status_code == 200 and hashlib.sha256(served.get_data()).hexdigest() == attachment.media.sha256


def test_a_wechat_photo_waits_for_a_retry_while_the_store_is_away(sandbox, settings, redis_conn):
    down = closed_port_settings(sandbox.settings.with_overrides(quiet_hours="off"))
    with worker_settings_installed(down, settings):
        _world, attachment = _chat_report_with_photo(sandbox, redis_conn)
        assert attachment.media is None and Media.select().count() == 0  # nothing points at a missing object
        assert ScheduledJobRegistry(queue=queue(MEDIA, redis_conn)).count == 1  # RQ will try again


# ------------------------------------------------------------------ retention


def test_retention_deletes_the_object_from_the_bucket(console_app, world, s3, on_s3):
    photo = media.store_bytes(PHOTO, "image/jpeg")
    event = _task(world)
    Attachment.create(event=event, media=photo)
    assert in_bucket(s3, photo.sha256)
    with transaction():
        done = retention.anonymise_event(Event.get_by_id(event.id))
    retention.delete_files(done)
    assert done.media_shas == [photo.sha256] and not in_bucket(s3, photo.sha256)
    assert not Media.select().where(Media.sha256 == photo.sha256).exists()


def test_an_object_retention_could_not_delete_is_deleted_by_the_workers_later(sandbox, s3, settings, redis_conn):
    """The store away during the sweep: the rows go, the object is handed to the workers
    (a ``media.delete`` outbox fact) and deleted once the store answers — never silently kept."""
    from backend.models import OutboxMessage
    from workers import jobs

    on_bucket = s3.settings_for(sandbox.settings.with_overrides(quiet_hours="off"))
    with installed(on_bucket):
        world = make_world()
        photo = media.store_bytes(PHOTO, "image/jpeg")
        event = _task(world)
        Attachment.create(event=event, media=photo)
    with installed(closed_port_settings(on_bucket)):
        with transaction():
            done = retention.anonymise_event(Event.get_by_id(event.id))
        retention.delete_files(done)
    assert in_bucket(s3, photo.sha256)  # still there: the store did not answer
    [fact] = OutboxMessage.select().where(OutboxMessage.topic == retention.MEDIA_DELETE_TOPIC)
    assert fact.payload == {"sha256": photo.sha256}
    with worker_settings_installed(on_bucket, settings):
        jobs.sweep_outbox()
        drain(redis_conn)
    assert not in_bucket(s3, photo.sha256)
    assert OutboxMessage.get_by_id(fact.id).processed_at is not None


def test_an_object_uploaded_again_after_anonymisation_is_not_deleted(console_app, world, s3, on_s3):
    photo = media.store_bytes(PHOTO, "image/jpeg")
    event = _task(world)
    Attachment.create(event=event, media=photo)
    with transaction():
        done = retention.anonymise_event(Event.get_by_id(event.id))
    again = media.store_bytes(PHOTO, "image/jpeg")  # someone sends the same photo before the delete
    retention.delete_files(done)
    assert in_bucket(s3, again.sha256) and media.read_bytes(again)
