"""Faults and bad input: Redis down at submit, vanished ids, malformed outbox payloads,
media that is not what it claims, the failed registry and `jobs failed|retry`."""
from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import Image
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry

from backend import config
from backend.media import media_path
from backend.models import Attachment, Event, Notification, OutboxMessage, Resident
from backend.services.context import resident_actor
from backend.services.events import Submission, submit_event
from tests.mp_client import image_bytes
from tests.factories import make_world
from tests.worker_fixtures import env  # noqa: F401
from workers import cli, jobs, relay
from workers.queues import ALL_QUEUES, MEDIA, ROUTE, enqueue, queue
from tests.workers_run import drain, wait_for


@pytest.fixture
def world(env):
    return make_world()


@pytest.fixture
def resident():
    return Resident.create(oa_openid="oa-resident-1")


def report(resident, point, **kw):
    return submit_event(Submission(description="路灯坏了好几天", reporter=resident_actor(resident),
                                   lat=point[0], lng=point[1], category_code="0101", **kw)).event


# ---------------------------------------------------------------- Redis stopped at submit
def test_redis_down_at_submit_loses_nothing_and_sends_each_notice_once(sandbox, settings, private_redis):
    worker_settings = config.install(sandbox.settings.with_overrides(redis_url=private_redis.url,
                                                                      quiet_hours="off"))
    current = relay.install_relay(worker_settings)
    try:
        world = make_world()
        resident = Resident.create(oa_openid="oa-resident-1")
        private_redis.stop()
        started = time.monotonic()
        numbers = [report(resident, world.in_a if i % 2 else world.in_b).number for i in range(100)]
        elapsed = time.monotonic() - started
        assert len(set(numbers)) == 100 and Event.select().count() == 100  # every report accepted
        assert OutboxMessage.select().where(OutboxMessage.enqueued_at.is_null()).count() == 100
        assert elapsed < 30, f"reports waited on the dead Redis ({elapsed:.1f}s for 100)"
        private_redis.start()  # Redis is back (empty: it had nothing to keep)
        connection = current.connection
        assert jobs.sweep_outbox() == 100
        drain(connection)
        calls = [c for c in sandbox.calls("message/template/send") if c["errcode"] == 0]
        assert len(calls) == 100
        keys = [c["body"]["client_msg_id"] for c in calls]
        assert len(set(keys)) == 100  # none twice
        assert Notification.select().where(Notification.status == "sent").count() == 100
        assert jobs.sweep_outbox() == 0 and jobs.sweep_notifications()["enqueued"] == 0
        drain(connection)
        assert len(sandbox.calls("message/template/send")) == 100
    finally:
        relay.uninstall_relay()
        config.install(settings)


# ---------------------------------------------------------------- a web process's rows left behind
def test_a_web_relay_enqueues_the_rows_it_left_behind_once_redis_is_back(sandbox, settings, private_redis,
                                                                         monkeypatch):
    """A web process has no sweep: rows it could not enqueue (Redis restarting, a Sentinel
    failover) are retried on a timer, so their notices go out seconds after Redis is back."""
    monkeypatch.setattr(relay, "RETRY_LEFT_AFTER", (0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3))
    monkeypatch.setattr(relay, "BREAKER_SECONDS", 0.2)
    worker_settings = config.install(sandbox.settings.with_overrides(redis_url=private_redis.url,
                                                                      quiet_hours="off"))
    web = relay.install_relay(worker_settings, retry_left=True)
    try:
        world = make_world()
        resident = Resident.create(oa_openid="oa-resident-1")
        private_redis.stop()
        numbers = [report(resident, world.in_a).number for _ in range(3)]
        left = {row.id for row in OutboxMessage.select().where(OutboxMessage.enqueued_at.is_null())}
        assert len(left) == 3 and web.pending_retry() == left
        time.sleep(1.0)  # a few retries while Redis is still down: nothing enqueued, nothing lost
        assert OutboxMessage.select().where(OutboxMessage.enqueued_at.is_null()).count() == 3
        assert web.pending_retry() == left
        private_redis.start()
        wait_for(lambda: OutboxMessage.select().where(OutboxMessage.enqueued_at.is_null()).count() == 0,
                 timeout=10, interval=0.1)
        wait_for(lambda: not web.pending_retry(), timeout=5, interval=0.1)
        assert [row.attempts for row in OutboxMessage.select()] == [1, 1, 1]  # enqueued once each
        assert jobs.sweep_outbox() == 0  # nothing left for the scheduler
        drain(web.connection)
        for number in numbers:
            recipients = [c["body"]["touser"] for c in sandbox.calls("message/template/send")
                          if c["errcode"] == 0 and number in str(c["body"])]
            assert len(recipients) == 1 and recipients[0] in {world.worker_a.oa_openid, world.worker_a2.oa_openid}
    finally:
        relay.uninstall_relay()
        config.install(settings)


