"""Signed event links (backend.links) over the real app: each opens for its one person and event,
for its lifetime, and only while that person may still see the event; everything else is a 403
page in Chinese that shows nothing of the case."""
from __future__ import annotations

import datetime as dt

import pytest

from backend import clock, links
from backend.models import AuditLog, Category, Event, Resident, Staff
from backend.services import actions
from backend.services.context import staff_actor
from tests.h5_fixtures import client, console_app, path_of, report, world  # noqa: F401  (fixtures)
from workers import messages, notices

T0 = dt.datetime(2025, 11, 25, 3, 0)  # 11:00 Asia/Shanghai


def opens(client, url: str):
    return client.get(path_of(url))


def refused(response, event: Event, why: str) -> None:
    """A 403 page in Chinese that names the reason and nothing of the case."""
    body = response.get_data(as_text=True)
    assert response.status_code == 403, body[:300]
    assert "打不开这个链接" in body and why in body
    assert event.description not in body and "流程" not in body
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_a_reporters_link_opens_their_event_and_nobody_elses(client, world):
    reporter, other = Resident.create(oa_openid="oa-r1"), Resident.create(oa_openid="oa-r2")
    event = report(world, reporter, "楼道里堆满纸箱，过不去")
    others = report(world, other, "路灯坏了")
    page = opens(client, links.event_link(event, resident=reporter))
    assert page.status_code == 200 and "楼道里堆满纸箱，过不去" in page.get_data(as_text=True)
    # the other resident's own valid link, moved onto this event's address
    moved = f"/m/events/{event.number}?t={links.event_token(others, resident=other)}"
    refused(client.get(moved), event, "不是这件事的")
    # a link for this event signed for the other resident (they are not its reporter)
    refused(opens(client, links.event_link(event, resident=other)), event, "无权查看")


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
    lambda t: t.split(".")[0] + ".x." + t.split(".")[-1],  # payload changed
    lambda t: "",  # missing
    lambda t: t * 10,  # absurdly long
])
def test_forged_or_damaged_links_are_refused(client, world, tamper):
    reporter = Resident.create(oa_openid="oa-r1")
    event = report(world, reporter)
    token = links.event_token(event, resident=reporter)
    refused(client.get(f"/m/events/{event.number}", query_string={"t": tamper(token)}), event, "无效")


def test_a_link_signed_with_another_key_is_refused(client, world):
    reporter = Resident.create(oa_openid="oa-r1")
    event = report(world, reporter)
    other_key = client.application.extensions["ejia.settings"].with_overrides(secret_key="not-our-key")
    refused(client.get(f"/m/events/{event.number}?t={links.event_token(event, resident=reporter, settings=other_key)}"),
            event, "无效")


def test_unknown_numbers_answer_as_forged_links_do(client, world):
    reporter = Resident.create(oa_openid="oa-r1")
    event = report(world, reporter)
    token = links.event_token(event, resident=reporter)
    for number in ("20990101-0001", "1' OR '1'='1", "x" * 300):
        response = client.get(f"/m/events/{number}", query_string={"t": token})
        assert response.status_code == 403 and "无效" in response.get_data(as_text=True)


def test_links_expire_after_30_days_for_residents_and_7_for_staff(client, world):
    reporter = Resident.create(oa_openid="oa-r1")
    with clock.frozen(T0):
        event = report(world, reporter)
        resident_url = links.event_link(event, resident=reporter)
        staff_url = links.event_link(event, staff=world.worker_a)
    with clock.frozen(T0 + dt.timedelta(days=6, hours=23)):
        assert opens(client, staff_url).status_code == 200
    with clock.frozen(T0 + dt.timedelta(days=7, minutes=1)):
        refused(opens(client, staff_url), event, "已超过7天")
        assert opens(client, resident_url).status_code == 200
    with clock.frozen(T0 + dt.timedelta(days=30, minutes=1)):
        refused(opens(client, resident_url), event, "已超过30天")


