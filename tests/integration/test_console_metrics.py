"""The console's SQL metrics — live, and from the sums the triggers keep (``metric_sum``) —
equal ``backend.metrics`` (the definitions) on a varied data set, stay equal as cases change,
and the page shows those numbers in administrative order."""
from __future__ import annotations

import datetime as dt
import random
import re

import pytest

from backend import clock, metrics
from backend.db import db
from backend.models import Category, Event, Rating, Revisit
from backend.services import admin_metrics
from tests.integration.test_console_fixtures import console_app, cworld, logged_in  # noqa: F401

STATUSES = ["closed"] * 6 + ["processing", "resolved", "assigned", "rejected", "merged", "withdrawn"]
NOW = dt.datetime(2025, 7, 15, 4, 0)  # naive UTC


def build_data_set(world, count=240, seed=7):
    rng = random.Random(seed)
    grids = [world.grid_a, world.grid_b, world.other_grid, None]
    categories = [world.cat_photo, world.cat_nophoto, world.cat_urgent, None]
    for n in range(count):
        created = dt.datetime(2025, 3, 1) + dt.timedelta(hours=rng.randrange(0, 24 * 120))
        status = rng.choice(STATUSES)
        quick = rng.random() < 0.08
        grid = rng.choice(grids)
        accepted = created + dt.timedelta(hours=rng.uniform(0.2, 30)) if status != "assigned" or quick else None
        resolved = created + dt.timedelta(hours=rng.uniform(5, 300)) if status in ("closed", "resolved") else None
        closed = resolved + dt.timedelta(hours=rng.uniform(0, 50)) if status == "closed" else None
        event = Event.create(
            number=f"T{n:05d}", description="数据集", category=rng.choice(categories), status=status,
            grid=grid, area_path=grid.path if grid else world.city.path, quick_record=quick,
            reopen_count=1 if rng.random() < 0.15 else 0, created_at=created, accepted_at=accepted,
            resolved_at=resolved, closed_at=closed, resolve_due_at=created + dt.timedelta(days=rng.choice([1, 3, 5, 10])),
            updated_at=created,
        )
        if status == "closed" and rng.random() < 0.6:
            Rating.create(event=event, score=rng.randint(1, 5), created_at=closed + dt.timedelta(hours=rng.uniform(1, 90)))
        if status == "closed" and rng.random() < 0.4:
            outcome = rng.choice(["satisfied", "satisfied", "unsatisfied", "unreachable"])
            Revisit.create(event=event, reason="sample", status=rng.choice(["done", "done", "pending"]),
                           outcome=outcome, created_at=closed, done_at=closed + dt.timedelta(hours=rng.uniform(1, 200)))


