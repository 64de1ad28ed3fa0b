"""Reports become notifications: real Redis, real RQ workers (SimpleWorker burst), the WeChat
sandbox over HTTP. Who hears what, fallbacks, urgency, reminders, quiet hours, quota."""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from rq.registry import ScheduledJobRegistry

from backend import clock, config, links
from backend.models import Event, Notification, Resident, SubscribeOptIn
from backend.services import actions
from backend.services.context import resident_actor, staff_actor
from backend.services.events import Submission, submit_event
from tests.factories import make_world
from tests.worker_fixtures import env  # noqa: F401
from workers import channels, messages, sweeps
from workers.queues import SEND, queue
from workers.testing import drain, set_staff_phone

DAYTIME = dt.datetime(2025, 11, 25, 3, 0)  # 11:00 Asia/Shanghai, a Tuesday


@pytest.fixture
def world(env):
    world = make_world()
    for person in (world.worker_a, world.worker_a2, world.worker_b, world.head, world.centre):
        set_staff_phone(person, f"1380000{person.id:04d}", env.field_key)
    return world


@pytest.fixture
def resident():
    return Resident.create(oa_openid="oa-resident-1", mp_openid="mp-resident-1")


def report(resident, point, code="0101", description="楼下垃圾好几天没人清了"):
    return submit_event(Submission(description=description, reporter=resident_actor(resident),
                                   lat=point[0], lng=point[1], category_code=code)).event


def templates(sandbox, openid=None):
    calls = [c for c in sandbox.calls("message/template/send") if c["errcode"] == 0]
    return [c for c in calls if openid is None or c["body"]["touser"] == openid]


def sms_rows(staff=None):
    query = Notification.select().where(Notification.channel == "sms")
    if staff is not None:
        query = query.where(Notification.recipient == f"staff:{staff.id}")
    return list(query.order_by(Notification.id))


def test_a_report_becomes_one_template_message_for_the_grid_worker(env, world, resident, sandbox, redis_conn):
    event = report(resident, world.in_a)
    drain(redis_conn)
    event = Event.get_by_id(event.id)
    assert event.status == "assigned" and event.holder_staff_id == world.worker_a.id
    [call] = templates(sandbox)
    body = call["body"]
    assert body["touser"] == world.worker_a.oa_openid
    assert body["data"]["character_string2"]["value"] == event.number
    assert body["miniprogram"] == {"appid": env.mp_app_id, "pagepath": f"pages/task/detail?number={event.number}"}
    [row] = Notification.select()
    assert row.status == "sent" and row.channel == "template" and row.sent_at is not None
    assert body["client_msg_id"] == row.key == f"{row.step_id}:staff:{world.worker_a.id}:template"
    assert sms_rows() == []  # not urgent, reachable by WeChat: no SMS
    drain(redis_conn)  # running the workers again sends nothing more
    assert len(templates(sandbox)) == 1


def test_template_fields_are_fitted_to_wechat_limits_and_h5_link_is_configurable(env, world, resident, sandbox,
                                                                                  redis_conn):
    config.install(env.with_overrides(extra={"NOTIFY_LINK": "h5"}))
    long_text = "小区东门口" * 20
    event = report(resident, world.in_a, description=long_text)
    Event.update(address="芗城区通北街道金源社区某某路一百二十三号大院东门口").where(Event.id == event.id).execute()
    drain(redis_conn)
    [call] = templates(sandbox)
    data = call["body"]["data"]
    assert all(len(data[k]["value"]) <= 20 for k in data if k.startswith("thing"))
    assert data["thing1"]["value"].endswith("…")
    url = call["body"]["url"]
    assert url.startswith(f"{env.public_base_url}/m/events/{event.number}?t=")
    holder = links.open_link(parse_qs(urlsplit(url).query)["t"][0], Event.get_by_id(event.id))
    assert (holder.kind, holder.staff.id) == ("staff", world.worker_a.id)  # signed for the one recipient
    assert "miniprogram" not in call["body"]
    assert messages.fit("phrase", "已受理 ok") == "已受理"
    assert messages.fit("character_string", "2025 1125-0001号") == "20251125-0001"


def test_43004_falls_back_to_sms_without_retrying_wechat(env, world, resident, sandbox, redis_conn, caplog):
    sandbox.inject(errcode=43004, openid=world.worker_a.oa_openid)
    caplog.set_level("INFO", logger="ejia.sms.console")
    event = report(resident, world.in_a)
    drain(redis_conn)
    assert len(sandbox.calls("message/template/send")) == 1  # tried once, never retried
    template, sms = Notification.select().order_by(Notification.id)
    assert (template.channel, template.status) == ("template", "failed") and "43004" in template.error
    assert (sms.channel, sms.status, sms.recipient) == ("sms", "sent", f"staff:{world.worker_a.id}")
    assert event.number in sms.payload["content"]["text"]
    assert any(event.number in r.getMessage() and "138****" in r.getMessage() for r in caplog.records)
    assert ScheduledJobRegistry(queue=queue(SEND, redis_conn)).count == 0


