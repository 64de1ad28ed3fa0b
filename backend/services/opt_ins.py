"""Mini-program subscribe-message opt-ins (issue 14): what a resident answered in
``wx.requestSubscribeMessage``, per template id.

Each ``accept`` is one message we may send later (WeChat's one-time subscription); ``reject``
and ``filter`` (the user turned the template off) are recorded and change nothing; ``ban``
(subscriptions switched off altogether) clears what was left. Only the templates the system
actually uses may be recorded (``backend.config.subscribe_templates``).
"""
from __future__ import annotations

from backend import clock, config
from backend.db import transaction
from backend.errors import DomainError
from backend.models import Resident, SubscribeOptIn

ANSWERS = ("accept", "reject", "ban", "filter")
MAX_ANSWERS = 10  # WeChat asks about at most 3 templates at a time
MAX_REMAINING = 100


def known_templates() -> set[str]:
    return set(config.subscribe_templates(config.current()).values())


def record_answers(resident: Resident, answers: dict[str, str]) -> dict[str, int]:
    """Store the answers; return the opt-ins now left per template id. All or nothing."""
    if not isinstance(answers, dict) or not answers:
        raise DomainError("no_answers", "没有收到订阅结果")
    if len(answers) > MAX_ANSWERS:
        raise DomainError("too_many_answers", f"一次最多 {MAX_ANSWERS} 个模板")
    known = known_templates()
    unknown = sorted(t for t in answers if t not in known)
    if unknown:
        raise DomainError("unknown_template", "不认识这些订阅模板：" + "、".join(t[:64] for t in unknown))
    bad = sorted(a for a in answers.values() if a not in ANSWERS)
    if bad:
        raise DomainError("bad_answer", "订阅结果只能是 accept、reject、ban 或 filter")
    left: dict[str, int] = {}
    with transaction():
        for template_id, answer in answers.items():
            row, _ = SubscribeOptIn.get_or_create(resident=resident.id, template_id=template_id,
                                                  defaults={"remaining": 0, "last_answer": answer})
            remaining = row.remaining
            if answer == "accept":
                remaining = min(MAX_REMAINING, remaining + 1)
            elif answer == "ban":
                remaining = 0
            SubscribeOptIn.update(remaining=remaining, last_answer=answer, updated_at=clock.now()
                                  ).where(SubscribeOptIn.id == row.id).execute()
            left[template_id] = remaining
    return left


def opt_ins_left(resident: Resident) -> int:
    """All one-time opt-ins this resident has given and we have not used (for 我的信息)."""
    rows = SubscribeOptIn.select(SubscribeOptIn.remaining).where(SubscribeOptIn.resident == resident.id)
    return sum(r.remaining for r in rows)


def forget(resident: Resident) -> None:
    """删除我的信息: the opt-ins go with the rest."""
    SubscribeOptIn.delete().where(SubscribeOptIn.resident == resident.id).execute()
