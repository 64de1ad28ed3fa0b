"""Resident endpoints: categories, locate, building QR, report, my events, withdraw, rate, feedback."""
from __future__ import annotations

from backend import clock, taxonomy
from backend.errors import NotFound
from backend.models import Category
from backend.qr import unit_for_scan
from backend.models.events import STATUS_NAMES
from backend.services import actions, audit, feedback, queries
from backend.services import follow as follow_service
from backend.services.context import get_event
from backend.services.events import Submission, submit_event
from miniprogram_api import presenters
from miniprogram_api.api import Api, Call
from miniprogram_api.errors import ApiError
from miniprogram_api.media import check_own_uploads
from miniprogram_api.places import locate_grid, place_for_path, to_wgs84_checked
from miniprogram_api.event_schemas import (
    FollowOut,
    CreateEventIn,
    CreatedEventOut,
    EmergencyOut,
    EventDetailOut,
    EventPage,
    RateIn,
    WithdrawIn,
)
from miniprogram_api.schemas import (
    BuildingOut,
    BuildingQuery,
    CategoriesOut,
    CategoriesQuery,
    CategoryNode,
    FeedbackIn,
    FeedbackOut,
    FeedbackPage,
    LocateOut,
    LocateQuery,
    PageQuery,
    Suggestion,
    UnitRef,
)

api = Api()


def client_key_for(principal, key: str) -> str:
    """Client keys are namespaced per person: nobody can fetch another's event by guessing one."""
    return f"mp:{principal.kind[0]}{principal.id}:{key}"


def coordinates(body) -> tuple[float | None, float | None]:
    """(lat, lng) as sent, after checking they are complete, ranged and inside the served area."""
    if body.lat is None and body.lng is None:
        return None, None
    if body.lat is None or body.lng is None:
        raise ApiError(400, "bad_coordinates", "位置不完整：纬度和经度都要有")
    if body.datum is None:
        raise ApiError(400, "datum_required", "请说明坐标系：wx.chooseLocation 为 gcj02，wx.getLocation 默认为 wgs84")
    to_wgs84_checked(body.lat, body.lng, body.datum)
    return body.lat, body.lng


@api.operation("GET", "/categories", summary="事件类别（群众说法的两级目录）；带 q 时给出建议", tag="residents",
               query=CategoriesQuery, response=CategoriesOut)
def categories(call: Call):
    rows = list(Category.select().where(Category.active == True).order_by(Category.sort_order, Category.code))  # noqa: E712
    children: dict[int, list[Category]] = {}
    for row in rows:
        if row.parent_id:
            children.setdefault(row.parent_id, []).append(row)

    def node(row: Category) -> CategoryNode:
        return CategoryNode(code=row.code, name=row.name, plain_name=row.plain_name, urgent=row.urgent,
                            photo_required=row.photo_required, emergency_number=row.emergency_number,
                            children=[node(c) for c in children.get(row.id, [])])

    suggestions = []
    if call.query.q and call.query.q.strip():
        leaves = [r for r in rows if r.parent_id]
        by_code = {r.code: r for r in leaves}
        for code, score in taxonomy.suggest(call.query.q, leaves, limit=3):
            row = by_code[code]
            suggestions.append(Suggestion(code=code, name=row.name, plain_name=row.plain_name, score=score))
    return CategoriesOut(items=[node(r) for r in rows if r.parent_id is None], suggestions=suggestions)


@api.operation("GET", "/locate", summary="坐标 → 所在社区与网格（供页面确认）", tag="residents",
               query=LocateQuery, response=LocateOut)
def locate(call: Call):
    q = call.query
    lat, lng = to_wgs84_checked(q.lat, q.lng, q.datum)
    grid = locate_grid(lat, lng)
    place = place_for_path(grid.path) if grid else None
    message = (f"这个位置属于：{place.label}" if place
               else "这个位置不在任何网格内，将由综治中心接收处理")
    return LocateOut(lat=lat, lng=lng, datum=q.datum, in_grid=grid is not None, place=place, message=message)


@api.operation("GET", "/buildings/by-qr", summary="扫描楼栋单元二维码 → 楼栋、单元和所在网格", tag="residents",
               query=BuildingQuery, response=BuildingOut, errors=(404,))
def building_by_qr(call: Call):
    unit = unit_for_scan(call.query.qr)
    if unit is None:
        raise NotFound("unknown_building", "没有找到这个楼栋二维码")
    building = unit.building
    return BuildingOut(id=building.id, name=building.name, address=building.address,
                       unit=UnitRef(id=unit.id, name=unit.name), place=place_for_path(building.area.path))


@api.operation("POST", "/events", summary="上报事件", tag="residents", auth="resident", body=CreateEventIn,
               ok=201, response=CreatedEventOut, errors=(409,), limit="10/minute;100/day",
               description="201 with the new event; 200 with the earlier one when client_key repeats. "
                           "Either lat/lng/datum or building_qr locates it.")
