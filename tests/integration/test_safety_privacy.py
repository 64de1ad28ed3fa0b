"""Safety and privacy by default (DESIGN §11), through the real services, app and workers.

Emergencies reach three levels at once; sensitive and anonymous cases stay with the holder's
chain and never reach a public output; every view of one is audited; retention and the
resident's own erasure remove personal data and keep the statistics; images lose their GPS.
"""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from PIL import Image

from backend import clock, config, media
from backend.errors import DomainError, Forbidden, NotFound
from backend.media import media_path, store_bytes
from backend.models import (
    Attachment,
    AuditLog,
    Category,
    Event,
    EventStep,
    Notification,
    Resident,
    Staff,
    SubscribeOptIn,
)
from backend.services import actions, admin_categories, follow, personal_data, queries, retention
from backend.services.context import resident_actor, staff_actor
from backend.services.events import Submission, add_place, route_event, submit_event
from backend.workflow import can_see
from backend.services.context import event_view
from tests.mp_client import image_bytes
from tests.factories import make_world
from tests.worker_fixtures import env  # noqa: F401  (fixture)
from tests.workers_run import drain, set_staff_phone

PHONE = "13912345678"
NAME = "王建国"
NIGHT = dt.datetime(2025, 11, 25, 16, 0)  # 00:00 Asia/Shanghai: inside the default quiet hours


@pytest.fixture
def world():
    world = make_world()
    sensitive = Category.create(code="0202", parent=world.cat_nophoto.parent, name="家庭暴力", plain_name="家里有人挨打",
                                keywords=["家暴"], sensitivity="sensitive", photo_required=False)
    world.cat_sensitive = sensitive
    return world


def resident(openid="oa-r1", **fields) -> Resident:
    return Resident.create(oa_openid=openid, **fields)


def report(world, who, text="楼下垃圾好几天没人清了", code="0101", point=None, anonymous=False, **kw):
    point = point or world.in_a
    return submit_event(Submission(description=text, reporter=resident_actor(who), lat=point[0], lng=point[1],
                                   category_code=code, anonymous=anonymous, **kw))


def routed(result):
    return route_event(result.event.id)


def audit_rows(entity="event", action="read"):
    return list(AuditLog.select().where((AuditLog.entity == entity) & (AuditLog.action == action)))


# ------------------------------------------------------------------ emergencies


def test_an_emergency_is_filed_urgent_under_its_category_and_says_whom_to_call(world):
    Category.create(code="1201", parent=world.cat_urgent.parent, name="火情", plain_name="着火了",
                    emergency_number="119", urgent=True)
    result = report(world, resident(), text="3号楼着火了，好大的烟", code=None)
    event = result.event
    assert result.emergency.numbers == ("119",) and "119" in result.emergency.advice
    assert event.urgent and event.emergency == "119" and event.category.code == "1201"
    step = EventStep.get((EventStep.event == event.id) & (EventStep.action == "submit"))
    assert step.data["emergency"]["kinds"] == ["fire"]


def test_violence_at_home_is_sensitive_even_in_a_public_category(world):
    event = report(world, resident(), text="邻居家里经常打孩子，哭喊声很大，我很担心", code="0101").event
    assert event.sensitivity == "sensitive" and event.emergency == "110" and event.urgent


def test_a_category_set_to_direct_to_a_number(world):
    admin_categories.update_category("0301", admin_categories.CategoryForm(
        plain_name="楼道里堆了东西", keywords="楼道", default_department_kind=None, accept_limit=2,
        accept_unit="hours", resolve_limit=5, resolve_unit="work_days", verify_limit=2, verify_unit="work_days",
        emergency_number="119"))
    result = report(world, resident(), text="楼道里堆满了纸箱", code="0301")
    assert result.emergency.numbers == ("119",) and result.event.emergency == "119" and result.event.urgent
    with pytest.raises(DomainError, match="110、119、120、122"):
        admin_categories.update_category("0301", admin_categories.CategoryForm(
            plain_name="x", keywords="", default_department_kind=None, accept_limit=2, accept_unit="hours",
            resolve_limit=5, resolve_unit="work_days", verify_limit=2, verify_unit="work_days",
            emergency_number="12345"))


