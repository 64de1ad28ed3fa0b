"""The audit trail of personal and sensitive data (PIPL Art. 28; DESIGN §11).

One ``AuditLog`` row per read or write of what needs one: a person record, a phone
revealed for a call, the reporter of an anonymous case revealed, and every time staff see
a restricted case (sensitive or anonymous) — in a list, on its page, in an export — and
every use of an Open311 key with full read scope. Rows are written by the service that
does the reading, in the same request, so a view that happened is a view on record.
"""
from __future__ import annotations

from typing import Iterable

from backend.models import AuditLog, Event
from backend.workflow import Actor

# Where a view happened, as stored in ``detail.channel``.
CHANNELS = ("console", "console_list", "console_export", "console_map", "mp", "mp_list", "chat", "open311",
            "h5")


def record(actor: Actor | None, action: str, entity: str, entity_id: int | None, label: str | None = None,
           **detail) -> AuditLog:
    """One row; ``actor`` None means the system itself (a nightly job) or a named client (``label``)."""
    staff_id = actor.id if actor is not None and actor.kind == "staff" else None
    who = label or (actor.label if actor is not None else "系统")
    return AuditLog.create(actor_staff_id=staff_id, actor_label=(who or "系统")[:64], action=action,
                           entity=entity, entity_id=entity_id, detail=detail or None)


def restricted_views(actor: Actor, events: Iterable[Event], channel: str) -> int:
    """A ``read`` row for each restricted case among ``events`` that ``actor`` (staff) is shown.

    The reporter reading their own report is not audited; nor is anything not restricted.
    Returns how many rows were written (one INSERT for the lot).
    """
    if actor.kind != "staff":
        return 0
    rows = [{"actor_staff_id": actor.id, "actor_label": (actor.label or "工作人员")[:64], "action": "read",
             "entity": "event", "entity_id": event.id,
             "detail": {"channel": channel, "number": event.number,
                        "why": "sensitive" if event.sensitivity == "sensitive" else "anonymous"}}
            for event in events if event.restricted]
    if rows:
        AuditLog.insert_many(rows).execute()
    return len(rows)