def test_a_web_relay_gives_up_after_its_retries_and_other_relays_leave_rows_to_the_sweep(
        sandbox, settings, private_redis, monkeypatch):
    monkeypatch.setattr(relay, "RETRY_LEFT_AFTER", (0.2, 0.2))
    worker_settings = config.install(sandbox.settings.with_overrides(redis_url=private_redis.url))
    try:
        world = make_world()
        resident = Resident.create(oa_openid="oa-resident-1")
        private_redis.stop()
        relay.install_relay(worker_settings)  # a worker's or the CLI's: no timer, its sweep does it
        report(resident, world.in_a)
        assert relay.installed().pending_retry() == set()
        web = relay.install_relay(worker_settings, retry_left=True)
        report(resident, world.in_b)
        assert len(web.pending_retry()) == 1
        wait_for(lambda: not web.pending_retry(), timeout=5, interval=0.05)  # both retries failed
        private_redis.start()
        time.sleep(0.5)
        assert OutboxMessage.select().where(OutboxMessage.enqueued_at.is_null()).count() == 2  # the sweep's now
        assert jobs.sweep_outbox() == 2
    finally:
        relay.uninstall_relay()
        config.install(settings)


# ---------------------------------------------------------------- vanished ids
def test_jobs_for_ids_that_no_longer_exist_finish_cleanly_with_a_log_line(env, redis_conn, caplog):
    caplog.set_level("INFO")
    missing = 987654
    kinds = [("outbox", (missing,)), ("notify", (missing,)), ("template", (missing,)), ("sms", (missing,)),
             ("custom", (missing,)), ("subscribe", (missing,)), ("media", (missing,)),
             ("webhook", (missing, missing))]
    enqueued = [enqueue(redis_conn, kind, *args) for kind, args in kinds]
    drain(redis_conn)
    for job in enqueued:
        job.refresh()
        assert job.get_status() == "finished", (job.func_name, job.get_status())
        assert job.return_value() == "missing" or job.return_value() == 0
    lines = [r.getMessage() for r in caplog.records if "no longer exists" in r.getMessage()]
    assert len(lines) == len(kinds)
    assert all(line.startswith("[job ") for line in lines)


# ---------------------------------------------------------------- malformed outbox rows
def test_malformed_outbox_payload_goes_to_the_failed_registry_once(env, world, redis_conn):
    bad = OutboxMessage.create(topic="event.submitted", payload={"event_id": "not-a-number"})
    enqueue(redis_conn, "outbox", bad.id)
    drain(redis_conn)
    failed = FailedJobRegistry(queue=queue(ROUTE, redis_conn))
    assert failed.count == 1
    assert ScheduledJobRegistry(queue=queue(ROUTE, redis_conn)).count == 0  # no retry scheduled
    bad = OutboxMessage.get_by_id(bad.id)
    assert bad.error == "malformed: payload has no integer event_id"
    assert jobs.sweep_outbox() == 0  # the sweep does not loop it back
    [item] = cli.failed_jobs(redis_conn)
    assert item["func"] == "workers.jobs.process_outbox" and "payload has no integer event_id" in item["reason"]
    out = io.StringIO()
    assert cli.run(env, "failed", out=out) == 0
    assert "payload has no integer event_id" in out.getvalue() and "1 failed job(s)" in out.getvalue()


