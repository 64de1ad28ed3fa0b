"""``/m/events/<number>?t=…``: one event for the one person its signed link was made for.

The reporter sees the public trajectory with staff names masked, the photos on it and, once it
is closed, the rating form and 没修好; when the centre asked a 回访 question, its three answers. A staff member sees the whole record of their task and the actions
the workflow lets them take now — 接单, 办结 (with photos from the phone), 退回, 上报, 核查 —
each through ``actions.perform``, so the rules are the other channels' rules. Every request
re-opens the link (backend.links.open_link: signature, lifetime, person, ``can_see``); a staff
view of a restricted case is audited (channel ``h5``).
"""
from __future__ import annotations

from flask import Response, abort, redirect, render_template, request, url_for

from backend import clock, media, voice, workflow
from backend.errors import DomainError
from backend.links import LinkHolder, LinkRefused, open_link
from backend.models import Event, Media, Rating
from backend.services import actions, audit, queries, revisits
from backend.services.context import event_view, places_for
from mobile import forms
from mobile.blueprint import bp

STAFF_ACTIONS = ("accept", "resolve", "verify", "return", "escalate")
BUTTONS = {"accept": "接单", "resolve": "办结", "verify": "核查办结", "return": "退回", "escalate": "上报"}
DONE = {"accept": "已接单，请尽快处理", "resolve": "已办结，谢谢", "verify": "已核查办结",
        "return": "已退回", "escalate": "已上报上一级", "rate": "谢谢您的评价！",
        "complain": "已转回处理人重新处理，处理好了会告诉您", "revisit": "谢谢您的回答！"}
REVISIT_ANSWERS = ("满意", "基本满意", "不满意")
NOTE_LABELS = {"resolve": "处理情况", "return": "退回原因", "escalate": "上报原因"}
NUMBER_CHARS = frozenset("0123456789-")


def _open(number: str) -> tuple[Event, LinkHolder]:
    """The event and who the link speaks for, or a 403 page (an unknown number too: a link
    must not tell a stranger which numbers exist)."""
    event = None
    if len(number) <= 20 and set(number) <= NUMBER_CHARS:
        event = Event.get_or_none(Event.number == number)
    if event is None:
        raise LinkRefused("link_invalid", "这个链接不完整或无效，请打开最新收到的消息里的链接")
    return event, open_link(request.args.get("t"), event)


def _steps(event: Event, holder: LinkHolder) -> list[dict]:
    """The trajectory this person may read: the public steps, staff masked, for the reporter."""
    return queries.trajectory(event, for_reporter=holder.is_reporter)


def _page(event: Event, holder: LinkHolder, *, error: str | None = None, status: int = 200, form=None):
    steps = _steps(event, holder)
    voice_ids = [m for step in steps for m in step["voice_ids"]]
    playable = {row.id for row in Media.select(Media.id, Media.kind, Media.mime).where(Media.id.in_(voice_ids))
                if voice.playable(row)} if voice_ids else set()
    context = {"event": event, "holder": holder, "steps": steps, "token": request.args.get("t", ""),
               "playable_voices": playable,
               "error": error, "form": form or {}, "done": DONE.get(request.args.get("ok", "")),
               "unit": event.building_unit if event.building_unit_id else None}
    if holder.is_reporter:
        rating = Rating.get_or_none(Rating.event == event.id)
        question = revisits.asked_of(holder.resident.id)
        context.update(rating=rating, can_rate=event.status == "closed" and rating is None,
                       can_complain=event.status == "closed", answers=REVISIT_ANSWERS,
                       revisit_asked=question is not None and question.event_id == event.id)
        template = "mobile/event_reporter.html"
    else:
        offered = actions.allowed_actions(event, holder.actor, STAFF_ACTIONS)
        due = _due(event)
        context.update(actions=offered, buttons=BUTTONS, note_labels=NOTE_LABELS,
                       photo_required=bool(event.category_id and event.category.photo_required),
                       due=due, overdue=due is not None and due < clock.now())
        template = "mobile/event_staff.html"
    return render_template(template, **context), status


def _due(event: Event):
    return {"assigned": event.accept_due_at, "processing": event.resolve_due_at,
            "resolved": event.verify_due_at}.get(event.status)


def _back(event: Event, done: str):
    return redirect(url_for("mobile.event_page", number=event.number, t=request.args.get("t"), ok=done), code=303)


@bp.get("/m/events/<number>")
def event_page(number: str):
    event, holder = _open(number)
    if not holder.is_reporter:
        queries.check_can_see(event, holder.actor)
        audit.restricted_views(holder.actor, [event], "h5")
    return _page(event, holder)


