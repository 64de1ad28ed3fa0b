"""Console event work: the queue's one-click dispatch, event actions, revisits, the map,
photos, exports — and hostile text shown escaped everywhere."""
from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from backend.media import store_bytes
from backend.models import Area, Attachment, Department, Event, EventStep, OutboxMessage, Resident, Revisit
from backend.services import actions
from backend.services.context import resident_actor, staff_actor
from backend.services.events import Submission, route_event, submit_event
from tests.integration.test_console_fixtures import (  # noqa: F401  (fixtures)
    client,
    console_app,
    cworld,
    logged_in,
)

XSS = "<script>alert('x')</script>"


def report(world, text="楼道里堆满纸箱", point=None, category="0101", resident=None):
    resident = resident or Resident.create(oa_openid=f"r-{Event.select().count()}")
    point = point or world.in_a
    sub = Submission(description=text, reporter=resident_actor(resident), lat=point[0], lng=point[1],
                     category_code=category)
    return route_event(submit_event(sub).event.id)


def at_street_centre(world, text="楼道里堆满纸箱", **kw):
    """A grid event escalated by the worker and the community head: held by the street centre."""
    event = report(world, text, **kw)
    actions.perform(event.number, staff_actor(world.worker_a), "escalate", {"note": "需要部门处理"})
    return actions.perform(event.number, staff_actor(world.head), "escalate", {"note": "社区处理不了"})


def test_queue_lists_centre_events_and_dispatches_in_one_click(console_app, cworld):
    world = cworld.world
    event = at_street_centre(world)
    other = Department.create(name="通北街道民政办", code="mzb-1", kind="mzb", area=world.street)
    centre = logged_in(console_app, "centre")
    page = centre.get("/console/").get_data(as_text=True)
    assert event.number in page
    # The category's default department kind (cgb) is preselected among the street's departments.
    assert f'<option value="{world.dept.id}" selected>' in page and f'<option value="{other.id}" >' in page
    response = centre.post(f"/console/events/{event.number}/dispatch", {"department_id": world.dept.id}, htmx=True)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert f'id="row-{event.number}"' in fragment and "已派遣至" in fragment and "城管办" in fragment
    event = Event.get_by_id(event.id)
    assert (event.status, event.holder_level, event.holder_department_id) == ("assigned", "department", world.dept.id)
    assert event.number not in centre.get("/console/").get_data(as_text=True)  # it left the queue


def test_overdue_events_come_first_in_the_queue(console_app, cworld):
    import datetime as dt

    world = cworld.world
    fresh, late = at_street_centre(world, "第一件"), at_street_centre(world, "第二件")
    Event.update(accept_due_at=dt.datetime(2020, 1, 1)).where(Event.id == late.id).execute()
    page = logged_in(console_app, "centre").get("/console/").get_data(as_text=True)
    assert page.index(late.number) < page.index(fresh.number)
    assert "已超期" in page


def test_event_page_actions_follow_the_workflow(console_app, cworld):
    world = cworld.world
    event = at_street_centre(world)
    duplicate = at_street_centre(world, "同一个地方的纸箱")
    centre = logged_in(console_app, "centre")
    page = centre.get(f"/console/events/{event.number}").get_data(as_text=True)
    for label in ("派遣", "转办", "督办", "不予受理", "合并", "留言"):
        assert label in page
    assert "核查办结" not in page  # nothing to verify yet
    comment = centre.post(f"/console/events/{event.number}/act", {"action": "comment", "note": "已电话联系",
                                                                   "internal": "1"})
    assert comment.status_code == 303
    merged = centre.post(f"/console/events/{duplicate.number}/act", {"action": "merge",
                                                                      "duplicate_of": event.number})
    assert merged.status_code == 303 and Event.get_by_id(duplicate.id).status == "merged"
    urged = centre.post(f"/console/events/{event.number}/act", {"action": "urge", "note": "请尽快"})
    assert urged.status_code == 303
    # 转办: back to the system with a named grid (grid B), which routing then honours.
    moved = centre.post(f"/console/events/{event.number}/act", {"action": "return", "suggested_grid_id": world.grid_b.id})
    assert moved.status_code == 303
    event = Event.get_by_id(event.id)
    assert (event.status, event.suggested_grid_id) == ("reported", world.grid_b.id)
    event = route_event(event.id)
    assert (event.holder_level, event.holder_area_id) == ("grid", world.grid_b.id)
    trail = centre.get(f"/console/events/{event.number}").get_data(as_text=True)
    for text in ("留言", "已电话联系", "督办", "请尽快", "退回", "转至金源第二网格"):
        assert text in trail


