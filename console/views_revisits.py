"""抽查回访: the centre calls reporters of closed events (sampled, or rated ≤ 2) and records
the outcome. 不满意 reopens the event (workflow action ``revisit``, counted as rework);
联系不上 is recorded but counts in neither side of 回访满意率."""
from __future__ import annotations

from flask import abort, render_template, request, url_for

from backend.crypto import mask_phone
from backend.db import transaction
from backend.models import AuditLog, Event, Rating, Resident, Revisit
from backend.services import actions, audit
from backend.services import revisits as revisit_service
from backend.services.personal_data import resident_phone
from backend.services.queries import visible_clause
from console import auth, rendering
from console.blueprint import bp

OUTCOMES = {"satisfied": "满意", "unsatisfied": "不满意（重新办理）", "unreachable": "联系不上"}
REASONS = {"sample": "随机抽查", "low_rating": "低分评价", "manual": "人工回访"}


def _phone(event: Event) -> str | None:
    """The reporter's phone, unless the report was anonymous (staff never learn that from here)."""
    if event.anonymous or not event.reporter_resident_id:
        return None
    return resident_phone(Resident.get_or_none(Resident.id == event.reporter_resident_id))


def _pending(login):
    return (Revisit.select(Revisit, Event).join(Event)
            .where(Revisit.status.in_(("pending", "asked")) & (Event.status == "closed") & visible_clause(login.staff))
            .order_by(Revisit.created_at, Revisit.id))


@bp.get("/revisits")
@auth.centre_required
def revisits():
    login = auth.current()
    items = list(_pending(login).limit(200))
    ratings = {r.event_id: r for r in Rating.select().where(Rating.event.in_([v.event_id for v in items]))} \
        if items else {}
    phones = {v.id: mask_phone(_phone(v.event)) for v in items}
    audit.restricted_views(login.actor(), [v.event for v in items], "console_list")
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
    if revisit.event.anonymous:
        abort(403, description="匿名上报的事件不能查看电话")
    phone = _phone(revisit.event)
    with transaction():
        AuditLog.create(actor_staff_id=login.staff.id, actor_label=login.actor().label, action="read",
                        entity="resident.phone", entity_id=revisit.event.reporter_resident_id,
                        detail={"revisit": revisit.id, "event": revisit.event.number})
    return render_template("console/_phone.html", phone=phone)


@bp.post("/revisits/<int:revisit_id>/wechat")
@auth.centre_required
def ask_by_wechat(revisit_id: int):
    """微信回访: the question goes to the reporter on the channel that reaches them; their answer
    (满意 / 基本满意 / 不满意) becomes the result (backend.services.revisits)."""
    login = auth.current()
    if _pending(login).where(Revisit.id == revisit_id).first() is None:
        abort(404, description="这条回访已完成或不在您的辖区")
    revisit = revisit_service.ask_by_wechat(revisit_id, login.staff)
    return rendering.back_with(f"已通过微信询问 {revisit.event.number} 的举报人，回复后自动记录",
                               url_for("console.revisits"))


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
