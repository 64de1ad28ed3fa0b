"""Events with their trajectories as CSV and XLSX, for departments and for the record (DESIGN §5);
the metrics page as XLSX (``metrics_xlsx``: aggregates only, nobody's data).

CSV: one row per event, the 流程轨迹 in one multi-line cell, UTF-8 with a BOM so Excel on a
Chinese Windows opens it correctly. XLSX: sheet 事件 (one row per event) and sheet 流程轨迹
(one row per step). Times are local (Asia/Shanghai). Cells that a spreadsheet would run as
a formula (starting with = + - @ or a control character) are prefixed with an apostrophe —
a report text is data, never a formula. No reporter identity is exported.

``public=True`` makes the version a centre may hand outside (DESIGN §11): sensitive, internal
and anonymous cases left out, names and numbers masked in every text, addresses without door
numbers, points snapped to about 100 m, staff names masked and internal steps dropped.
"""
from __future__ import annotations

import csv
import io
from typing import Iterable

from backend import clock, privacy
from backend.models import Area, Category, Department, Event, EventStep
from backend.models.events import STATUS_NAMES
from backend.services.context import masked_label
from backend.workflow import ACTION_LABELS, LEVEL_NAMES

MAX_ROWS = 100_000
EVENT_COLUMNS = (
    ("number", "编号"), ("status", "状态"), ("category_code", "类别编码"), ("category", "类别"),
    ("description", "描述"), ("address", "地址"), ("lat", "纬度(WGS-84)"), ("lng", "经度(WGS-84)"),
    ("grid", "网格"), ("holder", "当前承办"), ("source", "来源"), ("urgent", "紧急"),
    ("quick_record", "即报即办"), ("created_at", "上报时间"), ("accept_due_at", "受理时限"),
    ("resolve_due_at", "处置时限"), ("accepted_at", "受理时间"), ("resolved_at", "处置时间"),
    ("closed_at", "办结时间"), ("reopen_count", "返工次数"),
)
STEP_COLUMNS = (
    ("number", "编号"), ("seq", "序号"), ("at", "时间"), ("action", "动作"), ("actor", "操作人"),
    ("from_status", "原状态"), ("to_status", "新状态"), ("note", "说明"), ("public", "居民可见"),
)
SOURCE_NAMES = {"wechat": "公众号", "miniprogram": "小程序", "console": "后台", "open311": "Open311", "staff": "工作人员",
                "h5": "扫码网页"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value):
    """Neutralise spreadsheet formulas (OWASP CSV injection) in text cells."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _local(value) -> str:
    return clock.to_local(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


class _Names:
    def __init__(self):
        self.areas = {a.id: a.name for a in Area.select(Area.id, Area.name)}
        self.departments = {d.id: d.name for d in Department.select(Department.id, Department.name)}
        self.categories = {c.id: (c.code, c.name) for c in Category.select(Category.id, Category.code, Category.name)}

    def holder(self, event: Event) -> str:
        if not event.holder_level:
            return ""
        if event.holder_level == "department":
            return self.departments.get(event.holder_department_id, "部门")
        place = self.areas.get(event.holder_area_id, "")
        return f"{place}{LEVEL_NAMES.get(event.holder_level, '')}" if event.holder_level == "centre" else place


def is_public(event: Event) -> bool:
    """May this case appear in a public output at all?"""
    return event.sensitivity == "public" and not event.anonymous


def event_rows(events: Iterable[Event], public: bool = False) -> tuple[list[dict], dict[int, list[dict]]]:
    """(event rows, steps by event id) with display values, in the given order."""
    events = list(events)
    if len(events) > MAX_ROWS:
        raise ValueError(f"at most {MAX_ROWS} events per export")
    if public:
        events = [e for e in events if is_public(e)]
    text = privacy.scrub if public else (lambda value: value)
    names = _Names()
    rows = []
    for event in events:
        code, category = names.categories.get(event.category_id, ("", ""))
        rows.append({
            "id": event.id, "number": event.number, "status": STATUS_NAMES.get(event.status, event.status),
            "category_code": code, "category": category, "description": text(event.description),
            "address": (privacy.public_address(event.address) if public else event.address) or "",
            "lat": privacy.snap(event.lat) if public else event.lat,
            "lng": privacy.snap(event.lng) if public else event.lng,
            "grid": names.areas.get(event.grid_id, ""), "holder": names.holder(event),
            "source": SOURCE_NAMES.get(event.source, event.source), "urgent": "是" if event.urgent else "",
            "quick_record": "是" if event.quick_record else "", "created_at": _local(event.created_at),
            "accept_due_at": _local(event.accept_due_at), "resolve_due_at": _local(event.resolve_due_at),
            "accepted_at": _local(event.accepted_at), "resolved_at": _local(event.resolved_at),
            "closed_at": _local(event.closed_at), "reopen_count": event.reopen_count,
        })
    steps: dict[int, list[dict]] = {}
    ids = [row["id"] for row in rows]
    for offset in range(0, len(ids), 1000):
        chunk = ids[offset:offset + 1000]
        query = EventStep.select().where(EventStep.event.in_(chunk))
        if public:
            query = query.where(EventStep.public == True)  # noqa: E712
        for step in query.order_by(EventStep.event, EventStep.id):
            seq = len(steps.setdefault(step.event_id, [])) + 1
            actor = masked_label(step.actor_label) if public and step.actor_kind == "staff" else step.actor_label
            steps[step.event_id].append({
                "seq": seq, "at": _local(step.created_at),
                "action": ACTION_LABELS.get(step.action, step.action), "actor": actor,
                "from_status": STATUS_NAMES.get(step.from_status, step.from_status or ""),
                "to_status": STATUS_NAMES.get(step.to_status, step.to_status), "note": text(step.note or ""),
                "public": "是" if step.public else "否",
            })
    return rows, steps


def trajectory_text(steps: list[dict]) -> str:
    lines = []
    for s in steps:
        line = f"{s['at']} {s['action']} {s['actor']} → {s['to_status']}"
        if s["note"]:
            line += f"：{s['note']}"
        lines.append(line)
    return "\n".join(lines)


def events_csv(events: Iterable[Event], public: bool = False) -> bytes:
    rows, steps = event_rows(events, public)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([label for _, label in EVENT_COLUMNS] + ["流程轨迹"])
    for row in rows:
        writer.writerow([safe_cell(row[key]) for key, _ in EVENT_COLUMNS]
                        + [safe_cell(trajectory_text(steps.get(row["id"], [])))])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xl(value):
    """A cell value for openpyxl: formulas neutralised, characters XML cannot hold dropped."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = safe_cell(value)
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _finish(book, sheets) -> bytes:
    from openpyxl.styles import Font

    for ws in sheets:
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def events_xlsx(events: Iterable[Event], public: bool = False) -> bytes:
    from openpyxl import Workbook

    rows, steps = event_rows(events, public)
    book = Workbook(write_only=False)
    sheet = book.active
    sheet.title = "事件"
    sheet.append([label for _, label in EVENT_COLUMNS])
    for row in rows:
        sheet.append([_xl(row[key]) for key, _ in EVENT_COLUMNS])
    trail = book.create_sheet("流程轨迹")
    trail.append([label for _, label in STEP_COLUMNS])
    for row in rows:
        for step in steps.get(row["id"], []):
            trail.append([_xl(row["number"])] + [_xl(step[key]) for key, _ in STEP_COLUMNS[1:]])
    return _finish(book, (sheet, trail))