def test_failed_jobs_can_be_retried_from_the_cli(env, world, resident, redis_conn):
    event = report(resident, world.in_a)
    drain(redis_conn)
    row = OutboxMessage.create(topic="event.comment", payload=[event.id])  # not an object
    job = enqueue(redis_conn, "outbox", row.id)
    drain(redis_conn)
    assert [j["id"] for j in cli.failed_jobs(redis_conn)] == [job.id]
    # an operator repairs the row, then re-runs the job
    OutboxMessage.update(payload={"event_id": event.id, "number": event.number}, error=None,
                         processed_at=None).where(OutboxMessage.id == row.id).execute()
    out = io.StringIO()
    assert cli.run(env, "retry", [job.id], out=out) == 0
    assert f"requeued {job.id}" in out.getvalue()
    drain(redis_conn)
    assert cli.failed_jobs(redis_conn) == []
    assert OutboxMessage.get_by_id(row.id).processed_at is not None
    assert cli.run(env, "retry", ["no-such-job"], out=io.StringIO()) == 1


# ---------------------------------------------------------------- media
def png_bytes(width=2, height=2) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_wechat_media_is_downloaded_checked_and_attached(env, world, resident, sandbox, redis_conn):
    image = png_bytes()
    media_id = sandbox.register_media(image, "image/png")
    event = report(resident, world.in_a, wechat_media_ids=[media_id])
    drain(redis_conn)
    [attachment] = Attachment.select().where(Attachment.event == event.id)
    assert attachment.media is not None and attachment.media.mime == "image/png"
    stored = Image.open(io.BytesIO(media_path(attachment.media.sha256, env.media_dir).read_bytes()))
    assert stored.size == (2, 2) and stored.convert("RGB").getpixel((0, 0)) == (255, 0, 0)
    assert FinishedJobRegistry(queue=queue(MEDIA, redis_conn)).count == 1


def test_a_chat_photo_is_stored_without_its_gps(env, world, resident, sandbox, redis_conn):
    """DESIGN §11: the photo a resident sends in chat must not tell where they live."""
    gps = {0x0112: 6, 0x010F: "SecretCam", 0x8825: {1: "N", 2: (24.0, 30.0, 18.0), 3: "E", 4: (117.0, 39.0, 1.0)}}
    photo = image_bytes("JPEG", exif=gps)
    assert Image.open(io.BytesIO(photo)).getexif().get(0x8825)  # the test photo does carry GPS
    media_id = sandbox.register_media(photo, "image/jpeg")
    event = report(resident, world.in_a, wechat_media_ids=[media_id])
    drain(redis_conn)
    [attachment] = Attachment.select().where(Attachment.event == event.id)
    stored = media_path(attachment.media.sha256, env.media_dir).read_bytes()
    assert dict(Image.open(io.BytesIO(stored)).getexif()) == {0x0112: 6}
    assert b"SecretCam" not in stored


def test_fake_image_is_refused_without_retry(env, world, resident, sandbox, redis_conn):
    media_id = sandbox.register_media(b"\xff\xd8\xff<?php system($_GET['c']); ?>", "image/jpeg")
    event = report(resident, world.in_a, wechat_media_ids=[media_id])
    drain(redis_conn)
    [attachment] = Attachment.select().where(Attachment.event == event.id)
    assert attachment.media is None
    failed = FailedJobRegistry(queue=queue(MEDIA, redis_conn))
    assert failed.count == 1 and ScheduledJobRegistry(queue=queue(MEDIA, redis_conn)).count == 0
    [item] = cli.failed_jobs(redis_conn, MEDIA)
    assert "JPEG" in item["reason"]
    assert Event.get_by_id(event.id).status == "assigned"  # the report itself went on regardless


