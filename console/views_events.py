"""Events: the filtered list, one event's page with its actions, photos, and exports."""
from __future__ import annotations

import peewee
from flask import Response, abort, render_template, request, url_for

from backend import clock, links, voice
from backend.exports import events_csv, events_xlsx
from backend import media as media_store
from backend.models import Area, Attachment, Department, Event, Media
from backend.models.events import STATUSES
from backend.replica import reading_replica
from backend.services import actions, audit, personal_data, queries
from backend.services.context import get_event
from console import auth, event_actions, rendering
from console.blueprint import bp
from console.event_filters import EventFilter, filtered_events
from console.rendering import deadline_state

PAGE_SIZE = 50
EXPORT_LIMIT = 50_000


def visible_event(number: str, login, channel: str | None = None) -> Event:
    """The event if this login may see it (403 otherwise); ``channel`` records the view when
    the event is restricted (backend.services.audit)."""
    event = get_event(number)
    queries.check_can_see(event, login.actor())
    if channel:
        audit.restricted_views(login.actor(), [event], channel)
    return event


def filter_choices(login) -> dict:
    from backend.services.admin_areas import area_choices
    from backend.services.admin_categories import categories_in_order

    return {"areas": area_choices(login.scope_path, "grid"), "categories": categories_in_order(),
            "statuses": STATUSES}


@bp.get("/events")
@auth.login_required
def events():
    login = auth.current()
    flt = EventFilter.from_args(request.args)
    query = filtered_events(flt, login.staff)
    total = query.count()
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    items = list(query.order_by(Event.id.desc()).paginate(page, PAGE_SIZE))
    audit.restricted_views(login.actor(), items, "console_list")
    now = clock.now()
    return render_template("console/events.html", items=items, total=total, page=page, page_size=PAGE_SIZE,
                           flt=flt, deadline=lambda e: deadline_state(e, now), **filter_choices(login))


@bp.get("/events/<number>")
@auth.login_required
def event_page(number: str):
    login = auth.current()
    event = visible_event(number, login, "console")
    allowed = event_actions.available_actions(event, login.actor())
    departments, preselected = event_actions.dispatch_departments(event) if "dispatch" in allowed else ([], None)
    grids = event_actions.transfer_grids(event, login.scope_path) if "return" in allowed else []
    attached = list(Attachment.select(Attachment, Media).join(Media, peewee.JOIN.LEFT_OUTER)
                    .where(Attachment.event == event).order_by(Attachment.id))
    photos = [(a.media_id, a.step_id) for a in attached if a.media and a.media.kind == "image"]
    voices = [(a.media_id, voice.playable(a.media)) for a in attached if a.media and a.media.kind == "voice"]
    grid = Area.get_or_none(Area.id == event.grid_id) if event.grid_id else None
    holder_name = _holder_name(event)
    map_data = {"lat": event.lat, "lng": event.lng, "boundary": grid.boundary if grid else None,
                "tile_url": rendering.tile_url()}
    return render_template(
        "console/event.html", event=event, steps=queries.trajectory(event, for_reporter=False), allowed=allowed,
        label=event_actions.label, departments=departments, preselected=preselected, grids=grids,
        photos=photos, voices=voices, waiting=pending_media(attached), grid=grid, holder_name=holder_name,
        map_data=map_data,
        deadline=deadline_state(event), duplicates=list(Event.select().where(Event.duplicate_of == event.id)),
        confirmation=links.confirmation_code(event) if event.anonymous and event.source == "h5" else None,
    )


def pending_media(attached: list[Attachment]) -> dict:
    """Of an event's attachments, the photos and voice notes sent through the chat and not (yet)
    fetched from WeChat: still coming (a job fetches them; the media sweep asks again if Redis
    lost it), or gone — WeChat keeps a media id 3 days."""
    cutoff = clock.now() - media_store.WECHAT_MEDIA_LIFETIME
    waiting = {"coming": 0, "gone": 0}
    for attachment in attached:
        if attachment.media_id is None and attachment.wechat_media_id:
            waiting["gone" if attachment.created_at <= cutoff else "coming"] += 1
    return waiting