# The metrics page's figures (backend.metrics), one column each; rates as fractions shown as %.
METRIC_COLUMNS = (
    ("due", "应结案数"), ("closed", "结案数"), ("closed_on_time", "按期结案数"), ("close_rate", "结案率"),
    ("on_time_rate", "按期结案率"), ("mean_hours_to_accept", "平均受理时长(小时)"),
    ("mean_hours_to_resolve", "平均处置时长(小时)"), ("closed_in_period", "本期办结"), ("reopened", "其中返工"),
    ("rework_rate", "返工率"), ("ratings", "评价数"), ("satisfied_ratings", "满意评价"), ("satisfaction_rate", "满意率"),
    ("revisits", "回访数"), ("satisfied_revisits", "回访满意"), ("revisit_satisfaction_rate", "回访满意率"),
)


def metrics_xlsx(heading: str, tables: Iterable[tuple[str, str, list[dict]]], quick: list[dict]) -> bytes:
    """The metrics page as a workbook: one sheet per table (sheet name, first column's label,
    rows with ``name`` and the figures), then 即报即办 (``name``, ``quick_record_count``).
    ``heading`` (scope and period) and the definitions go in a last sheet, 说明."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    sheets = []
    for title, first, rows in tables:
        sheet = book.create_sheet(title)
        sheet.append([first] + [label for _, label in METRIC_COLUMNS])
        for row in rows:
            sheet.append([_xl(row["name"])] + [_metric_cell(key, row[key]) for key, _ in METRIC_COLUMNS])
            for cell, (key, _) in zip(sheet[sheet.max_row][1:], METRIC_COLUMNS):
                if key.endswith("_rate"):
                    cell.number_format = "0.00%"
        sheets.append(sheet)
    sheet = book.create_sheet("即报即办")
    sheet.append(["区域", "件数（单列，不计入指标）"])
    for row in quick:
        sheet.append([_xl(row["name"]), row["quick_record_count"]])
    notes = book.create_sheet("说明")
    notes.append([_xl(heading)])
    notes.append(["口径（GB/T 30428）：应结案数为处置时限落在本期内的事件；结案率＝结案数÷应结案数；"
                  "按期结案率＝按期结案数÷应结案数；返工率＝本期办结中曾返工的比例；满意率＝4 分及以上评价÷评价数，"
                  "未评价的不计入；回访满意率不含联系不上。区域按行政区划顺序排列，不作排名。空格表示没有可计算的数。"])
    return _finish(book, sheets + [sheet])


def _metric_cell(key: str, value):
    if value is None:
        return None
    return round(value, 1) if key.startswith("mean_hours") else value