def test_a_download_redis_lost_is_fetched_by_the_media_sweep(env, world, resident, sandbox, redis_conn):
    """Redis lost the ``download_media`` job after its outbox row was stamped processed (a
    restart, a failover): the minute sweep asks again, once, within WeChat's 3 days."""
    import datetime as dt

    from rq.job import Job

    from backend import clock
    from workers import media

    lost_id = sandbox.register_media(png_bytes(), "image/png")
    fake_id = sandbox.register_media(b"\xff\xd8\xff not a photo", "image/jpeg")
    lost = report(resident, world.in_a, wechat_media_ids=[lost_id])
    fake = report(resident, world.in_b, wechat_media_ids=[fake_id])
    drain(redis_conn, queues=[q for q in ALL_QUEUES if q != MEDIA])  # every row handled, no download yet
    assert OutboxMessage.select().where(OutboxMessage.processed_at.is_null()).count() == 0
    [photo] = Attachment.select().where(Attachment.event == lost.id)
    Job.fetch(media.job_id(photo.id), connection=redis_conn).delete()  # what the dead primary took with it
    drain(redis_conn, queues=[MEDIA])  # the fake one fails for good, into the failed registry
    old = Attachment.create(event=fake, wechat_media_id="expired-long-ago",
                            created_at=clock.now() - dt.timedelta(days=3, minutes=1))
    assert Attachment.get_by_id(photo.id).media is None
    assert media.sweep() == 0  # too fresh: the handler's own job may still be on its way
    with clock.frozen(clock.now() + dt.timedelta(minutes=3)):
        assert media.sweep() == 1  # the lost one; not the failed fake, not the one WeChat forgot
        assert media.sweep() == 0  # its job is queued now: once
    drain(redis_conn, queues=[MEDIA])
    stored = Attachment.get_by_id(photo.id).media
    assert stored is not None and stored.mime == "image/png"
    with clock.frozen(clock.now() + dt.timedelta(minutes=3)):
        assert media.sweep() == 0
    assert len(sandbox.calls("media/get")) == 2  # the photo once, the fake once; never the expired id
    db_reconnect()  # a sweep, like any job, closes the connection it opened
    assert Attachment.get_by_id(old.id).media is None


# ---------------------------------------------------------------- claims left by a dead worker
def test_orphaned_claims_are_never_sent_twice(env, world, sandbox, redis_conn):
    from workers import channels, delivery, sending
    from tests.workers_run import set_staff_phone

    set_staff_phone(world.worker_a, "13800000001", env.field_key)
    world.worker_a.oa_openid = None  # SMS only
    world.worker_a.save()
    world.worker_a2.active = False
    world.worker_a2.save()
    event = report(Resident.create(), world.in_a)
    jobs.route(event.id)  # in-process, step by step: route, then plan the SMS (its send job waits in Redis)
    db_reconnect()
    route_row = OutboxMessage.get(OutboxMessage.topic == "event.route")
    assert jobs.notify(route_row.id) == 1
    db_reconnect()
    [row] = Notification.select()
    assert delivery.claim(row)  # a worker took it … and died before marking it
    assert sending.send_sms(row.id) == "claimed"  # a second job does not touch a live claim
    db_reconnect()
    assert delivery.recover_stale(redis_conn) == {"resent": 0, "unknown": 0}  # too fresh to judge
    assert delivery.recover_stale(redis_conn, stale_after=delivery.dt.timedelta(0)) == {"resent": 0, "unknown": 1}
    row = Notification.get_by_id(row.id)
    assert row.status == "unknown" and "not resent" in row.error
    assert channels.recent_alerts(redis_conn)[0]["kind"] == "delivery_unknown"
    drain(redis_conn)  # the SMS job queued before the "crash" runs now: it must not send
    row = Notification.get_by_id(row.id)
    assert row.status == "unknown" and row.sent_at is None


def db_reconnect():
    from backend.db import db

    db.connect(reuse_if_open=True)


# ---------------------------------------------------------------- Redis gone between a job and the next
def test_a_worker_waits_for_redis_to_record_its_state_instead_of_quitting(private_redis, monkeypatch):
    """RQ sets the worker's state after every job, outside its reconnect loop: a primary lost at
    that moment made the worker quit. It now waits for Redis (a failover takes seconds)."""
    import threading

    import redis

    from workers import runner

    monkeypatch.setattr(runner, "BOOKKEEPING_PATIENCE_SECONDS", 20.0)
    connection = redis.Redis.from_url(private_redis.url)
    worker = runner.DrainingSimpleWorker([queue(MEDIA, connection)], connection=connection)
    worker.set_state("idle")
    assert connection.hget(worker.key, "state") == b"idle"
    private_redis.stop()
    restart = threading.Timer(1.5, private_redis.start)  # the new primary, empty
    restart.start()
    started = time.monotonic()
    try:
        worker.set_state("busy")  # raised ConnectionError before: RQ's loop then quit the worker
    finally:
        restart.join()
    assert 1.0 < time.monotonic() - started < 15
    assert connection.hget(worker.key, "state") == b"busy"
    monkeypatch.setattr(runner, "BOOKKEEPING_PATIENCE_SECONDS", 0.5)
    private_redis.stop()
    with pytest.raises(redis.exceptions.ConnectionError):  # Redis gone for good: exit, systemd restarts
        worker.set_state("idle")