def test_an_emergency_reaches_grid_community_and_street_centre_at_night(env, world, sandbox, redis_conn):
    """Template + SMS to all three levels in one worker pass, quiet hours ignored."""
    config.install(env.with_overrides(quiet_hours="22:00-07:30"))
    for person in (world.worker_a, world.head, world.centre):
        set_staff_phone(person, f"1380000{person.id:04d}", env.field_key)
    with clock.frozen(NIGHT):
        event = report(world, resident(), text="金源路有人拿刀砍人了", code="0101").event
        drain(redis_conn)
    event = Event.get_by_id(event.id)
    assert event.status == "assigned" and event.holder_area_id == world.grid_a.id
    rows = list(Notification.select().where(Notification.event == event.id))
    told = {(r.recipient, r.channel, r.status) for r in rows}
    for person in (world.worker_a, world.head, world.centre):
        assert (f"staff:{person.id}", "template", "sent") in told, person.role
        assert (f"staff:{person.id}", "sms", "sent") in told, person.role  # not deferred to the morning
    templates = [c for c in sandbox.calls("message/template/send") if c["errcode"] == 0]
    assert {c["body"]["data"]["thing3"]["value"] for c in templates} == {"紧急情况，请立即处置"}
    assert f"staff:{world.other_worker.id}" not in {r.recipient for r in rows}
    drain(redis_conn)
    assert Notification.select().where(Notification.event == event.id).count() == len(rows)  # once only


def test_the_place_given_after_an_emergency_routes_it_on_to_the_grid(env, world, sandbox, redis_conn):
    who = resident()
    event = submit_event(Submission(description="有人落水了快来人", reporter=resident_actor(who))).event
    drain(redis_conn)
    event = Event.get_by_id(event.id)
    assert event.holder_level == "centre" and event.grid_id is None
    add_place(event.number, resident_actor(who), lat=world.in_b[0], lng=world.in_b[1])
    drain(redis_conn)
    event = Event.get_by_id(event.id)
    assert event.holder_level == "grid" and event.holder_area_id == world.grid_b.id and event.grid_id == world.grid_b.id
    step = EventStep.get((EventStep.event == event.id) & (EventStep.action == "locate"))
    assert step.from_holder["level"] == "centre" and step.to_holder["level"] == "grid"
    told = {r.recipient for r in Notification.select().where(Notification.step == step.id)}
    assert f"staff:{world.worker_b.id}" in told and f"staff:{world.head.id}" in told
    with pytest.raises(DomainError):
        add_place(event.number, resident_actor(who), lat=world.in_a[0], lng=world.in_a[1])  # placed already
    with pytest.raises(Forbidden):
        add_place(event.number, resident_actor(resident("oa-other")), lat=world.in_a[0], lng=world.in_a[1])


# ------------------------------------------------------------------ who sees a restricted case


def _chain_and_strangers(world):
    chain = [world.worker_a, world.head, world.centre, world.city_centre]
    strangers = [world.worker_b, world.other_worker, world.dept_staff]
    return chain, strangers


@pytest.mark.parametrize("kind", ["sensitive", "anonymous"])
def test_a_restricted_case_is_seen_by_its_chain_only(world, kind):
    code, anonymous = ("0202", False) if kind == "sensitive" else ("0101", True)
    event = routed(report(world, resident(), text="邻居夫妻天天吵架摔东西", code=code, anonymous=anonymous))
    assert event.restricted
    chain, strangers = _chain_and_strangers(world)
    for person in chain:
        assert can_see(event_view(event), staff_actor(person)), person.role
    for person in strangers:
        assert not can_see(event_view(event), staff_actor(person)), person.role
    # after escalation the grid worker is no longer in the chain; the community head is
    actions.perform(event.number, staff_actor(world.worker_a), "escalate", {"note": "需要社区出面"})
    event = Event.get_by_id(event.id)
    assert not can_see(event_view(event), staff_actor(world.worker_a))
    assert can_see(event_view(event), staff_actor(world.head))
    # a public case in the same grid stays visible to the grid's other worker
    public = routed(report(world, resident("oa-r2"), point=world.in_a))
    assert can_see(event_view(public), staff_actor(world.worker_b)) is False  # other grid
    assert can_see(event_view(public), staff_actor(world.worker_a2))


