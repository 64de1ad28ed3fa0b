"""Staff endpoints: task lists, actions on an event, quick record (即报即办).

Every action goes through ``backend.services.actions.perform``, which checks role, scope,
holder and status against the one workflow table; this module only translates the request.
"""
from __future__ import annotations

from backend.models import Area, Event
from backend.services import actions, audit, queries
from backend.services.context import get_event
from backend.services.events import quick_record as record_quick
from miniprogram_api import presenters
from miniprogram_api.api import Api, Call
from miniprogram_api.errors import ApiError
from miniprogram_api.media import check_own_uploads
from miniprogram_api.residents import client_key_for, coordinates, visible_event
from miniprogram_api.event_schemas import (
    ActionIn,
    EventDetailOut,
    QuickRecordIn,
    TaskPage,
    TasksQuery,
)

api = Api()

ACTION_PATH_SCHEMA = {"type": "string", "enum": list(presenters.STAFF_ACTIONS)}


@api.operation("GET", "/tasks", summary="我的任务：todo 待受理 / doing 处置中（含待我核查）/ done 已办结",
               tag="staff", auth="staff", query=TasksQuery, response=TaskPage,
               description="Only what the caller's unit holds or their area covers; nearest deadline first.")
def tasks(call: Call):
    q = call.query
    page = queries.staff_tasks(call.principal.staff, q.view, q.page, q.page_size)
    audit.restricted_views(call.principal.actor, page.items, "mp_list")
    book = presenters.TaskBook(page.items)
    return TaskPage(view=q.view, items=[presenters.task_out(e, q.view, book) for e in page.items],
                    total=page.total, total_capped=page.capped, page=page.page, page_size=page.page_size)


def _params(call: Call, action: str) -> dict:
    body = call.body
    params: dict = {"note": body.note}
    if body.media_ids:
        params["media_ids"] = check_own_uploads(call.principal, body.media_ids)
        params["photo_count"] = len(params["media_ids"])
    if body.department_id is not None:
        params["department_id"] = body.department_id
    if body.duplicate_of is not None:
        target = get_event(body.duplicate_of)
        queries.check_can_see(target, call.principal.actor)
        params["duplicate_of"] = target.number
    if body.suggested_grid_id is not None:
        grid = Area.get_or_none((Area.id == body.suggested_grid_id) & (Area.level == "grid"))
        if grid is None:
            raise ApiError(400, "unknown_grid", "没有这个网格，请重新选择")
        params["suggested_grid_id"] = grid.id
    if action == "comment":
        params["internal"] = body.internal
    return params


@api.operation("POST", "/events/<number>/actions/<action>", summary="对事件执行操作（受理、退回、上报、派遣、处置、核查…）",
               tag="staff", auth="staff", body=ActionIn, response=EventDetailOut, errors=(409,),
               limit="60/minute", path_schemas={"action": ACTION_PATH_SCHEMA},
               description="Each action is allowed only for its roles and the event's states "
                           "(DESIGN §3); resolve takes photos as media_ids.")
def perform_action(call: Call):
    action = call.path["action"]
    if action not in presenters.STAFF_ACTIONS:
        raise ApiError(404, "unknown_action", "没有这个操作")
    event = visible_event(call)
    params = _params(call, action)
    event = actions.perform(event.number, call.principal.actor, action, params)
    return presenters.event_detail(event, call.principal.actor)


@api.operation("POST", "/quick-records", summary="即报即办：已当场解决的小事，一次记录（不计考核数量）",
               tag="staff", auth="staff", body=QuickRecordIn, ok=201, response=EventDetailOut,
               limit="30/minute", description="201 with the closed event; 200 with the earlier one "
                                               "when client_key repeats.")
def quick_record(call: Call):
    body, principal = call.body, call.principal
    lat, lng = coordinates(body)
    media_ids = check_own_uploads(principal, body.media_ids)
    key = client_key_for(principal, body.client_key)
    repeated = Event.select().where(Event.client_key == key).exists()
    event = record_quick(principal.staff, body.description, lat=lat, lng=lng, datum=body.datum or "wgs84",
                         category_code=body.category, media_ids=media_ids, client_key=key)
    if event.reporter_staff_id != principal.id:
        raise ApiError(409, "client_key_conflict", "提交编号冲突，请重新提交")
    return (200 if repeated else 201), presenters.event_detail(event, principal.actor)