def local_days(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in naive UTC of whole local days, as the page turns its from/to into."""
    return (clock.from_local(dt.datetime.combine(first, dt.time())),
            clock.from_local(dt.datetime.combine(last + dt.timedelta(days=1), dt.time())))


PERIODS = [(dt.datetime(2025, 4, 1), dt.datetime(2025, 5, 1)), (dt.datetime(2025, 3, 10), dt.datetime(2025, 6, 20)),
           (dt.datetime(2025, 5, 3, 7, 30), dt.datetime(2025, 5, 9)),
           # User-chosen whole local days: three months, and a fortnight across a month's end.
           local_days(dt.date(2025, 3, 1), dt.date(2025, 5, 31)), local_days(dt.date(2025, 4, 24), dt.date(2025, 5, 7))]


def close(a, b):
    if a is None or b is None:
        return a is b
    return abs(a - b) < 1e-6


def same_figures(sql_row, reference_row):
    for key, value in reference_row.items():
        if key in ("key", "name"):
            assert sql_row[key] == value, key
        elif isinstance(value, float) or sql_row[key] is None or value is None:
            assert close(sql_row[key], value), (key, sql_row[key], value)
        else:
            assert sql_row[key] == value, (key, sql_row[key], value)


@pytest.mark.parametrize("period", PERIODS)
def test_sql_figures_equal_the_reference_definitions(cworld, period):
    world = cworld.world
    build_data_set(world)
    start, end = period
    categories = [(c.code, c.name) for c in Category.select().where(Category.parent.is_null()).order_by(Category.code)]
    for scope in (None, world.district.path, world.community.path):
        scope_area = world.district if scope == world.district.path else world.community if scope else world.city
        areas = [(a.path, a.name) for a in scope_area.children.order_by(*Area_order())]
        [reference_total] = metrics.metrics_for(start, end, scope)
        by_area = metrics.metrics_for(start, end, scope or world.city.path, "area")
        by_category = metrics.metrics_for(start, end, scope, "category")
        for sums in (admin_metrics.aggregate(start, end, scope), admin_metrics.period_sums(start, end, scope)):
            period_rows = admin_metrics.fold_period(sums, areas, categories)
            same_figures({**period_rows["total"], "key": None, "name": reference_total["name"]}, reference_total)
            assert [r["key"] for r in period_rows["by_area"]] == [r["key"] for r in by_area]
            for mine, reference in zip(period_rows["by_area"], by_area):
                same_figures(mine, reference)
            for mine, reference in zip(period_rows["by_category"], by_category):
                same_figures(mine, reference)
    assert reference_total["due"] > 0  # the data set really exercises the figures
    # ... including the non-additive part of 结案数: cases due in the period but closed after it.
    assert Event.select().where((Event.resolve_due_at >= start) & (Event.resolve_due_at < end)
                                & (Event.status == "closed") & (Event.closed_at >= end)).count() > 0


def test_sums_are_the_same_inside_a_transaction(cworld):
    """On PostgreSQL the queries run side by side on their own connections (jit off) outside a
    transaction, and one after the other on the caller's connection inside one: same sums."""
    build_data_set(cworld.world)
    start, end = local_days(dt.date(2025, 3, 1), dt.date(2025, 5, 31))
    outside = admin_metrics.aggregate(start, end, cworld.world.district.path)
    with db.atomic():
        inside = admin_metrics.aggregate(start, end, cworld.world.district.path)
    assert inside == outside and outside


def Area_order():
    from backend.models import Area

    return (Area.sort_order, Area.code)


def test_monthly_sums_equal_live_figures_and_follow_every_change(cworld):
    """The trend's months, the running one included, are the definitions' own; a late change to
    an old case (reopened, moved, re-rated, turned into 即报即办) shows at once, in every month
    it touches, with nothing recomputed."""
    world = cworld.world
    build_data_set(world)
    labels = admin_metrics.months_ending(dt.date(2025, 7, 10), 5)
    assert labels == ["2025-03", "2025-04", "2025-05", "2025-06", "2025-07"]

    def check(scope):
        sums = admin_metrics.monthly_sums(labels, scope)
        for label in labels:
            [reference] = metrics.metrics_for(*admin_metrics.month_bounds(label), scope)
            same_figures({**admin_metrics.figures_from_sums(sums[label]), "key": None, "name": reference["name"]},
                         reference)
        return sums

    before = check(world.community.path)
    check(world.city.path)
    start, end = admin_metrics.month_bounds("2025-04")
    victim = Event.select().where((Event.status == "closed") & (Event.resolve_due_at >= start)
                                  & (Event.resolve_due_at < end) & (Event.closed_at < end)
                                  & (Event.quick_record == False)  # noqa: E712
                                  & Event.area_path.startswith(world.community.path)).first()
    Event.update(status="processing", closed_at=None).where(Event.id == victim.id).execute()
    after = check(world.community.path)
    assert after["2025-04"]["closed"] == before["2025-04"]["closed"] - 1
    rated = Rating.select(Rating, Event).join(Event).where(
        (Event.quick_record == False) & Event.area_path.startswith(world.community.path)).first()  # noqa: E712
    Event.update(area_path=world.other_grid.path, grid=world.other_grid).where(Event.id == rated.event.id).execute()
    Rating.update(score=1 if rated.score >= 4 else 5).where(Rating.id == rated.id).execute()
    Event.update(quick_record=True).where(Event.id == victim.id).execute()
    check(world.community.path)
    check(world.city.path)
    assert admin_metrics.compact() >= 0
    check(world.community.path)
    check(world.city.path)


def metrics_page(console_app, cworld, area: str, period: str) -> tuple:
    """The reference data set, and the metrics page for ``area`` (a world attribute) over
    ``period`` ("from=…&to=…") as the city centre sees it at NOW."""
    world = cworld.world
    build_data_set(world)
    centre = logged_in(console_app, "city")
    with clock.frozen(NOW):
        page = centre.get(f"/console/metrics?area_id={getattr(world, area).id}&{period}")
    assert page.status_code == 200
    return world, page.get_data(as_text=True)


def test_metrics_page_shows_the_reference_numbers_in_administrative_order(console_app, cworld):
    world, html = metrics_page(console_app, cworld, "district", "from=2025-04-01&to=2025-04-30")
    start, end = clock.from_local(dt.datetime(2025, 4, 1)), clock.from_local(dt.datetime(2025, 5, 1))
    reference = metrics.metrics_for(start, end, world.district.path, "area")
    table = html.split('id="by-area"')[1].split("</table>")[0]
    names = re.findall(r'<td class="name">([^<]*)</td>', table)
    assert names == [r["name"] for r in reference]  # 通北街道 before 芝山街道: code order, not ranked
    for row in reference:
        cells = table.split(f'<td class="name">{row["name"]}</td>')[1].split("</tr>")[0]
        assert f'<td class="close-rate">{metrics.format_rate(row["close_rate"])}</td>' in cells
        assert f'<td class="on-time-rate">{metrics.format_rate(row["on_time_rate"])}</td>' in cells
    assert "即报即办（单列" in html
    for banned in ("登录次数", "在线时长", "活跃度", "上线"):
        assert banned not in html
    assert html.count("排名") == html.count("不作排名")


def test_a_chosen_three_month_period_shows_the_reference_figures(console_app, cworld):
    """A user-chosen period across months (whole local days): the headline figures are the
    definitions' own — 结案率 for the period, not a sum of monthly ones."""
    world, html = metrics_page(console_app, cworld, "city", "from=2025-03-01&to=2025-05-31")
    [total] = metrics.metrics_for(*local_days(dt.date(2025, 3, 1), dt.date(2025, 5, 31)), world.city.path)
    assert f'id="total-due">{total["due"]}<' in html
    assert f'结案率（{total["closed"]}/{total["due"]}）' in html
    assert f'按期结案率（{total["closed_on_time"]}/{total["due"]}）' in html
    assert f'id="total-satisfaction-rate">{metrics.format_rate(total["satisfaction_rate"])}<' in html
    assert f'id="total-revisit-rate">{metrics.format_rate(total["revisit_satisfaction_rate"])}<' in html
    monthly = [metrics.metrics_for(*admin_metrics.month_bounds(label), world.city.path)[0]
               for label in ("2025-03", "2025-04", "2025-05")]
    assert sum(m["closed"] for m in monthly) < total["closed"]  # the period is not a sum of months


def test_the_export_is_the_page_in_a_workbook(console_app, cworld):
    """导出 Excel: the page's link gives the same figures in sheets 按区域 / 按类别 / 合计 / 月度趋势 /
    即报即办 / 说明, rates as numbers shown in %; a name that looks like a formula stays text."""
    import io

    from openpyxl import load_workbook

    world = cworld.world
    world.grid_a.name = "=HYPERLINK(\"http://x\")"
    world.grid_a.save()
    world, html = metrics_page(console_app, cworld, "community", "from=2025-03-01&to=2025-05-31")
    link = re.search(r'id="export-metrics" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    centre = logged_in(console_app, "city")
    with clock.frozen(NOW):
        response = centre.get(link)
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert "metrics-" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == ["按区域", "按类别", "合计", "月度趋势", "即报即办", "说明"]
    start, end = local_days(dt.date(2025, 3, 1), dt.date(2025, 5, 31))
    by_area = metrics.metrics_for(start, end, world.community.path, "area")
    rows = list(book["按区域"].iter_rows(values_only=True))
    assert rows[0][:4] == ("区域", "应结案数", "结案数", "按期结案数")
    assert [r[0] for r in rows[1:]] == ["'" + world.grid_a.name if r["name"].startswith("=") else r["name"]
                                        for r in by_area]
    for row, reference in zip(rows[1:], by_area):
        assert row[1:4] == (reference["due"], reference["closed"], reference["closed_on_time"])
        assert row[4] == reference["close_rate"] or (row[4] is None and reference["close_rate"] is None)
    assert book["按区域"]["E2"].number_format == "0.00%"
    [total] = metrics.metrics_for(start, end, world.community.path)
    assert list(book["合计"].iter_rows(values_only=True))[1][1:4] == (total["due"], total["closed"],
                                                                     total["closed_on_time"])
    trend = [r[0] for r in list(book["月度趋势"].iter_rows(values_only=True))[1:]]
    assert trend[-3:] == ["2025-03", "2025-04", "2025-05"] and len(trend) == 12
    assert "金源社区" in book["说明"]["A1"].value and "2025-03-01 至 2025-05-31" in book["说明"]["A1"].value
    assert centre.get("/console/metrics/export.xlsx?area_id=99999&from=x&to=%00").status_code == 200  # own scope, this month
