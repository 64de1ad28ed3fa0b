"""Events with their trajectories as CSV and XLSX, for departments and for the record (DESIGN §5).

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


def events_xlsx(events: Iterable[Event], public: bool = False) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    def xl(value):
        value = safe_cell(value)
        return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value

    rows, steps = event_rows(events, public)
    book = Workbook(write_only=False)
    sheet = book.active
    sheet.title = "事件"
    sheet.append([label for _, label in EVENT_COLUMNS])
    for row in rows:
        sheet.append([xl(row[key]) for key, _ in EVENT_COLUMNS])
    trail = book.create_sheet("流程轨迹")
    trail.append([label for _, label in STEP_COLUMNS])
    for row in rows:
        for step in steps.get(row["id"], []):
            trail.append([xl(row["number"])] + [xl(step[key]) for key, _ in STEP_COLUMNS[1:]])
    for ws in (sheet, trail):
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