def test_urgent_category_sends_template_and_sms(env, world, resident, sandbox, redis_conn):
    event = report(resident, world.in_a, code="0301", description="楼道里堆满了纸箱，怕着火")
    drain(redis_conn)
    assert len(templates(sandbox, world.worker_a.oa_openid)) == 1
    [sms] = sms_rows(world.worker_a)
    assert sms.status == "sent" and sms.payload["urgent"] is True
    assert "紧急事件" in sms.payload["content"]["text"] and event.number in sms.payload["content"]["text"]


def test_unaccepted_task_gets_one_sms_reminder_after_n_minutes(env, world, resident, sandbox, redis_conn):
    minutes = env.unaccepted_sms_minutes
    with clock.frozen(DAYTIME):
        event = report(resident, world.in_a)
        drain(redis_conn)
    assert sms_rows() == []
    with clock.frozen(DAYTIME + dt.timedelta(minutes=minutes - 1)):
        assert sweeps.remind_unaccepted() == 0
    with clock.frozen(DAYTIME + dt.timedelta(minutes=minutes + 1)):
        assert sweeps.remind_unaccepted() == 1
        drain(redis_conn)
        assert sweeps.remind_unaccepted() == 0  # once per assignment
        drain(redis_conn)
    [sms] = sms_rows(world.worker_a)
    assert sms.status == "sent" and f"{minutes}分钟仍未受理" in sms.payload["content"]["text"]
    # accepted tasks are not reminded
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    with clock.frozen(DAYTIME + dt.timedelta(minutes=3 * minutes)):
        assert sweeps.remind_unaccepted() == 0


def test_quiet_hours_defer_non_urgent_sms_but_not_urgent_ones(env, world, resident, sandbox, redis_conn):
    config.install(env.with_overrides(quiet_hours="22:00-07:30"))
    for person in (world.worker_a, world.worker_a2):
        person.oa_openid = None  # reachable by SMS only
        person.save()
    night = dt.datetime(2025, 11, 25, 15, 0)  # 23:00 local
    with clock.frozen(night):
        normal = report(resident, world.in_a)
        urgent = report(resident, world.in_a, code="0301", description="楼道堆物")
        drain(redis_conn)
    rows = {r.event_id: r for r in sms_rows()}
    assert rows[urgent.id].status == "sent"
    deferred = rows[normal.id]
    assert deferred.status == "deferred" and deferred.error == "quiet hours"
    assert deferred.payload["not_before"] == "2025-11-25T23:30:00"  # 07:30 local next morning
    assert ScheduledJobRegistry(queue=queue(SEND, redis_conn)).count == 1


def test_quota_pauses_the_channel_and_alerts_the_console(env, world, resident, sandbox, redis_conn):
    sandbox.inject(errcode=45009, api="message/template/send")
    first = report(resident, world.in_a)
    drain(redis_conn)
    assert channels.paused_for(redis_conn, "template") > 0
    [alert] = channels.recent_alerts(redis_conn)
    assert alert["kind"] == "channel_paused" and alert["channel"] == "template" and "45009" in alert["message"]
    row = Notification.get(Notification.event == first.id)
    assert row.status == "deferred" and row.payload["not_before"]
    sandbox.clear_calls()
    report(resident, world.in_b)  # while paused, nobody calls the API
    drain(redis_conn)
    assert sandbox.calls("message/template/send") == []
    assert Notification.select().where(Notification.status == "deferred").count() == 2


def test_transient_error_retries_with_backoff_then_sends_once(env, world, resident, sandbox, redis_conn):
    sandbox.inject(errcode=-1, count=2, api="message/template/send")  # the client retries -1 once itself
    report(resident, world.in_a)
    drain(redis_conn)
    row = Notification.get()
    assert row.status == "pending" and row.error.startswith("-1")
    registry = ScheduledJobRegistry(queue=queue(SEND, redis_conn))
    [job_id] = registry.get_job_ids()
    send_queue = queue(SEND, redis_conn)
    job = send_queue.fetch_job(job_id)
    assert job.retries_left == 5  # a send job of its own after the inline first attempt
    registry.remove(job)
    send_queue.enqueue_job(job)  # the retry is due (what RQ's scheduler does after 5 s)
    drain(redis_conn)
    row = Notification.get()
    assert row.status == "sent" and row.attempts == 2
    assert len(templates(sandbox)) == 1


def test_resident_hears_acceptance_and_closure_with_a_request_to_rate(env, world, resident, sandbox, redis_conn):
    resident.last_message_at = clock.now() - dt.timedelta(hours=1)  # inside the 48-hour window
    resident.save()
    event = report(resident, world.in_a, code="0201", description="楼上邻居天天吵架")
    drain(redis_conn)
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    actions.perform(event.number, staff_actor(world.worker_a), "resolve", {"note": "已调解"})
    drain(redis_conn)
    texts = [c["body"]["text"]["content"] for c in sandbox.calls("message/custom/send")]
    assert len(texts) == 2
    assert "已受理" in texts[0] and "已办结" in texts[1] and f"评价 {event.number}" in texts[1]


