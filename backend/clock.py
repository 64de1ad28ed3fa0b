"""Time in one place: naive UTC in storage, Asia/Shanghai at the edges.

Tests and the scheduler freeze the clock with ``frozen(dt)`` instead of patching
``datetime`` everywhere.
"""
from __future__ import annotations

import contextlib
import datetime as dt
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    """Current time as naive UTC (the storage convention)."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def to_local(value: dt.datetime) -> dt.datetime:
    """Naive UTC → aware Asia/Shanghai."""
    return value.replace(tzinfo=dt.timezone.utc).astimezone(LOCAL_TZ)


def from_local(value: dt.datetime) -> dt.datetime:
    """Naive or aware local time → naive UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def local_today() -> dt.date:
    return to_local(now()).date()


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 with the time zone, as every API answers."""
    return to_local(value).isoformat(timespec="seconds") if value else None


@contextlib.contextmanager
def frozen(at: dt.datetime):
    """Freeze ``now()`` at a naive-UTC (or aware) instant."""
    global _frozen
    previous = _frozen
    if at.tzinfo is not None:
        at = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    _frozen = at
    try:
        yield
    finally:
        _frozen = previous


def set_frozen(at: dt.datetime | None) -> None:
    global _frozen
    _frozen = at
