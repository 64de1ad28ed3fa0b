"""Channel state shared by every worker through Redis: quota pauses and operator alerts.

* A quota error (WeChat 45009, an SMS provider's daily limit) pauses that channel with a
  Redis key ``ejia:channel-paused:<channel>`` whose TTL runs to the next local midnight
  (WeChat resets daily quotas then). While it exists no worker calls that API: the
  notification is deferred to the end of the pause instead of burning retries.
* Alerts for the console are a capped Redis list ``ejia:alerts`` of JSON objects
  ``{"at", "kind", "channel", "code", "message"}``, newest first (``recent_alerts()``).

Quiet hours (``QUIET_HOURS``, default 22:00–07:30 local) defer non-urgent SMS.
"""
from __future__ import annotations

import datetime as dt
import json
import logging

from backend import clock

log = logging.getLogger("ejia.channels")
PAUSE_KEY = "ejia:channel-paused:{channel}"
ALERTS_KEY = "ejia:alerts"
MAX_ALERTS = 500


def seconds_to_local_midnight(now: dt.datetime | None = None) -> int:
    local = clock.to_local(now or clock.now())
    midnight = (local + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(int((midnight - local).total_seconds()), 60)


def pause_channel(redis, channel: str, reason: str, seconds: int | None = None) -> int:
    """Pause ``channel`` (until local midnight by default) and raise an alert; returns seconds."""
    seconds = seconds or seconds_to_local_midnight()
    redis.set(PAUSE_KEY.format(channel=channel), reason, ex=seconds)
    add_alert(redis, "channel_paused", channel=channel, message=f"{channel} paused for {seconds}s: {reason}")
    log.warning("channel %s paused for %ss: %s", channel, seconds, reason)
    return seconds


def paused_for(redis, channel: str) -> int:
    """Seconds the channel stays paused (0: not paused)."""
    ttl = redis.ttl(PAUSE_KEY.format(channel=channel))
    return int(ttl) if ttl and ttl > 0 else 0


def resume_channel(redis, channel: str) -> None:
    redis.delete(PAUSE_KEY.format(channel=channel))


def add_alert(redis, kind: str, *, channel: str | None = None, code=None, message: str = "") -> dict:
    alert = {"at": clock.iso(clock.now()), "kind": kind, "channel": channel, "code": code, "message": message}
    with redis.pipeline() as pipe:
        pipe.lpush(ALERTS_KEY, json.dumps(alert, ensure_ascii=False))
        pipe.ltrim(ALERTS_KEY, 0, MAX_ALERTS - 1)
        pipe.execute()
    return alert


def recent_alerts(redis, limit: int = 50) -> list[dict]:
    """Newest first; what the console shows under "系统告警"."""
    return [json.loads(raw) for raw in redis.lrange(ALERTS_KEY, 0, limit - 1)]


def parse_quiet_hours(raw: str) -> tuple[dt.time, dt.time] | None:
    """"22:00-07:30" → (22:00, 07:30); "" or "off" → None. The span may cross midnight."""
    raw = (raw or "").strip()
    if raw.lower() in ("", "off", "none"):
        return None
    try:
        begin, end = (dt.datetime.strptime(part.strip(), "%H:%M").time() for part in raw.split("-"))
    except ValueError:
        raise ValueError(f"QUIET_HOURS: cannot read {raw!r}; expected e.g. '22:00-07:30'") from None
    return begin, end


def quiet_until(raw: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """If ``now`` (naive UTC) is inside quiet hours, the naive-UTC instant they end; else None."""
    span = parse_quiet_hours(raw)
    if span is None:
        return None
    begin, end = span
    local = clock.to_local(now or clock.now()).replace(tzinfo=None)
    t = local.time()
    if begin <= end:
        inside = begin <= t < end
        end_day = local.date()
    else:  # crosses midnight: 22:00–07:30
        inside = t >= begin or t < end
        end_day = local.date() + dt.timedelta(days=1) if t >= begin else local.date()
    if not inside:
        return None
    return clock.from_local(dt.datetime.combine(end_day, end))
