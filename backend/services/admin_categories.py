"""Editing event categories: plain names, keywords, time limits, default department, and the
privacy settings of DESIGN §11 — sensitivity level, retention period, "emergency: direct to".

Codes and the 大类/小类 tree are fixed (GB/T 30428 codes are shared with other systems);
what a centre tunes is how residents' words map to a category (``plain_name``,
``keywords``, read by ``backend.taxonomy.suggest``), the limits counted by ``backend.sla``
and which kind of department a dispatch preselects. New limits apply to events reported
after the change; running deadlines are not moved. A sensitivity level raised applies at once
to every event of the category (lowering never reopens cases already kept private).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from backend import privacy
from backend.db import transaction
from backend.errors import DomainError, NotFound
from backend.models import Category, Department, Event
from backend.models.categories import LIMIT_UNITS

UNIT_NAMES = {"work_hours": "工作小时", "work_days": "工作日", "hours": "自然小时", "days": "自然日"}
MAX_KEYWORDS = 60
_SPLIT = re.compile(r"[,，、;；\s]+")
EMERGENCY_NUMBERS = ("110", "119", "120", "122")
UNCHANGED = object()  # a privacy field the form did not send


@dataclass
class CategoryForm:
    plain_name: str
    keywords: str  # separated by commas, 、 or spaces
    default_department_kind: str | None
    accept_limit: int
    accept_unit: str
    resolve_limit: int
    resolve_unit: str
    verify_limit: int
    verify_unit: str
    urgent: bool = False
    photo_required: bool = True
    active: bool = True
    sensitivity: object = UNCHANGED  # public / internal / sensitive
    retention_days: object = UNCHANGED  # days after closure, "" = the level's default
    emergency_number: object = UNCHANGED  # "119" or "122,120"; "" = not an emergency category


def categories_in_order() -> list[Category]:
    """大类 each followed by its 小类, in catalogue order."""
    majors = list(Category.select().where(Category.parent.is_null()).order_by(Category.sort_order, Category.code))
    minors: dict[int, list[Category]] = {}
    for minor in Category.select().where(Category.parent.is_null(False)).order_by(Category.sort_order, Category.code):
        minors.setdefault(minor.parent_id, []).append(minor)
    out = []
    for major in majors:
        out.append(major)
        out.extend(minors.get(major.id, []))
    return out


def department_kinds() -> list[str]:
    return [row.kind for row in Department.select(Department.kind).distinct().order_by(Department.kind)]


def parse_keywords(text: str) -> list[str]:
    words, seen = [], set()
    for word in _SPLIT.split(text or ""):
        word = word.strip()
        if word and word not in seen:
            if len(word) > 16:
                raise DomainError("bad_keyword", f"关键词“{word[:16]}…”太长（每个 16 字以内）")
            seen.add(word)
            words.append(word)
    if len(words) > MAX_KEYWORDS:
        raise DomainError("too_many_keywords", f"关键词最多 {MAX_KEYWORDS} 个")
    return words


def _limit(value, unit: str, label: str) -> tuple[int, str]:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DomainError("bad_limit", f"{label}时限应是整数") from None
    if not 1 <= number <= 720:
        raise DomainError("bad_limit", f"{label}时限应在 1 到 720 之间")
    if unit not in LIMIT_UNITS:
        raise DomainError("bad_limit_unit", f"{label}时限单位不正确")
    return number, unit


def parse_emergency_number(value) -> str | None:
    """"122, 120" → "122,120"; only the four emergency numbers, at most three of them."""
    parts = [p for p in _SPLIT.split(str(value or "").strip()) if p]
    if not parts:
        return None
    if len(parts) > 3 or any(p not in EMERGENCY_NUMBERS for p in parts) or len(set(parts)) != len(parts):
        raise DomainError("bad_emergency_number", "紧急电话只能填 110、119、120、122（可填多个，用逗号分开）")
    return ",".join(parts)


def _privacy_fields(category: Category, form: CategoryForm) -> dict:
    fields: dict = {}
    if form.sensitivity is not UNCHANGED:
        if form.sensitivity not in privacy.LEVELS:
            raise DomainError("bad_sensitivity", "敏感程度只能是公开、内部或敏感")
        fields["sensitivity"] = form.sensitivity
    if form.retention_days is not UNCHANGED:
        fields["retention_days"] = privacy.check_retention_days(form.retention_days)
    if form.emergency_number is not UNCHANGED:
        fields["emergency_number"] = parse_emergency_number(form.emergency_number)
    return fields


def update_category(code: str, form: CategoryForm) -> Category:
    category = Category.get_or_none(Category.code == code)
    if category is None:
        raise NotFound("category_not_found", "没有这个类别")
    plain = (form.plain_name or "").strip()
    if not plain or len(plain) > 64:
        raise DomainError("bad_plain_name", "请填写群众说法（64 字以内）")
    kind = (form.default_department_kind or "").strip() or None
    if kind is not None and kind not in department_kinds():
        raise DomainError("bad_department_kind", "没有这种部门")
    accept = _limit(form.accept_limit, form.accept_unit, "受理")
    resolve = _limit(form.resolve_limit, form.resolve_unit, "处置")
    verify = _limit(form.verify_limit, form.verify_unit, "核查")
    extra = _privacy_fields(category, form)
    with transaction():
        (Category.update(
            plain_name=plain, keywords=parse_keywords(form.keywords), default_department_kind=kind,
            accept_limit=accept[0], accept_unit=accept[1], resolve_limit=resolve[0], resolve_unit=resolve[1],
            verify_limit=verify[0], verify_unit=verify[1], urgent=bool(form.urgent),
            photo_required=bool(form.photo_required), active=bool(form.active), **extra,
        ).where(Category.id == category.id).execute())
        if "sensitivity" in extra:
            raise_event_sensitivity(category.id, extra["sensitivity"])
    return Category.get_by_id(category.id)


def raise_event_sensitivity(category_id: int, level: str) -> int:
    """Every event of the category to at least ``level`` (never lowered); how many changed."""
    lower = privacy.LEVELS[:privacy.LEVELS.index(level)]
    if not lower:
        return 0
    return (Event.update(sensitivity=level)
            .where((Event.category == category_id) & Event.sensitivity.in_(lower)).execute())
