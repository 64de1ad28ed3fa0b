"""统计: outcome figures by area and by category over a chosen period, with a monthly trend.

Definitions are GB/T 30428's, as written in ``backend.metrics``; the numbers come from SQL
aggregates (``backend.services.admin_metrics``). Areas are listed in administrative order,
never ranked; 即报即办 is counted apart and never enters a rate; there is no login, online
time or activity figure anywhere on this page (DESIGN §8).
"""
from __future__ import annotations

import datetime as dt

from flask import Response, render_template, request

from backend import clock
from backend.exports import metrics_xlsx
from backend.metrics import format_rate
from backend.models import Area, Category
from backend.replica import reading_replica
from backend.services import admin_metrics
from backend.services.admin_areas import area_choices
from backend.services.queries import areas_in_order
from console import auth
from console.blueprint import bp

TREND_MONTHS = 12
MAX_DAYS = 366
RATE_COLUMNS = (
    ("close_rate", "结案率"), ("on_time_rate", "按期结案率"), ("rework_rate", "返工率"),
    ("satisfaction_rate", "满意率"), ("revisit_satisfaction_rate", "回访满意率"),
)


def _period(args) -> tuple[dt.date, dt.date]:
    today = clock.local_today()
    first = today.replace(day=1)
    last = (first.replace(year=first.year + (first.month == 12), month=first.month % 12 + 1)
            - dt.timedelta(days=1))
    try:
        start = dt.date.fromisoformat(args.get("from", "")) if args.get("from") else first
        end = dt.date.fromisoformat(args.get("to", "")) if args.get("to") else last
    except ValueError:
        start, end = first, last
    if end < start:
        start, end = end, start
    if (end - start).days >= MAX_DAYS:
        start = end - dt.timedelta(days=MAX_DAYS - 1)
    return start, end


def _scope(login, args) -> Area:
    wanted = args.get("area_id", "")
    if wanted.isdigit():
        area = Area.get_or_none(Area.id == int(wanted))
        if area is not None and area.path.startswith(login.scope_path):
            return area
    return login.staff.area


def page_data(scope: Area, start_day: dt.date, end_day: dt.date) -> dict:
    """Everything the page shows; also what bench/bench_metrics.py times."""
    start = clock.from_local(dt.datetime.combine(start_day, dt.time()))
    end = clock.from_local(dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time()))
    area_groups = [(a.path, a.name) for a in areas_in_order(scope)]
    category_groups = [(c.code, c.name) for c in Category.select(Category.code, Category.name)
                       .where(Category.parent.is_null()).order_by(Category.sort_order, Category.code)]
    sums = admin_metrics.period_sums(start, end, scope.path)
    period = admin_metrics.fold_period(sums, area_groups, category_groups)
    labels = admin_metrics.months_ending(end_day, TREND_MONTHS)
    trend_sums = admin_metrics.monthly_sums(labels, scope.path)
    trend = [{"month": label, **admin_metrics.figures_from_sums(trend_sums[label])} for label in labels]
    return {"period": period, "trend": trend, "start": start_day, "end": end_day, "scope": scope}


def chart_data(data: dict) -> dict:
    def pct(value):
        return None if value is None else round(value * 100, 2)

    rows = [r for r in data["period"]["by_area"] if r["key"] is not None]
    return {
        "areas": [r["name"] for r in rows],
        "area_close_rate": [pct(r["close_rate"]) for r in rows],
        "area_on_time_rate": [pct(r["on_time_rate"]) for r in rows],
        "months": [t["month"] for t in data["trend"]],
        "trend": {name: [pct(t[key]) for t in data["trend"]] for key, name in RATE_COLUMNS},
    }


def _requested(login) -> dict:
    """The page's data for the area and period the request asks for (within the login's scope)."""
    start_day, end_day = _period(request.args)
    with reading_replica():  # figures may be seconds stale (backend/replica.py)
        return page_data(_scope(login, request.args), start_day, end_day)


@bp.get("/metrics")
@auth.login_required
def metrics():
    login = auth.current()
    data = _requested(login)
    with reading_replica():
        scopes = area_choices(login.scope_path, "community")
    return render_template(
        "console/metrics.html", data=data, charts=chart_data(data), rate=format_rate,
        scopes=scopes, rate_columns=RATE_COLUMNS,
    )


@bp.get("/metrics/export.xlsx")
@auth.login_required
def export_metrics():
    """The page's tables as a workbook (for the 月报): same scope, period and figures."""
    data = _requested(auth.current())
    period, scope, start_day, end_day = data["period"], data["scope"], data["start"], data["end"]
    body = metrics_xlsx(
        f"{scope.name} {start_day} 至 {end_day} 处置成效统计（导出于 {clock.to_local(clock.now()):%Y-%m-%d %H:%M}）",
        [("按区域", "区域", period["by_area"]), ("按类别", "类别", period["by_category"]),
         ("合计", "范围", [{**period["total"], "name": scope.name}]),
         ("月度趋势", "月份", [{**month, "name": month["month"]} for month in data["trend"]])],
        period["by_area"])
    filename = f"metrics-{scope.code}-{start_day:%Y%m%d}-{end_day:%Y%m%d}.xlsx"
    return Response(body, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={filename}", "Cache-Control": "no-store"})