def test_a_refused_action_comes_back_as_a_message(console_app, cworld):
    world = cworld.world
    event = at_street_centre(world)
    centre = logged_in(console_app, "centre")
    response = centre.post(f"/console/events/{event.number}/act", {"action": "reject", "note": ""},
                           headers={"Referer": f"http://localhost/console/events/{event.number}"})
    assert response.status_code == 303
    page = centre.get(f"/console/events/{event.number}").get_data(as_text=True)
    assert "需要写明原因" in page and Event.get_by_id(event.id).status == "assigned"
    bad_grid = centre.post(f"/console/events/{event.number}/act",
                           {"action": "return", "suggested_grid_id": world.other_grid.id},
                           headers={"Referer": f"http://localhost/console/events/{event.number}"})
    assert bad_grid.status_code == 303 and Event.get_by_id(event.id).status == "assigned"


def test_other_streets_events_are_out_of_reach(console_app, cworld):
    world = cworld.world
    event = report(world, point=world.in_other)
    centre = logged_in(console_app, "centre")
    assert centre.get(f"/console/events/{event.number}").status_code == 403
    assert event.number not in centre.get("/console/events").get_data(as_text=True)


def test_revisit_unsatisfied_reopens_the_event(console_app, cworld):
    world = cworld.world
    resident = Resident.create(oa_openid="rv")
    event = report(world, resident=resident)
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    actions.perform(event.number, staff_actor(world.worker_a), "resolve", {"note": "已清理", "waive_photo": True})
    actions.perform(event.number, resident_actor(resident), "rate", {"score": 1})  # ≤ 2 queues a revisit
    revisit = Revisit.get(Revisit.event == event.id)
    centre = logged_in(console_app, "centre")
    assert event.number in centre.get("/console/revisits").get_data(as_text=True)
    done = centre.post(f"/console/revisits/{revisit.id}", {"outcome": "unsatisfied", "note": "纸箱又堆上了"})
    assert done.status_code == 303
    event = Event.get_by_id(event.id)
    assert (event.status, event.reopen_count) == ("processing", 1)
    assert Revisit.get_by_id(revisit.id).outcome == "unsatisfied"
    assert f'id="revisit-{revisit.id}"' not in centre.get("/console/revisits").get_data(as_text=True)


def test_map_layers_are_geojson_of_the_scope(console_app, cworld):
    world = cworld.world
    event = report(world)
    report(world, point=world.in_other)
    centre = logged_in(console_app, "centre")
    areas = centre.get("/console/map/areas.geojson").get_json()
    assert {f["properties"]["code"] for f in areas["features"]} == {world.grid_a.code, world.grid_b.code}
    events = centre.get("/console/map/events.geojson?status=open").get_json()
    assert [f["properties"]["number"] for f in events["features"]] == [event.number]
    feature = events["features"][0]
    assert feature["geometry"]["coordinates"] == [event.lng, event.lat]
    assert feature["properties"]["colour"] and feature["properties"]["deadline"] in ("ok", "warning", "overdue")
    page = centre.get("/console/map").get_data(as_text=True)
    assert "tile" not in page.split('id="big-map-config">')[1].split("</script>")[0].replace('"tile_url": ""', "")


