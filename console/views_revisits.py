"""抽查回访: the centre calls reporters of closed events (sampled, or rated ≤ 2) and records
the outcome. 不满意 reopens the event (workflow action ``revisit``, counted as rework);
联系不上 is recorded but counts in neither side of 回访满意率."""
from __future__ import annotations

from flask import abort, render_template, request, url_for

from backend import config
from backend.crypto import FieldCipher, mask_phone
from backend.db import transaction
from backend.models import AuditLog, Event, Rating, Resident, Revisit
from backend.services import actions
from console import auth, rendering
from console.blueprint import bp

OUTCOMES = {"satisfied": "满意", "unsatisfied": "不满意（重新办理）", "unreachable": "联系不上"}
REASONS = {"sample": "随机抽查", "low_rating": "低分评价", "manual": "人工回访"}
RESIDENT_PHONE_CONTEXT = "resident.phone"


def _phone(resident: Resident | None) -> str | None:
    if resident is None or not resident.phone_enc:
        return None
    try:
        return FieldCipher.from_key(config.current().field_key).decrypt(resident.phone_enc, RESIDENT_PHONE_CONTEXT)
    except Exception:  # noqa: BLE001 — a phone sealed under another context/key is simply not shown
        return None


def _pending(login):
    return (Revisit.select(Revisit, Event).join(Event)
            .where((Revisit.status == "pending") & (Event.status == "closed")
                   & Event.area_path.startswith(login.scope_path))
            .order_by(Revisit.created_at, Revisit.id))


@bp.get("/revisits")
@auth.centre_required
def revisits():
    login = auth.current()
    items = list(_pending(login).limit(200))
    ratings = {r.event_id: r for r in Rating.select().where(Rating.event.in_([v.event_id for v in items]))} \
        if items else {}
    phones = {v.id: mask_phone(_phone(v.event.reporter_resident)) if v.event.reporter_resident_id else None
              for v in items}
    done = list(Revisit.select(Revisit, Event).join(Event)
                .where((Revisit.status == "done") & Event.area_path.startswith(login.scope_path))
                .order_by(Revisit.done_at.desc()).limit(20))
    return render_template("console/revisits.html", items=items, ratings=ratings, phones=phones, done=done,
                           outcomes=OUTCOMES, reasons=REASONS)


@bp.post("/revisits/<int:revisit_id>/phone")
@auth.centre_required
def reveal_phone(revisit_id: int):
    """The full number, to call; every reveal is audited (PIPL Art. 28)."""
    login = auth.current()
    revisit = _pending(login).where(Revisit.id == revisit_id).first()
    if revisit is None:
        abort(404)
    phone = _phone(revisit.event.reporter_resident) if revisit.event.reporter_resident_id else None
    with transaction():
        AuditLog.create(actor_staff_id=login.staff.id, actor_label=login.actor().label, action="read",
                        entity="resident.phone", entity_id=revisit.event.reporter_resident_id,
                        detail={"revisit": revisit.id, "event": revisit.event.number})
    return render_template("console/_phone.html", phone=phone)


@bp.post("/revisits/<int:revisit_id>")
@auth.centre_required
def record_revisit(revisit_id: int):
    login = auth.current()
    revisit = _pending(login).where(Revisit.id == revisit_id).first()
    if revisit is None:
        abort(404, description="这条回访已完成或不在您的辖区")
    outcome = request.form.get("outcome", "")
    event = actions.perform(revisit.event_id, login.actor(), "revisit",
                            {"outcome": outcome, "note": request.form.get("note", "")})
    message = f"已记录回访：{event.number} {OUTCOMES.get(outcome, outcome)}"
    if event.status != "closed":
        message += "，事件已重新办理"
    return rendering.back_with(message, url_for("console.revisits"))