def test_lists_follow_the_same_rule(world):
    sensitive = routed(report(world, resident(), text="邻居家暴", code="0202"))
    public = routed(report(world, resident("oa-r2")))
    for event in (sensitive, public):
        actions.perform(event.number, staff_actor(world.worker_a), "accept", {})
        actions.perform(event.number, staff_actor(world.worker_a), "escalate", {"note": "上报社区"})
    head_done = queries.visible_clause(world.head)
    numbers = {e.number for e in Event.select().where(head_done)}
    assert {sensitive.number, public.number} <= numbers
    worker_sees = {e.number for e in Event.select().where(queries.visible_clause(world.worker_a))}
    assert public.number in worker_sees and sensitive.number not in worker_sees


def test_nearby_offers_and_follows_never_expose_a_restricted_case(world):
    sensitive = routed(report(world, resident(), text="垃圾旁边有人打老婆", code="0101"))
    assert sensitive.sensitivity == "sensitive"
    second = report(world, resident("oa-r2"), text="垃圾没人清")
    assert sensitive.number not in [e.number for e in second.nearby]
    with pytest.raises(NotFound):
        follow.follow_event(sensitive.number, resident("oa-r3"))


def test_raising_a_category_to_sensitive_applies_to_its_events_at_once(world):
    event = report(world, resident()).event
    form = admin_categories.CategoryForm(
        plain_name="垃圾没人清", keywords="垃圾", default_department_kind=None, accept_limit=4,
        accept_unit="work_hours", resolve_limit=5, resolve_unit="work_days", verify_limit=2, verify_unit="work_days",
        sensitivity="sensitive")
    admin_categories.update_category("0101", form)
    assert Event.get_by_id(event.id).sensitivity == "sensitive"
    admin_categories.update_category("0101", admin_categories.CategoryForm(**{**form.__dict__, "sensitivity": "public"}))
    assert Event.get_by_id(event.id).sensitivity == "sensitive"  # never lowered


# ------------------------------------------------------------------ anonymous means anonymous


def test_only_a_street_centre_operator_may_reveal_an_anonymous_reporter_with_a_reason(world):
    who = resident(nickname=NAME)
    event = routed(report(world, who, anonymous=True))
    for person in (world.worker_a, world.head):
        with pytest.raises(Forbidden):
            personal_data.reveal_reporter(person, event.number, "需要核实情况")
    with pytest.raises(DomainError, match="为什么要查看"):
        personal_data.reveal_reporter(world.centre, event.number, "看看")
    other_centre = Staff.create(name="外街道", role="centre_operator", area=world.other_street)
    with pytest.raises(Forbidden):
        personal_data.reveal_reporter(other_centre, event.number, "需要核实情况")
    assert not audit_rows("event.reporter", "reveal")
    shown = personal_data.reveal_reporter(world.centre, event.number, "需要当面核实现场情况")
    assert shown.nickname == NAME and shown.channel == "公众号"
    [row] = audit_rows("event.reporter", "reveal")
    assert row.actor_staff_id == world.centre.id and row.detail["reason"] == "需要当面核实现场情况"


# ------------------------------------------------------------------ retention


_shades = iter(range(10, 250))


def _with_photo(world, who, **kw):
    shade = next(_shades)  # a photo of its own: the store shares identical files between cases
    photo = store_bytes(image_bytes("JPEG", color=(shade, shade, shade)), "image/jpeg")
    result = report(world, who, **kw)
    Attachment.create(event=result.event, media=photo)
    return result.event, photo