def png_bytes() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def test_photos_are_served_only_to_staff_who_may_see_the_event(console_app, cworld):
    world = cworld.world
    event = report(world)
    media = store_bytes(png_bytes(), "image/png")
    Attachment.create(event=event, media=media)
    assert logged_in(console_app, "centre").get(f"/console/media/{media.id}").status_code == 200
    other_centre = world.other_street
    from tests.integration.test_console_fixtures import give_login

    stranger = give_login(type(world.centre).create(name="外街道", role="centre_operator", area=other_centre), "stranger")
    assert stranger and logged_in(console_app, "stranger").get(f"/console/media/{media.id}").status_code == 403


def amr_bytes(frames: int = 50) -> bytes:
    """A real AMR-NB file: the magic, then 20-ms frames of mode 7 (12.2 kbit/s, 31 bytes each)."""
    return b"#!AMR\n" + (bytes([0x3C]) + bytes(31)) * frames


def test_a_voice_note_plays_in_the_browser_and_media_still_coming_or_gone_are_said(console_app, cworld):
    """A resident who cannot type sends a voice note ("居民发来语音，请听附件"): staff must hear it.
    WeChat's AMR plays in no browser; the console serves it decoded to WAV."""
    import datetime as dt
    import wave

    from backend import clock
    from tests.integration.test_console_fixtures import give_login

    world = cworld.world
    event = report(world, text="（居民发来语音，请听附件）")
    step = EventStep.get((EventStep.event == event.id) & (EventStep.action == "submit"))
    note = store_bytes(amr_bytes(), "audio/amr", "voice")
    silk = store_bytes(b"\x02#!SILK_V3" + bytes(40), "audio/silk", "voice")
    broken = store_bytes(b"#!AMR\n" + b"not a frame" * 4, "audio/amr", "voice")
    for media in (note, silk, broken):
        Attachment.create(event=event, media=media, step=step)
    Attachment.create(event=event, wechat_media_id="still-at-wechat")  # its job is on the way
    Attachment.create(event=event, wechat_media_id="forgotten", created_at=clock.now() - dt.timedelta(days=4))
    centre = logged_in(console_app, "centre")
    page = centre.get(f"/console/events/{event.number}").get_data(as_text=True)
    voices = page.split('id="voices"')[1].split("</ul>")[0]
    assert f'src="/console/media/{note.id}/listen"' in voices and "<img" not in voices
    assert "网页放不了这种格式" in voices and f'href="/console/media/{silk.id}"' in voices  # SILK: download only
    assert f'<img src="/console/media/{note.id}"' not in page  # never a broken picture again
    trail = page.split('id="trajectory"')[1]
    assert f'href="/console/media/{note.id}/listen"' in trail  # the step that brought it links it as 语音
    assert "还有 1 个照片或语音正在从微信取回" in page and "1 个照片或语音没能从微信取回" in page

    heard = centre.get(f"/console/media/{note.id}/listen")
    assert heard.status_code == 200 and heard.mimetype == "audio/wav"
    with wave.open(io.BytesIO(heard.get_data())) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        assert wav.getnframes() == 50 * 160  # fifty 20-ms frames: one second
    again = centre.get(f"/console/media/{note.id}/listen", headers={"If-None-Match": heard.headers["ETag"]})
    assert again.status_code == 304
    for unplayable, why in ((silk, "网页放不了"), (broken, "文件坏了")):
        answer = centre.get(f"/console/media/{unplayable.id}/listen")
        assert answer.status_code == 404 and why in answer.get_data(as_text=True)
    assert centre.get(f"/console/media/{note.id}").get_data() == amr_bytes()  # the original, to download
    stranger = give_login(type(world.centre).create(name="外街道", role="centre_operator", area=world.other_street),
                          "stranger2")
    assert stranger and logged_in(console_app, "stranger2").get(f"/console/media/{note.id}/listen").status_code == 403
    from backend.media import delete_object

    delete_object(note.sha256)  # the file gone from the store (retention, a lost disk): a page, not a 500
    gone = centre.get(f"/console/media/{note.id}/listen", headers={"If-None-Match": '"other"'})
    assert gone.status_code == 404 and "已不存在" in gone.get_data(as_text=True)


