"""Dialog state in Redis: one JSON document per openid with a TTL, and a per-user lock.

Keys (all under ``ejia:dialog:``):
- ``state:<openid>``  the State as JSON, TTL = settings.dialog_ttl_seconds (30 minutes);
- ``open:<openid>``   the name of the open flow, kept a day longer, so the first message
  after the state expired can say so instead of misreading “1”;
- ``loc:<openid>``    the latest LOCATION event, as WeChat sent it (the datum setting applies), 10 minutes;
- ``lock:<openid>``   serialises one person's messages: photos sent together arrive together
  on different web workers, and each must see the one before it.
"""
from __future__ import annotations

import json
import logging

from wechat.dialog.state import State

log = logging.getLogger("ejia.dialog")

PREFIX = "ejia:dialog:"
RECENT_LOCATION_SECONDS = 600
EXPIRED_NOTICE_SECONDS = 86400
LOCK_SECONDS = 10
LOCK_WAIT_SECONDS = 3


class DialogStore:
    def __init__(self, redis, ttl_seconds: int):
        self.redis = redis
        self.ttl = max(1, int(ttl_seconds))

    def _key(self, kind: str, openid: str) -> str:
        return f"{PREFIX}{kind}:{openid}"

    def load(self, openid: str) -> State:
        raw = self.redis.get(self._key("state", openid))
        if raw is None:
            return State()
        try:
            return State.from_dict(json.loads(raw))
        except (ValueError, TypeError):
            log.warning("unreadable dialog state for %s; starting afresh", openid)
            return State()

    def expired_flow(self, openid: str) -> str | None:
        """The flow that was open when the state expired (only meaningful when load() was empty)."""
        raw = self.redis.get(self._key("open", openid))
        return raw.decode() if isinstance(raw, bytes) else raw

    def save(self, openid: str, state: State) -> None:
        pipe = self.redis.pipeline(transaction=False)
        if state.idle:
            pipe.delete(self._key("state", openid), self._key("open", openid))
        else:
            body = json.dumps(state.to_dict(), ensure_ascii=False, separators=(",", ":"))
            pipe.set(self._key("state", openid), body, ex=self.ttl)
            pipe.set(self._key("open", openid), state.flow, ex=self.ttl + EXPIRED_NOTICE_SECONDS)
        pipe.execute()

    def lock(self, openid: str):
        return self.redis.lock(self._key("lock", openid), timeout=LOCK_SECONDS,
                               blocking_timeout=LOCK_WAIT_SECONDS)

    def remember_location(self, openid: str, lat: float, lng: float, at: int) -> None:
        body = json.dumps({"lat": lat, "lng": lng, "at": at})
        self.redis.set(self._key("loc", openid), body, ex=RECENT_LOCATION_SECONDS)

    def recent_location(self, openid: str) -> dict | None:
        raw = self.redis.get(self._key("loc", openid))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return {"lat": float(data["lat"]), "lng": float(data["lng"]), "at": int(data.get("at", 0))}
        except (ValueError, TypeError, KeyError):
            return None
