"""The mini-program journey over real HTTP, with the WeChat sandbox and a real RQ worker:

a resident reports with a GCJ-02 point and a photo → the worker routes it → a grid worker sees it
in 待办, accepts, resolves with a photo → the resident sees it closed and rates it.
"""
from __future__ import annotations

from rq import SimpleWorker

from backend import geo
from backend.models import Staff
from tests.mp_client import image_bytes
from tests.factories import make_world
from tests.mp_fixtures import live  # noqa: F401
from workers.queues import ROUTE, queue


def route_jobs(redis_conn) -> None:
    """A real RQ worker drains the routing queue (what `python -m server worker` does)."""
    SimpleWorker([queue(ROUTE, redis_conn)], connection=redis_conn).work(burst=True)


def test_report_accept_resolve_rate(live, sandbox, redis_conn):
    world = make_world()
    Staff.update(mp_openid="sandbox-zhangsan").where(Staff.id == world.worker_a.id).execute()
    resident = live.client()
    assert resident.login("wx-resident-1")["role"] == "resident"

    g_lat, g_lng = geo.wgs84_to_gcj02(*world.in_a)  # what wx.chooseLocation returns
    located = resident.get("/locate", params={"lat": g_lat, "lng": g_lng, "datum": "gcj02"}).json
    assert located["place"]["grid"]["name"] == "金源第一网格"
    suggestion = resident.get("/categories", params={"q": "楼下垃圾好几天没人清"}).json["suggestions"][0]
    photo = resident.upload(image_bytes(color=(120, 90, 40)), "wx_tmp.jpg").json["id"]
    created = resident.report(g_lat, g_lng, datum="gcj02", category=suggestion["code"], media_ids=[photo],
                              description="楼下垃圾好几天没人清")
    assert created.status == 201 and created.json["status"] == "reported"
    number = created.json["number"]

    route_jobs(redis_conn)
    worker = live.client()
    session = worker.login("zhangsan")
    assert session["role"] == "grid_worker" and session["staff"]["area"]["name"] == "金源第一网格"
    todo = worker.get("/tasks", params={"view": "todo"}).json
    assert [t["number"] for t in todo["items"]] == [number] and todo["total"] == 1
    assert todo["items"][0]["due_at"].endswith("+08:00")
    detail = worker.get(f"/events/{number}").json
    assert detail["media_ids"] == [photo] and "accept" in detail["allowed_actions"]
    assert worker.get(f"/media/{photo}").status == 200

    accepted = worker.post(f"/events/{number}/actions/accept", {})
    assert accepted.status == 200 and accepted.json["status"] == "processing"
    assert [t["number"] for t in worker.get("/tasks", params={"view": "doing"}).json["items"]] == [number]
    after = worker.upload(image_bytes(color=(10, 200, 10)), "after.jpg").json["id"]
    resolved = worker.post(f"/events/{number}/actions/resolve", {"note": "已清运", "media_ids": [after]})
    assert resolved.status == 200 and resolved.json["status"] == "closed"  # own grid: 办结 in one step
    assert [t["number"] for t in worker.get("/tasks", params={"view": "done"}).json["items"]] == [number]

    mine = resident.get("/events").json["items"]
    assert mine[0]["number"] == number and mine[0]["status"] == "closed"
    seen = resident.get(f"/events/{number}").json
    assert [s["action"] for s in seen["trajectory"]] == ["submit", "route", "accept", "resolve"]
    assert seen["trajectory"][-1]["actor"] == "网格员 张*" and seen["trajectory"][-1]["media_ids"] == [after]
    assert seen["allowed_actions"] == ["rate"]
    rated = resident.post(f"/events/{number}/rate", {"score": 5, "comment": "很及时，谢谢"})
    assert rated.status == 200 and rated.json["rating"]["score"] == 5
    assert [c["api"] for c in sandbox.calls()].count("sns/jscode2session") == 2
