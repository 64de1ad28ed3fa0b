"""``/q/<token>``: what a building unit's QR poster opens — report right where you stand.

The page names the building and unit (and its community and grid) from the poster's token, so
the resident types only what happened: 楼栋/单元 are never asked (``Submission.building_unit_id``).
Inside WeChat the report is the resident's own (网页授权, mobile.identity) and its progress
comes back by the delivery policy; the page also says how to follow the official account.
Outside WeChat it is anonymous and answered with its number, shown once, to quote later.

A submit carries the form's one-time key: pressing 提交 twice, or the browser resending, files
one report. Bad input — nothing written, in words on the same page with what was typed kept:
no description, one too long, a fake or huge photo, a stale form; too many anonymous reports
from one address in an hour → 429.
"""
from __future__ import annotations

import uuid

from flask import current_app, redirect, render_template, request, url_for

from backend import media
from backend.errors import DomainError, NotFound
from backend.links import confirmation_code, event_link
from backend.models import BuildingUnit, Event
from backend.qr import TOKEN_RE
from backend.services.context import resident_actor
from backend.services.events import MAX_DESCRIPTION, Submission, submit_event
from backend.workflow import Actor
from mobile import forms, identity
from mobile.blueprint import bp
from mobile.rendering import unit_place

ANONYMOUS = Actor(kind="resident", id=None, label="居民（匿名）")
SUBMITS_PER_HOUR = 20
UNKNOWN_POSTER = "没有找到这个楼栋二维码。请核对海报，或在公众号里直接反映问题。"


def _unit(token: str) -> BuildingUnit:
    unit = BuildingUnit.get_or_none(BuildingUnit.qr_token == token) if TOKEN_RE.match(token) else None
    if unit is None:
        raise NotFound("unknown_building", UNKNOWN_POSTER)  # → the 404 page (mobile.web)
    return unit


def _form_page(unit: BuildingUnit, resident, *, error: str | None = None, status: int = 200,
               description: str = "", key: str | None = None):
    return render_template(
        "mobile/unit.html", unit=unit, place=unit_place(unit), resident=resident, in_wechat=identity.in_wechat(),
        account_name=current_app.extensions["ejia.settings"].wechat_account_name, error=error,
        description=description, client_key=key or uuid.uuid4().hex, max_description=MAX_DESCRIPTION,
        max_photos=forms.MAX_PHOTOS,
    ), status


@bp.get("/q/<token>")
def unit_page(token: str):
    unit = _unit(token)
    resident = identity.current_resident()
    if resident is None and identity.in_wechat():
        here = url_for("mobile.unit_page", token=token, _external=True)
        if "code" not in request.args:
            return identity.authorize_redirect(lambda url: redirect(url, code=302), here)
        resident = identity.resident_from_callback()
        if resident is not None:  # drop ?code= from the address: a reload must not reuse it
            response = redirect(here, code=303)
            identity.remember(response, resident)
            identity.forget_state(response)
            return response
    return _form_page(unit, resident)


@bp.post("/q/<token>")
def unit_report(token: str):
    unit = _unit(token)
    resident = identity.current_resident()
    description = (request.form.get("description") or "").strip()
    try:
        client_key = f"h5:{'r%d' % resident.id if resident else 'a'}:{forms.client_key()}"
        media_ids: list[int] = []
        if not Event.select().where(Event.client_key == client_key).exists():
            # A first submit: checked in full, photos stored only once everything else is right.
            # A repeat skips all of it; submit_event answers with the report already filed.
            if resident is None:
                forms.spend("anonymous-report", SUBMITS_PER_HOUR, 3600)
            if not description:
                raise DomainError("description_required", "请写一写发生了什么")
            if len(description) > MAX_DESCRIPTION:
                raise DomainError("description_too_long", f"描述太长了，请控制在{MAX_DESCRIPTION}字以内")
            media_ids = [row.id for row in media.store_photos(forms.photos())]
        result = submit_event(Submission(
            description=description, reporter=resident_actor(resident) if resident else ANONYMOUS, source="h5",
            building_unit_id=unit.id, location_confirmed=True, anonymous=resident is None,
            client_key=client_key, media_ids=media_ids,
        ))
    except (DomainError, media.MediaUnavailable) as err:  # the store away: 503, what was typed kept
        key = request.form.get("client_key", "")
        return _form_page(unit, resident, error=err.message, status=err.status, description=description,
                          key=key if forms.CLIENT_KEY_RE.match(key) else None)
    return _reported(unit, resident, result.event, created=result.created, emergency=result.emergency)


def _reported(unit: BuildingUnit, resident, event: Event, *, created: bool, emergency):
    link = event_link(event, resident=resident) if resident is not None else None
    confirmation = confirmation_code(event) if resident is None else None
    return render_template("mobile/reported.html", event=event, place=unit_place(unit), link=link,
                           confirmation=confirmation, emergency=emergency, created=created), (201 if created else 200)


@bp.route("/q/", defaults={"rest": ""}, methods=["GET", "POST"])
@bp.route("/q/<path:rest>", methods=["GET", "POST"])
def unknown_poster(rest: str):
    raise NotFound("unknown_building", UNKNOWN_POSTER)