def _holder_name(event: Event) -> str:
    if not event.holder_level:
        return ""
    if event.holder_level == "department":
        department = Department.get_or_none(Department.id == event.holder_department_id)
        return department.name if department else "部门"
    area = Area.get_or_none(Area.id == event.holder_area_id)
    suffix = {"centre": "综治中心", "community": "", "grid": ""}.get(event.holder_level, "")
    return (area.name if area else "") + suffix


@bp.post("/events/<number>/reporter")
@auth.centre_required
def reveal_reporter(number: str):
    """查看匿名举报人: street-centre operators only, with a reason; audited (backend.services.personal_data)."""
    login = auth.current()
    reporter = personal_data.reveal_reporter(login.staff, number, request.form.get("reason"))
    return render_template("console/_reporter.html", reporter=reporter)


@bp.post("/events/<number>/act")
@auth.login_required
def act(number: str):
    login = auth.current()
    event = visible_event(number, login)
    action = request.form.get("action", "")
    if action not in event_actions.CONSOLE_ACTIONS:
        abort(400, description="不支持这个操作")
    params = event_actions.params_from_form(action, request.form, login.scope_path)
    event = actions.perform(event.id, login.actor(), action, params)
    message = f"已{event_actions.label(action).split('（')[0]}：{event.number} 现在是“{event.status_name}”"
    if action == "return":
        message += "，系统将重新分派到指定网格"
    return rendering.back_with(message, url_for("console.event_page", number=event.number))


@bp.post("/events/<number>/dispatch")
@auth.centre_required
def dispatch_one_click(number: str):
    """派遣 from the queue in one click (htmx): the row is replaced by the event's new state."""
    login = auth.current()
    event = visible_event(number, login)
    params = event_actions.params_from_form("dispatch", request.form, login.scope_path)
    event = actions.perform(event.id, login.actor(), "dispatch", params)
    department = Department.get_by_id(event.holder_department_id)
    if rendering.is_htmx():
        return render_template("console/_dispatched_row.html", event=event, department=department)
    return rendering.back_with(f"{event.number} 已派遣至{department.name}", url_for("console.home"))


@bp.get("/media/<int:media_id>")
@auth.login_required
def media(media_id: int):
    """A photo of an event the staff member may see (never by guessing ids across areas)."""
    row = _visible_media(media_id)
    if request.if_none_match.contains(row.sha256):  # content-addressed: the digest is the ETag
        return Response(status=304, headers={"ETag": f'"{row.sha256}"'})
    try:
        stream = media_store.open_media(row)  # streamed from the store, a chunk at a time
    except media_store.MediaMissing:
        abort(404)
    response = Response(stream, mimetype=row.mime, direct_passthrough=True)
    response.content_length = stream.size
    response.set_etag(row.sha256)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/media/<int:media_id>/listen")
@auth.login_required
def listen(media_id: int):
    """A voice note as a browser plays it (backend/voice.py: WeChat's AMR decoded to WAV)."""
    return rendering.voice_response(_visible_media(media_id))


def _visible_media(media_id: int) -> Media:
    """The media row, if attached to an event this login may see: 404 if attached to none, 403
    otherwise (never by guessing ids across areas)."""
    attachment = Attachment.select().where(Attachment.media == media_id).order_by(Attachment.id).first()
    if attachment is None:
        abort(404)
    queries.check_can_see(Event.get_by_id(attachment.event_id), auth.current().actor())
    return Media.get_by_id(media_id)


@bp.get("/events/export.<fmt>")
@auth.login_required
def export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    login = auth.current()
    flt = EventFilter.from_args(request.args)
    public = request.args.get("public") == "1"
    query = filtered_events(flt, login.staff).order_by(Event.id)
    with reading_replica():  # an export may be seconds stale; its audit row is written on the primary
        if query.count() > EXPORT_LIMIT:
            abort(400, description=f"一次最多导出 {EXPORT_LIMIT} 件，请缩小筛选范围")
        events = list(query)
        if fmt == "csv":
            body, mime = events_csv(events, public=public), "text/csv; charset=utf-8"
        else:
            body, mime = (events_xlsx(events, public=public),
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    if not public:
        audit.restricted_views(login.actor(), events, "console_export")
    stamp = clock.to_local(clock.now()).strftime("%Y%m%d-%H%M")
    filename = f"events-{'public-' if public else ''}{stamp}.{fmt}"
    return Response(body, mimetype=mime, headers={
        "Content-Disposition": f"attachment; filename={filename}", "Cache-Control": "no-store"})