def _close(world, event):
    event = route_event(event.id)
    actions.perform(event.number, staff_actor(world.worker_a), "accept", {})
    actions.perform(event.number, staff_actor(world.worker_a), "resolve", {"note": "已清理", "waive_photo": True,
                                                                           "photo_count": 1})
    return Event.get_by_id(event.id)


def test_retention_anonymises_exactly_the_due_events_and_keeps_the_metrics(world):
    started = dt.datetime(2024, 3, 4, 2, 0)
    with clock.frozen(started):
        old_who = resident(nickname=NAME)
        old, old_photo = _with_photo(world, old_who, text=f"我叫{NAME}，电话{PHONE}，楼下垃圾没人清")
        old = _close(world, old)
        actions.perform(old.number, resident_actor(old_who), "rate", {"score": 5, "comment": f"谢谢，{PHONE}"})
        sensitive, _ = _with_photo(world, resident("oa-r2"), text="邻居家暴", code="0202")
        sensitive = _close(world, sensitive)
    with clock.frozen(started + dt.timedelta(days=200)):
        recent, recent_photo = _with_photo(world, resident("oa-r3"), text=f"电话{PHONE}，路灯坏了")
        recent = _close(world, recent)
    open_event = report(world, resident("oa-r4"), text=f"联系{PHONE}").event

    # 1 year and a day later: only the sensitive one is due (sensitive: 1 year)
    with clock.frozen(started + dt.timedelta(days=366)):
        assert retention.sweep()["events"] == 1
    assert Event.get_by_id(sensitive.id).anonymised_at is not None
    assert Event.get_by_id(old.id).anonymised_at is None
    # 3 years and a day: the old public one too, never the recent or the open one
    with clock.frozen(started + dt.timedelta(days=3 * 365 + 1)):
        counts = retention.sweep()
    assert counts["events"] == 1 and counts["photos_deleted"] == 1
    old = Event.get_by_id(old.id)
    assert old.anonymised_at and old.reporter_resident_id is None and old.client_key is None
    assert PHONE not in old.description and NAME not in old.description
    assert not media_path(old_photo.sha256).exists() and not Attachment.select().where(Attachment.event == old).exists()
    assert old.status == "closed" and old.closed_at and old.category_id == world.cat_photo.id
    rating = old.ratings.get()
    assert rating.score == 5 and PHONE not in rating.comment and rating.resident_id is None
    assert media_path(recent_photo.sha256).exists() and Event.get_by_id(recent.id).anonymised_at is None
    assert Event.get_by_id(open_event.id).anonymised_at is None
    runs = list(AuditLog.select().where(AuditLog.entity == "retention").order_by(AuditLog.id))
    assert [r.detail["events"] for r in runs] == [1, 1]


def test_metrics_are_unchanged_by_retention(world):
    from backend.services import admin_metrics

    with clock.frozen(dt.datetime(2024, 3, 4, 2, 0)):
        for n in range(3):
            event, _ = _with_photo(world, resident(f"oa-m{n}"), text=f"垃圾{n}，电话{PHONE}")
            event = _close(world, event)
            actions.perform(event.number, resident_actor(Resident.get_by_id(event.reporter_resident_id)), "rate",
                            {"score": 2 + n})

    def figures():
        return admin_metrics.aggregate(dt.datetime(2024, 1, 1), dt.datetime(2025, 1, 1), world.city.path)

    before = figures()
    assert before and sum(s["ratings"] for s in before.values()) == 3
    with clock.frozen(dt.datetime(2028, 1, 1)):
        assert retention.sweep()["events"] == 3
    assert figures() == before


@pytest.mark.parametrize("days, message", [(29, "不能少于 30 天"), (30 * 365 + 1, "不能超过 30 年"), ("abc", "天数")])
def test_retention_periods_outside_30_days_to_30_years_are_refused(world, days, message):
    form = admin_categories.CategoryForm(
        plain_name="垃圾没人清", keywords="垃圾", default_department_kind=None, accept_limit=4,
        accept_unit="work_hours", resolve_limit=5, resolve_unit="work_days", verify_limit=2, verify_unit="work_days",
        retention_days=days)
    with pytest.raises(DomainError, match=message):
        admin_categories.update_category("0101", form)
    assert Category.get(Category.code == "0101").retention_days is None


