"""Transactional outbox (DESIGN §5, STYLE §5).

Services call ``record()`` inside their transaction; after commit they call ``publish()``
with the new ids. Listeners (the RQ relay in workers/) are registered by the composition
root — backend never imports rq. A listener failing (Redis down) loses nothing: the rows
stay unprocessed and the scheduler's sweep enqueues them later.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Callable, Iterable

from backend.models import Event, EventStep, OutboxMessage

log = logging.getLogger("ejia.outbox")
_listeners: list[Callable[[list[int]], None]] = []
_quiet = 0
_events: dict[int, int] = {}  # outbox id → event id of rows this process recorded (event_of)
_EVENTS_KEPT = 10_000


def add_listener(listener: Callable[[list[int]], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def remove_listener(listener: Callable[[list[int]], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def record(topic: str, event: Event | None = None, step: EventStep | None = None,
           payload: dict | None = None) -> OutboxMessage:
    body = dict(payload or {})
    if event is not None:
        body.setdefault("event_id", event.id)
        body.setdefault("number", event.number)
    if step is not None:
        body.setdefault("step_id", step.id)
    row = OutboxMessage.create(topic=topic, event=event, step=step, payload=body)
    if event is not None:
        if len(_events) >= _EVENTS_KEPT:  # rows rolled back or long published: forget the older half
            for key in list(_events)[:_EVENTS_KEPT // 2]:
                _events.pop(key, None)
        _events[row.id] = event.id
    return row


def event_of(outbox_id: int) -> int | None:
    """The event of a row this process recorded lately (the relay keeps an event's rows in one
    lane, in order); None when unknown — the caller reads it, or does without."""
    return _events.get(outbox_id)


@contextlib.contextmanager
def quiet():
    """Rows committed inside are not handed to the listeners. For writing the past (the demo's
    history): nobody is to be told about it now. The caller marks those rows processed, or the
    sweep would still enqueue them."""
    global _quiet
    _quiet += 1
    try:
        yield
    finally:
        _quiet -= 1


def publish(ids: Iterable[int]) -> None:
    """Hand freshly committed outbox ids to the listeners; never raises."""
    ids = [i for i in ids if i is not None]
    if not ids or _quiet:
        return
    for listener in list(_listeners):
        try:
            listener(ids)
        except Exception as exc:  # noqa: BLE001 — the sweep re-enqueues; the write already happened
            log.warning("outbox relay failed for %s (%s); the sweep will retry", ids, exc)
