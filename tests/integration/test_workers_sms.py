"""SMS through the Tencent Cloud SDK to the sandbox's SendSms stand-in over HTTP (the
stand-in checks the TC3-HMAC-SHA256 signature), and the console provider."""
from __future__ import annotations

import json

import pytest
import requests

from backend import config
from backend.models import Notification, Resident
from backend.services.context import resident_actor
from backend.services.events import Submission, submit_event
from tests.factories import make_world
from sandbox.extras import tencent_sms
from tests.worker_fixtures import worker_settings_installed
from workers import channels
from workers.sms import SmsError, SmsMessage
from workers.sms.tencent import TencentSms
from tests.workers_run import drain, promote_scheduled, set_staff_phone

PHONE = "13800138000"


def tencent_settings(base, url, **extra):
    values = {"SMS_TENCENT_ENDPOINT": url.removeprefix("http://"), "SMS_TENCENT_SCHEME": "http",
              "SMS_TENCENT_SECRET_ID": tencent_sms.SANDBOX_SECRET_ID,
              "SMS_TENCENT_SECRET_KEY": tencent_sms.SANDBOX_SECRET_KEY,
              "SMS_TENCENT_SDK_APP_ID": "1400123456", "SMS_TENCENT_TEMPLATES": "task=2001,urgent=2002,remind=2005"}
    values.update(extra)
    return base.with_overrides(sms_provider="tencent", quiet_hours="off", extra=values)


@pytest.fixture
def env(sandbox, redis_conn, settings):
    with worker_settings_installed(tencent_settings(sandbox.settings, sandbox.url), settings) as installed:
        yield installed


@pytest.fixture
def world(env):
    world = make_world()
    for person in (world.worker_a, world.worker_a2):
        person.oa_openid = None  # not following the account: SMS is the channel
        person.save()
        set_staff_phone(person, PHONE, env.field_key)
    return world


def report(world, code="0101"):
    return submit_event(Submission(description="井盖丢了", reporter=resident_actor(Resident.create()),
                                   lat=world.in_a[0], lng=world.in_a[1], category_code=code)).event


def test_sms_goes_through_the_tencent_sdk_signed_and_recorded(env, world, sandbox, redis_conn):
    event = report(world)
    drain(redis_conn)
    [call] = sandbox.calls("tencent/SendSms")
    assert call["errcode"] == 0
    body = call["body"]
    assert body["PhoneNumberSet"] == [f"+86{PHONE}"] and body["TemplateId"] == "2001"
    assert body["SmsSdkAppId"] == "1400123456" and body["TemplateParamSet"][0] == event.number
    [row] = Notification.select().where(Notification.channel == "sms")
    assert row.status == "sent" and body["SessionContext"] == row.key
    assert row.payload["result"]["serial_no"].startswith("sbx:")
    assert PHONE not in json.dumps(row.payload)  # the number is never stored in clear


def test_the_stand_in_refuses_a_wrong_key_and_the_channel_alerts(env, world, sandbox, redis_conn):
    config.install(tencent_settings(sandbox.settings, sandbox.url, SMS_TENCENT_SECRET_KEY="not-the-right-key"))
    report(world)
    drain(redis_conn)
    [call] = sandbox.calls("tencent/SendSms")
    assert call["errcode"] == "AuthFailure.SignatureFailure"
    [row] = Notification.select().where(Notification.channel == "sms")
    assert row.status == "failed" and "AuthFailure.SignatureFailure" in row.error
    assert channels.recent_alerts(redis_conn)[0]["kind"] == "configuration"


def test_the_stand_in_checks_body_and_timestamp_against_the_signature(env, sandbox):
    provider = TencentSms(env)
    captured = {}
    original = requests.Session.send

    def capture(session, prepared, **kw):  # record exactly what the SDK signed and sent
        captured["request"] = prepared
        return original(session, prepared, **kw)

    requests.Session.send = capture
    try:
        provider.send(SmsMessage(phone=PHONE, template="task", params=["20251125-0001"], text="x", session="k"))
    finally:
        requests.Session.send = original
    signed = captured["request"]
    headers = {k: v for k, v in signed.headers.items() if k.lower() not in ("content-length",)}
    ok = requests.post(sandbox.url + "/", data=signed.body, headers=headers, timeout=5).json()["Response"]
    assert "SendStatusSet" in ok  # replaying it verbatim within the window is (like Tencent) accepted
    raw = signed.body.encode() if isinstance(signed.body, str) else signed.body
    tampered = raw.replace(PHONE.encode(), b"13999999999")
    bad = requests.post(sandbox.url + "/", data=tampered, headers=headers, timeout=5).json()["Response"]
    assert bad["Error"]["Code"] == "AuthFailure.SignatureFailure"
    old = dict(headers, **{"X-TC-Timestamp": str(int(headers["X-TC-Timestamp"]) - 3600)})
    stale = requests.post(sandbox.url + "/", data=signed.body, headers=old, timeout=5).json()["Response"]
    assert stale["Error"]["Code"] == "AuthFailure.SignatureExpire"
    unsigned = requests.post(sandbox.url + "/", json={"PhoneNumberSet": [PHONE]}, timeout=5).json()["Response"]
    assert unsigned["Error"]["Code"] == "AuthFailure.InvalidAuthorization"


def test_sms_quota_pauses_the_sms_channel(env, world, sandbox, redis_conn):
    sandbox.inject(errcode=45009, api="tencent/SendSms")
    report(world)
    drain(redis_conn)
    assert channels.paused_for(redis_conn, "sms") > 0
    [row] = Notification.select().where(Notification.channel == "sms")
    assert row.status == "deferred" and "LimitExceeded.AppDailyLimit" in row.error


def test_sms_provider_internal_error_is_retried(env, world, sandbox, redis_conn):
    sandbox.inject(errcode=-1, count=1, api="tencent/SendSms")
    report(world)
    drain(redis_conn)
    [row] = Notification.select().where(Notification.channel == "sms")
    assert row.status == "pending" and "InternalError" in row.error
    assert promote_scheduled(redis_conn) == 1
    drain(redis_conn)
    row = Notification.get_by_id(row.id)
    assert row.status == "sent" and row.attempts == 2
    assert [c["errcode"] for c in sandbox.calls("tencent/SendSms")] == ["InternalError.Timeout", 0]


def test_unknown_provider_is_a_configuration_error(env):
    from workers.sms import get_provider

    with pytest.raises(SmsError) as caught:
        get_provider(env.with_overrides(sms_provider="carrier-pigeon"))
    assert caught.value.kind == "config"