def test_script_in_event_text_and_names_is_shown_escaped(console_app, cworld):
    world = cworld.world
    Area.update(name=XSS).where(Area.id == world.grid_a.id).execute()
    world.dept.name = XSS
    world.dept.save()
    event = at_street_centre(world, text=XSS)
    centre = logged_in(console_app, "centre")
    centre.post(f"/console/events/{event.number}/act", {"action": "comment", "note": XSS})
    pages = [centre.get(path).get_data(as_text=True) for path in (
        "/console/", f"/console/events/{event.number}", "/console/events", "/console/metrics")]
    for page in pages:
        assert XSS not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in pages[1]
    fragment = centre.post(f"/console/events/{event.number}/dispatch", {"department_id": world.dept.id},
                           htmx=True).get_data(as_text=True)
    assert XSS not in fragment and "&lt;script&gt;" in fragment
    geo = centre.get("/console/map/areas.geojson")
    # JSON is data (application/json + nosniff); map.js puts names in via textContent only.
    assert geo.mimetype == "application/json" and geo.headers["X-Content-Type-Options"] == "nosniff"
    assert XSS in {f["properties"]["name"] for f in geo.get_json()["features"]}


def test_exports_follow_the_filters_and_carry_the_trajectory(console_app, cworld):
    world = cworld.world
    wanted = at_street_centre(world, text="=HYPERLINK(\"http://evil\")楼道堆物")
    report(world, text="邻居吵架", category="0201")
    centre = logged_in(console_app, "centre")
    response = centre.get("/console/events/export.csv?category=01")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "编号" and rows[0][-1] == "流程轨迹"
    assert [row[0] for row in rows[1:]] == [wanted.number]  # the 0201 event is filtered out
    assert rows[1][4].startswith("'=HYPERLINK")  # a formula is neutralised
    assert "上报事件" in rows[1][-1] and "上报" in rows[1][-1] and "社区处理不了" in rows[1][-1]
    xlsx = centre.get("/console/events/export.xlsx?category=01")
    book = load_workbook(io.BytesIO(xlsx.get_data()))
    assert book.sheetnames == ["事件", "流程轨迹"]
    assert [c.value for c in book["事件"]["A"]][1:] == [wanted.number]
    steps = [[c.value for c in row] for row in book["流程轨迹"].iter_rows(min_row=2)]
    assert [s[3] for s in steps] == ["上报事件", "分派", "上报", "上报"]
    assert steps[-1][7] == "社区处理不了"
    everything = centre.get("/console/events/export.csv").get_data().decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(everything)))) == 3


def test_a_revisit_by_wechat_from_the_queue(console_app, cworld):
    world = cworld.world
    resident = Resident.create(oa_openid="rv-wx")
    event = report(world, resident=resident)
    actions.perform(event.number, staff_actor(world.worker_a), "accept")
    actions.perform(event.number, staff_actor(world.worker_a), "resolve", {"note": "已清理", "waive_photo": True})
    revisit = Revisit.create(event=event, reason="sample")
    centre = logged_in(console_app, "centre")
    page = centre.get("/console/revisits").get_data(as_text=True)
    assert f'id="ask-{revisit.id}"' in page and "未留电话" in page
    assert logged_in(console_app, "head").post(f"/console/revisits/{revisit.id}/wechat").status_code == 403
    asked = centre.post(f"/console/revisits/{revisit.id}/wechat")
    assert asked.status_code == 303
    revisit = Revisit.get_by_id(revisit.id)
    assert (revisit.status, revisit.channel, revisit.operator_id) == ("asked", "wechat", world.centre.id)
    assert OutboxMessage.select().where(OutboxMessage.topic == "event.revisit_ask").count() == 1
    page = centre.get("/console/revisits").get_data(as_text=True)
    assert f'id="asked-{revisit.id}"' in page  # still in the queue: a phone call remains possible
    from backend.services import revisits

    revisits.answer(resident.id, "满意")
    assert Revisit.get_by_id(revisit.id).outcome == "satisfied"
    assert f'id="revisit-{revisit.id}"' not in centre.get("/console/revisits").get_data(as_text=True)