def test_a_grid_worker_who_escalated_a_sensitive_case_loses_access(client, world):
    Category.update(sensitivity="sensitive").where(Category.id == world.cat_nophoto.id).execute()
    reporter = Resident.create(oa_openid="oa-r1")
    event = report(world, reporter, "邻居家里经常吵架摔东西", code="0201")
    from backend.services.events import route_event

    route_event(event.id)
    url = links.event_link(Event.get_by_id(event.id), staff=world.worker_a)
    page = opens(client, url)
    assert page.status_code == 200 and "邻居家里经常吵架摔东西" in page.get_data(as_text=True)
    [row] = AuditLog.select().where(AuditLog.entity == "event")
    assert (row.actor_staff_id, row.entity_id, row.detail["channel"]) == (world.worker_a.id, event.id, "h5")
    actions.perform(event.number, staff_actor(world.worker_a), "escalate", {"note": "需要社区调解"})
    refused(opens(client, url), event, "无权查看")  # the same, still unexpired link
    assert AuditLog.select().where(AuditLog.entity == "event").count() == 1  # a refusal shows nothing


def test_a_deactivated_staff_member_loses_access(client, world):
    reporter = Resident.create(oa_openid="oa-r1")
    event = report(world, reporter)
    url = links.event_link(event, staff=world.worker_a)
    assert opens(client, url).status_code == 200
    Staff.update(active=False).where(Staff.id == world.worker_a.id).execute()
    refused(opens(client, url), event, "无权查看")


def test_a_worker_of_another_grid_cannot_open_a_link_minted_for_them(client, world):
    """Minting a link never widens anyone's scope: can_see decides, not the signature."""
    Category.update(sensitivity="sensitive").where(Category.id == world.cat_nophoto.id).execute()
    event = report(world, Resident.create(oa_openid="oa-r1"), "邻居吵架", code="0201")
    refused(opens(client, links.event_link(event, staff=world.other_worker)), event, "无权查看")
    refused(opens(client, links.event_link(event, staff=world.worker_b)), event, "无权查看")


def test_messages_carry_links_signed_for_their_recipient(world, settings):
    reporter = Resident.create(oa_openid="oa-r1")
    event = report(world, reporter)
    h5 = settings.with_overrides(extra={"NOTIFY_LINK": "h5"})
    body = messages.staff_template(h5, event, "task", world.worker_a.oa_openid, world.worker_a.id)
    holder = links.open_link(body["url"].split("t=", 1)[1], event)
    assert holder.staff.id == world.worker_a.id
    assert "url" not in messages.staff_template(h5, event, "task", world.worker_a.oa_openid)  # nobody to sign for
    assert "url" not in messages.digest_template(h5, "oa-x", dt.date(2025, 11, 25), "金源社区",
                                                 dict.fromkeys(("waiting", "processing", "overdue", "new",
                                                                "closed", "yellow"), 0))
    text = notices.text("closed", event, url=messages.resident_url(h5, event, reporter.id))
    assert f"/m/events/{event.number}?t=" in text and "点这里打分" in text
    url = text.rsplit("：", 1)[1]
    assert links.open_link(url.split("t=", 1)[1], event).resident.id == reporter.id
    assert messages.resident_url(h5.with_overrides(extra={"NOTIFY_LINK": "none"}), event, reporter.id) is None
    follower = Resident.create(oa_openid="oa-follower")
    template = notices.content(h5, "template", event, "closed", reporter)
    assert links.open_link(template["url"].split("t=", 1)[1], event).resident.id == reporter.id
    assert "url" not in notices.content(h5, "template", event, "follower_closed", follower)
    assert "http" not in notices.content(h5, "custom", event, "follower_closed", follower)["text"]


def test_unknown_mobile_paths_are_a_chinese_404(client):
    for path in ("/m/", "/m/nothing/here", "/m/events/", "/q/", "/q/a/b/c"):
        response = client.get(path)
        assert response.status_code == 404 and "没有找到" in response.get_data(as_text=True), path