def create_event(call: Call):
    body, principal = call.body, call.principal
    lat, lng = coordinates(body)
    unit_id = None
    if body.building_qr:
        unit = unit_for_scan(body.building_qr)
        if unit is None:
            raise ApiError(400, "unknown_building", "没有找到这个楼栋二维码，请重新扫描")
        unit_id = unit.id
    if lat is None and unit_id is None:
        raise ApiError(400, "location_required", "请在地图上选一个位置，或扫描楼栋二维码")
    media_ids = check_own_uploads(principal, body.media_ids)
    result = submit_event(Submission(
        description=body.description, reporter=principal.actor, source="miniprogram",
        category_code=body.category, lat=lat, lng=lng, datum=body.datum or "wgs84", address=body.address,
        building_unit_id=unit_id, location_confirmed=True, anonymous=body.anonymous,
        client_key=client_key_for(principal, body.client_key), media_ids=media_ids,
    ))
    event = result.event
    if event.reporter_resident_id != principal.id:
        raise ApiError(409, "client_key_conflict", "提交编号冲突，请重新提交")
    out = CreatedEventOut(**presenters.event_fields(event, presenters.Book([event]), for_reporter=True),
                          created=result.created, nearby=presenters.nearby_out(result.nearby),
                          emergency=EmergencyOut(numbers=list(result.emergency.numbers), advice=result.emergency.advice)
                          if result.emergency else None)
    return (201 if result.created else 200), out


@api.operation("GET", "/events", summary="我上报的事件（分页）", tag="residents", auth="resident",
               query=PageQuery, response=EventPage)
def my_events(call: Call):
    page = queries.resident_events(call.principal.id, call.query.page, call.query.page_size)
    return EventPage(items=presenters.events_out(page.items, for_reporter=True), total=page.total,
                     page=page.page, page_size=page.page_size)


def visible_event(call: Call):
    event = get_event(call.path["number"])
    queries.check_can_see(event, call.principal.actor)
    audit.restricted_views(call.principal.actor, [event], "mp")
    return event


@api.operation("GET", "/events/<number>", summary="事件详情与流程轨迹（居民看到的工作人员姓名已脱敏）",
               tag="events", auth="any", response=EventDetailOut)
def event_detail(call: Call):
    return presenters.event_detail(visible_event(call), call.principal.actor)


@api.operation("POST", "/events/<number>/withdraw", summary="撤回（待分派、待受理时）", tag="residents",
               auth="resident", body=WithdrawIn, response=EventDetailOut, errors=(409,))
def withdraw(call: Call):
    event = visible_event(call)
    event = actions.perform(event.number, call.principal.actor, "withdraw", {"note": call.body.note})
    return presenters.event_detail(event, call.principal.actor)


@api.operation("POST", "/events/<number>/follow", summary="关注这件（附近已有人报过同样的问题，不再重复上报）",
               tag="residents", auth="resident", response=FollowOut, limit="30/minute")
def follow(call: Call):
    event = follow_service.follow_event(call.path["number"], call.principal.resident)
    return FollowOut(number=event.number, status=event.status, status_name=STATUS_NAMES[event.status],
                     following=True)


@api.operation("POST", "/events/<number>/rate", summary="评价（办结后一次，1–5 分）", tag="residents",
               auth="resident", body=RateIn, response=EventDetailOut, errors=(409,))
def rate(call: Call):
    event = visible_event(call)
    event = actions.perform(event.number, call.principal.actor, "rate",
                            {"score": call.body.score, "comment": call.body.comment})
    return presenters.event_detail(event, call.principal.actor)


# ---- 意见反馈 ----------------------------------------------------------------------------

def _owner(principal) -> dict:
    return {"resident_id": principal.id} if principal.kind == "resident" else {"staff_id": principal.id}


def feedback_out(row) -> FeedbackOut:
    return FeedbackOut(id=row.id, content=row.content, status=row.status,
                       status_name=feedback.STATUS_NAMES.get(row.status, row.status), reply=row.reply,
                       created_at=clock.iso(row.created_at), updated_at=clock.iso(row.updated_at))


@api.operation("POST", "/feedback", summary="意见反馈（对小程序本身）", tag="feedback", body=FeedbackIn,
               ok=201, response=FeedbackOut, limit="5/minute;50/day")
def submit_feedback(call: Call):
    return feedback_out(feedback.submit_feedback(call.body.content, **_owner(call.principal)))


@api.operation("GET", "/feedback", summary="我的意见反馈及处理状态", tag="feedback", query=PageQuery,
               response=FeedbackPage)
def list_feedback(call: Call):
    page = feedback.my_feedback(**_owner(call.principal), page=call.query.page, page_size=call.query.page_size)
    return FeedbackPage(items=[feedback_out(r) for r in page.items], total=page.total, page=page.page,
                        page_size=page.page_size)


@api.operation("GET", "/feedback/<int:feedback_id>", summary="一条意见反馈", tag="feedback",
               response=FeedbackOut)
def get_feedback(call: Call):
    return feedback_out(feedback.get_feedback(call.path["feedback_id"], **_owner(call.principal)))
