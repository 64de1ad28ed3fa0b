"""意见反馈 about the app itself: residents and staff submit, the centre answers with a status.

The article behind this product collected 149 such problems in its pilot; each one is kept
with its status so the person who raised it can see what became of it.
"""
from __future__ import annotations

import re

from backend import clock
from backend.db import transaction
from backend.errors import DomainError, NotFound
from backend.models import AppFeedback
from backend.services.queries import MAX_PAGE_SIZE, Page

STATUS_NAMES = {"open": "待处理", "accepted": "已采纳", "fixed": "已解决", "declined": "暂不采纳"}
MAX_CONTENT = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _owner_clause(resident_id: int | None, staff_id: int | None):
    if (resident_id is None) == (staff_id is None):
        raise ValueError("exactly one of resident_id, staff_id")
    if resident_id is not None:
        return AppFeedback.resident == resident_id
    return AppFeedback.staff == staff_id


def submit_feedback(content: str, *, resident_id: int | None = None, staff_id: int | None = None) -> AppFeedback:
    _owner_clause(resident_id, staff_id)
    text = (content or "").strip()
    if not text:
        raise DomainError("content_required", "请写下您遇到的问题或建议")
    if len(text) > MAX_CONTENT or _CONTROL.search(text):
        raise DomainError("content_too_long", f"反馈请控制在{MAX_CONTENT}字以内")
    now = clock.now()
    with transaction():
        return AppFeedback.create(resident=resident_id, staff=staff_id, content=text, status="open",
                                  created_at=now, updated_at=now)


def my_feedback(*, resident_id: int | None = None, staff_id: int | None = None, page: int = 1,
                page_size: int = 20) -> Page:
    if not (page >= 1 and 1 <= page_size <= MAX_PAGE_SIZE):
        raise DomainError("bad_paging", f"页码从 1 开始，每页 1 到 {MAX_PAGE_SIZE} 条")
    query = AppFeedback.select().where(_owner_clause(resident_id, staff_id))
    total = query.count()
    items = list(query.order_by(AppFeedback.id.desc()).paginate(page, page_size))
    return Page(items, total, page, page_size)


def get_feedback(feedback_id: int, *, resident_id: int | None = None, staff_id: int | None = None) -> AppFeedback:
    """One's own feedback; someone else's is reported as not found (no existence oracle)."""
    row = AppFeedback.get_or_none((AppFeedback.id == feedback_id) & _owner_clause(resident_id, staff_id))
    if row is None:
        raise NotFound("feedback_not_found", "没有找到这条反馈")
    return row


def answer_feedback(feedback_id: int, status: str, reply: str | None = None) -> AppFeedback:
    """The centre's answer (console): a status and an optional reply shown to the author."""
    if status not in STATUS_NAMES:
        raise DomainError("bad_status", "状态只能是：" + "、".join(STATUS_NAMES.values()))
    with transaction():
        updated = (AppFeedback.update(status=status, reply=(reply or "").strip() or None, updated_at=clock.now())
                   .where(AppFeedback.id == feedback_id).execute())
        if not updated:
            raise NotFound("feedback_not_found", "没有找到这条反馈")
    return AppFeedback.get_by_id(feedback_id)
