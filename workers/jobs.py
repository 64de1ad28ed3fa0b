"""RQ jobs: importable module functions that take ids and re-load rows (STYLE §6)."""
from __future__ import annotations

import logging

from backend import clock
from backend.db import db
from backend.models import OutboxMessage
from backend.services.events import route_event

log = logging.getLogger("ejia.jobs")

# Topics whose event needs (re-)routing.
ROUTE_TOPICS = ("event.submitted", "event.return")


def process_outbox(outbox_id: int) -> str:
    """Act on one outbox row once: route new/returned events. Errors propagate so RQ retries."""
    with db.connection_context():
        message = OutboxMessage.get_or_none(OutboxMessage.id == outbox_id)
        if message is None:
            log.info("outbox %s no longer exists; nothing to do", outbox_id)
            return "missing"
        if message.processed_at is not None:
            return "already processed"
        if message.topic in ROUTE_TOPICS:
            event_id = message.payload.get("event_id")
            if not isinstance(event_id, int):
                raise ValueError(f"outbox {outbox_id}: payload has no event_id")
            event = route_event(event_id)
            log.info("outbox %s: event %s routed (%s)", outbox_id, event.number, event.status)
        OutboxMessage.update(processed_at=clock.now()).where(OutboxMessage.id == outbox_id).execute()
        return "done"


def sweep_outbox() -> int:
    from rq import get_current_job

    from workers.relay import sweep

    with db.connection_context():
        return sweep(get_current_job().connection)
