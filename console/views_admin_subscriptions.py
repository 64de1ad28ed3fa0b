"""管理 · 部门数据订阅: webhook URL, secret and categories per department, the delivery log,
and retrying a failed delivery (the same ``deliver_webhook`` job the workers run).

Saving goes through ``backend.services.subscriptions.save_subscription``, which refuses
URLs pointing into our own network (SSRF). The secret is shown once, right after it is
created; afterwards only its last four characters.
"""
from __future__ import annotations

from flask import abort, render_template, request, url_for

from backend.models import DepartmentSubscription, WebhookDelivery
from backend.services import subscriptions
from backend.services.admin_categories import categories_in_order
from backend.services.admin_staff import departments_in_scope
from console import auth, rendering
from console.blueprint import bp

LOG_SIZE = 50


def _subscription_in_scope(subscription_id: int, login) -> DepartmentSubscription:
    allowed = {d.id for d in departments_in_scope(login.scope_path)}
    row = DepartmentSubscription.get_or_none(DepartmentSubscription.id == subscription_id)
    if row is None or row.department_id not in allowed:
        abort(404)
    return row


def _page(login, **extra):
    departments = departments_in_scope(login.scope_path)
    rows = list(DepartmentSubscription.select()
                .where(DepartmentSubscription.department.in_([d.id for d in departments]))
                .order_by(DepartmentSubscription.id)) if departments else []
    deliveries = {}
    for row in rows:
        deliveries[row.id] = list(WebhookDelivery.select().where(WebhookDelivery.subscription == row.id)
                                  .order_by(WebhookDelivery.id.desc()).limit(LOG_SIZE))
    delivered = {(d.subscription_id, d.outbox_id) for d in WebhookDelivery.select(
        WebhookDelivery.subscription, WebhookDelivery.outbox).where(WebhookDelivery.ok == True)}  # noqa: E712
    return render_template("console/admin_subscriptions.html", departments=departments, rows=rows,
                           deliveries=deliveries, delivered=delivered, categories=categories_in_order(), **extra)


@bp.get("/admin/subscriptions")
@auth.admin_required
def admin_subscriptions():
    return _page(auth.current())


@bp.post("/admin/subscriptions")
@auth.admin_required
def admin_subscription_save():
    login = auth.current()
    department_id = request.form.get("department_id", "")
    if not department_id.isdigit() or int(department_id) not in {d.id for d in departments_in_scope(login.scope_path)}:
        abort(400, description="请选择您辖区内的部门")
    existing = request.form.get("subscription_id", "")
    if existing:
        _subscription_in_scope(int(existing) if existing.isdigit() else -1, login)
    row = subscriptions.save_subscription(
        int(department_id), request.form.get("url", ""), category_codes=request.form.getlist("category_codes"),
        secret=request.form.get("secret") or None, active=request.form.get("active", "1") == "1",
        subscription_id=int(existing) if existing.isdigit() else None)
    if existing:
        return rendering.back_with("已保存订阅", url_for("console.admin_subscriptions"))
    return _page(login, new_secret=row.secret, new_id=row.id)


@bp.post("/admin/subscriptions/<int:subscription_id>/deactivate")
@auth.admin_required
def admin_subscription_deactivate(subscription_id: int):
    row = _subscription_in_scope(subscription_id, auth.current())
    subscriptions.deactivate_subscription(row.id)
    return rendering.back_with("已停用订阅", url_for("console.admin_subscriptions"))


@bp.post("/admin/deliveries/<int:delivery_id>/retry")
@auth.admin_required
def admin_delivery_retry(delivery_id: int):
    """Deliver again (unless it already succeeded): recorded by the service, queued by the workers."""
    login = auth.current()
    outcome = subscriptions.request_retry(delivery_id, login.scope_path)
    if outcome == "delivered":
        return rendering.back_with("这条已经投递成功，无需重试", url_for("console.admin_subscriptions"))
    if outcome == "inactive":
        return rendering.back_with("订阅已停用，先启用再重试", url_for("console.admin_subscriptions"), "error")
    return rendering.back_with("已加入重试队列", url_for("console.admin_subscriptions"))