# ------------------------------------------------------------------ 删除我的信息


def _dump() -> str:
    """Every row of every table as text: what a database dump would contain."""
    from backend.models import ALL_MODELS

    out = []
    for model in ALL_MODELS:
        for row in model.select().dicts():
            out.append(json.dumps(row, ensure_ascii=False, default=str))
    return "\n".join(out)


def test_erasing_my_data_leaves_no_phone_name_or_number_behind(world):
    from backend.crypto import FieldCipher
    from backend.models import InboundMessage

    cipher = FieldCipher.from_key(config.current().field_key)
    who = resident(nickname=NAME, phone_enc=cipher.encrypt(PHONE, personal_data.RESIDENT_PHONE_CONTEXT))
    SubscribeOptIn.create(resident=who, template_id="ejia-progress", remaining=3)
    text = f"我是{NAME}，电话{PHONE}，楼下垃圾没人清"
    InboundMessage.create(dedupe_key="m1", openid=who.oa_openid, msg_type="text", payload={"Content": text},
                          reply=f"请核对：{text}")
    closed, photo = _with_photo(world, who, text=text)
    closed = _close(world, closed)
    still_open = report(world, who, text=f"{NAME}反映：路灯坏了 {PHONE}").event
    assert PHONE in _dump() and NAME in _dump()
    done = personal_data.erase_resident(Resident.get_by_id(who.id))
    assert (done.anonymised, done.waiting) == (1, 1)
    who = Resident.get_by_id(who.id)
    assert who.phone_enc is None and who.nickname is None
    assert not SubscribeOptIn.select().where(SubscribeOptIn.resident == who.id).exists()
    assert not media_path(photo.sha256).exists()
    # the open report keeps what its handlers need until it ends; then the nightly job takes it
    assert NAME in Event.get_by_id(still_open.id).description
    _close(world, still_open)
    retention.sweep()
    dump = _dump()
    assert PHONE not in dump and NAME not in dump
    assert Event.get_by_id(closed.id).status == "closed"  # the case itself stays, for the statistics


def test_my_data_shows_what_we_hold_masked(world):
    from backend.crypto import FieldCipher

    cipher = FieldCipher.from_key(config.current().field_key)
    who = resident(nickname=NAME, phone_enc=cipher.encrypt(PHONE, personal_data.RESIDENT_PHONE_CONTEXT))
    SubscribeOptIn.create(resident=who, template_id="ejia-progress", remaining=2)
    routed(report(world, who))
    data = personal_data.my_data(who)
    assert data.phone == "139****5678" and data.nickname == "王**" and data.reports_open == 1
    assert data.channels == ("公众号",) and data.subscribe_opt_ins == 2


# ------------------------------------------------------------------ images


def test_every_image_is_stored_without_exif_but_its_orientation(world):
    gps = {0x0112: 3, 0x010F: "SecretCam", 0x8825: {1: "N", 2: (24.0, 30.0, 18.0)}}
    for fmt, mime in (("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        row = store_bytes(image_bytes(fmt, exif=gps), mime)
        stored = media.read_bytes(row)
        assert dict(Image.open(io.BytesIO(stored)).getexif()) == {0x0112: 3}
        assert b"SecretCam" not in stored
    with pytest.raises(DomainError):
        store_bytes(b"\xff\xd8\xff not a photo", "image/jpeg")


def test_an_anonymous_reporter_still_hears_back(env, world, sandbox, redis_conn):
    """The staff do not know who reported; the system does, and tells them of progress."""
    who = resident("oa-anon", last_message_at=clock.now())
    event = report(world, who, anonymous=True).event
    drain(redis_conn)
    actions.perform(event.number, staff_actor(world.worker_a), "accept", {})
    drain(redis_conn)
    sent = [c for c in sandbox.calls("message/custom/send") if c["errcode"] == 0]
    assert [c["body"]["touser"] for c in sent] == ["oa-anon"] and event.number in sent[0]["body"]["text"]["content"]