def opt_in(resident, remaining=1, template="ejia-progress"):
    SubscribeOptIn.create(resident=resident, template_id=template, remaining=remaining)


def resident_rows(resident):
    return [r for r in Notification.select().order_by(Notification.id) if r.recipient == f"resident:{resident.id}"]


def test_resident_outside_the_window_gets_a_template_message_as_a_follower(env, world, resident, sandbox, redis_conn):
    resident.last_message_at = clock.now() - dt.timedelta(days=3)
    resident.save()
    event = report(resident, world.in_a, code="0201", description="楼上邻居天天吵架")
    drain(redis_conn)
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    actions.perform(event.number, staff_actor(world.worker_a), "resolve", {"note": "已调解"})
    drain(redis_conn)
    assert sandbox.calls("message/custom/send") == []
    calls = templates(sandbox, resident.oa_openid)
    assert [c["body"]["data"]["phrase3"]["value"] for c in calls] == ["已受理", "已办结"]
    assert calls[1]["body"]["data"]["thing5"]["value"] == "请为处理结果评价"


def test_a_resident_who_unfollowed_gets_a_subscribe_message_while_opted_in(env, world, resident, sandbox, redis_conn):
    resident.last_message_at = clock.now() - dt.timedelta(days=3)
    resident.oa_following = False
    resident.save()
    opt_in(resident, 1)
    event = report(resident, world.in_a, code="0201", description="楼上邻居天天吵架")
    drain(redis_conn)
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    actions.perform(event.number, staff_actor(world.worker_a), "resolve", {"note": "已调解"})
    drain(redis_conn)
    [call] = sandbox.calls("message/subscribe/send")  # one opt-in: acceptance used it up
    assert call["body"]["data"]["phrase3"]["value"] == "已受理"
    assert SubscribeOptIn.get(SubscribeOptIn.resident == resident.id).remaining == 0
    closed = resident_rows(resident)[-1]
    assert (closed.channel, closed.status) == ("none", "skipped")  # nothing left: recorded, with why
    assert "no subscribe opt-in left" in closed.error and "does not follow" in closed.error


def test_customer_message_refused_falls_back_to_the_next_channel(env, world, resident, sandbox, redis_conn):
    resident.last_message_at = clock.now() - dt.timedelta(hours=1)
    resident.save()
    opt_in(resident, 2)
    sandbox.inject(errcode=45015, api="message/custom/send")
    sandbox.inject(errcode=43004, api="message/template/send", openid=resident.oa_openid)
    event = report(resident, world.in_a, code="0201", description="楼上邻居天天吵架")
    drain(redis_conn)
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    drain(redis_conn)
    rows = resident_rows(resident)
    assert [(r.channel, r.status) for r in rows] == [("custom", "failed"), ("template", "failed"),
                                                     ("subscribe", "sent")]
    assert Resident.get_by_id(resident.id).oa_following is False  # 43004 remembered


def test_a_resident_with_only_a_phone_gets_an_sms(env, world, sandbox, redis_conn):
    from backend.crypto import FieldCipher
    from backend.services.personal_data import RESIDENT_PHONE_CONTEXT

    cipher = FieldCipher.from_key(env.field_key)
    phone_only = Resident.create(oa_openid="oa-quiet", oa_following=False,
                                 phone_enc=cipher.encrypt("13912345678", RESIDENT_PHONE_CONTEXT))
    event = report(phone_only, world.in_a, code="0201", description="楼上邻居天天吵架")
    drain(redis_conn)
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    drain(redis_conn)
    [row] = resident_rows(phone_only)
    assert (row.channel, row.status) == ("sms", "sent") and "已受理" in row.payload["content"]["text"]
    assert "13912345678" not in str(row.payload)  # the number is decrypted at send time, never stored


def test_escalation_and_dispatch_notify_the_new_holder(env, world, resident, sandbox, redis_conn):
    event = report(resident, world.in_a)
    drain(redis_conn)
    actions.perform(event.number, staff_actor(world.worker_a), "escalate", {"note": "需要社区协调"})
    drain(redis_conn)
    [head_call] = templates(sandbox, world.head.oa_openid)
    assert head_call["body"]["data"]["thing3"]["value"] == "下级上报，请受理"
    actions.perform(event.number, staff_actor(world.head), "escalate", {"note": "需要中心派遣"})
    actions.perform(event.number, staff_actor(world.centre), "dispatch", {"department_id": world.dept.id})
    drain(redis_conn)
    [dept_call] = templates(sandbox, world.dept_staff.oa_openid)
    assert dept_call["body"]["data"]["thing3"]["value"] == "综治中心派遣，请受理"
    assert len(templates(sandbox, world.centre.oa_openid)) == 1  # the escalation; not its own dispatch