@bp.post("/m/events/<number>/act")
def act(number: str):
    """A staff action from the task page; a refused one comes back on the page, in words."""
    event, holder = _open(number)
    if holder.is_reporter:
        abort(403)
    action = request.form.get("action", "")
    if action not in STAFF_ACTIONS:
        return _page(event, holder, error="没有这个操作", status=400)
    try:
        params = {"note": forms.text("note", actions.MAX_NOTE, NOTE_LABELS.get(action, "说明"))}
        blobs = forms.photos() if action == "resolve" else []
        if blobs:
            params["photo_count"] = len(blobs)
            # The rule first, so a refused 办结 leaves no photo behind; then the photos.
            workflow.decide(event_view(event), holder.actor, action, params, places_for(event, action))
            params["media_ids"] = [row.id for row in media.store_photos(blobs)]
        event = actions.perform(event.number, holder.actor, action, params)
    except (DomainError, media.MediaUnavailable) as err:  # the store away: 503, nothing done
        return _page(Event.get_by_id(event.id), holder, error=err.message, status=err.status,
                     form={"action": action, "note": request.form.get("note", "")})
    return _back(event, action)


def _as_reporter(number: str, done: str, run):
    """A reporter's form: ``run(event, holder)`` calls the service; a refusal comes back on the
    page in words with what was typed kept; a staff link cannot post it (403)."""
    event, holder = _open(number)
    if not holder.is_reporter:
        abort(403)
    try:
        event = run(event, holder)
    except DomainError as err:
        return _page(Event.get_by_id(event.id), holder, error=err.message, status=err.status, form=request.form)
    return _back(event, done)


@bp.post("/m/events/<number>/rate")
def rate(number: str):
    def run(event: Event, holder: LinkHolder) -> Event:
        raw = request.form.get("score", "")
        if raw not in ("1", "2", "3", "4", "5"):
            raise DomainError("bad_score", "请选择1到5分")
        comment = forms.text("comment", forms.MAX_COMMENT, "意见")
        return actions.perform(event.number, holder.actor, "rate", {"score": int(raw), "comment": comment})

    return _as_reporter(number, "rate", run)


@bp.post("/m/events/<number>/complain")
def complain(number: str):
    """没修好: the case goes back to its last handler (返工), who is told."""
    def run(event: Event, holder: LinkHolder) -> Event:
        reason = forms.text("reason", forms.MAX_COMMENT, "原因")
        if not reason:
            raise DomainError("reason_required", "请说一说哪里没修好")
        return actions.perform(event.number, holder.actor, "complain", {"note": f"居民说没修好：{reason}"})

    return _as_reporter(number, "complain", run)


@bp.post("/m/events/<number>/revisit")
def answer_revisit(number: str):
    """The answer to the centre's 回访 question (满意 / 基本满意 / 不满意) is the revisit's result."""
    def run(event: Event, holder: LinkHolder) -> Event:
        return revisits.answer(holder.resident.id, request.form.get("answer", ""), event.number)

    return _as_reporter(number, "revisit", run)


@bp.get("/m/events/<number>/voices/<int:media_id>")
def voice_note(number: str, media_id: int):
    """A voice note shown on this person's page, as the phone's browser plays it (WeChat's AMR
    decoded to WAV, backend/voice.py); 404 for anything not on the page or not playable."""
    event, holder = _open(number)
    shown = {m for step in _steps(event, holder) for m in step["voice_ids"]}
    row = Media.get_or_none(Media.id == media_id) if media_id in shown else None
    if row is None or not voice.playable(row):
        abort(404)
    etag = voice.etag(row)
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    try:
        body, mime = voice.listen(row)
    except (voice.NotPlayable, media.MediaMissing):
        abort(404)
    response = Response(body, mimetype=mime)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/m/events/<number>/photos/<int:media_id>")
def photo(number: str, media_id: int):
    """A photo shown on this person's page, and only such a photo (the reporter's page has only
    the public steps' photos)."""
    event, holder = _open(number)
    shown = {m for step in _steps(event, holder) for m in step["photo_ids"]}
    row = Media.get_or_none(Media.id == media_id) if media_id in shown else None
    if row is None or row.kind != "image":
        abort(404)
    if request.if_none_match.contains(row.sha256):
        return Response(status=304, headers={"ETag": f'"{row.sha256}"'})
    try:
        stream = media.open_media(row)  # streamed from the store, a chunk at a time
    except media.MediaMissing:
        abort(404)
    response = Response(stream, mimetype=row.mime, direct_passthrough=True)
    response.content_length = stream.size
    response.set_etag(row.sha256)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
