"""Dialog state between messages, in the database (``backend.services.drafts``; DESIGN §10).

One row per openid: the State as JSON with its expiry (settings.dialog_ttl_seconds, 30
minutes), the flow that was open — kept a day past the expiry, so the first message after
it can say so instead of misreading “1” — the latest LOCATION event (10 minutes), and a
lease that serialises one person's messages: photos sent together arrive together on
different web workers, and each must see the one before it.

It lived in Redis until issue 13: a Redis restart without persistence lost every unfinished
report (description, place, photos), and a “1” sent while Redis was away filed nothing.
Redis plays no part in the dialog now.

    store = DialogStore(ttl_seconds)
    with store.lock(openid):          # raises Busy after LOCK_WAIT_SECONDS
        state = store.load(openid)
        ...
        store.save(openid, state)     # or nothing: the lease is given back either way
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import secrets
import time

from backend import clock
from backend.services import drafts
from wechat.dialog.state import State

log = logging.getLogger("ejia.dialog")

RECENT_LOCATION_SECONDS = 600
EXPIRED_NOTICE_SECONDS = drafts.KEEP_AFTER_EXPIRY_SECONDS
LOCK_WAIT_SECONDS = 3  # inside WeChat's 5-second budget
LOCK_POLL_SECONDS = 0.02
_lock_wait: contextvars.ContextVar[float] = contextvars.ContextVar("ejia_dialog_lock_wait",
                                                                  default=LOCK_WAIT_SECONDS)


@contextlib.contextmanager
def unhurried():
    """For pushes answered later (the spool's replay): wait for a person's lease as long as a
    lease can last, so one left by a request a database outage cut short has lapsed."""
    token = _lock_wait.set(drafts.LEASE_SECONDS + 1)
    try:
        yield
    finally:
        _lock_wait.reset(token)


class Busy(Exception):
    """Another message of the same person is still being answered."""


class DialogStore:
    def __init__(self, ttl_seconds: int):
        self.ttl = max(1, int(ttl_seconds))
        self._held: dict[str, tuple[str, drafts.Draft]] = {}  # openid → (lease holder, the row read)

    @contextlib.contextmanager
    def lock(self, openid: str):
        holder = secrets.token_hex(8)
        deadline = time.monotonic() + _lock_wait.get()
        while (draft := drafts.lease(openid, holder, time.time())) is None:
            if time.monotonic() >= deadline:
                raise Busy(openid)
            time.sleep(LOCK_POLL_SECONDS)
        self._held[openid] = (holder, draft)
        try:
            yield
        finally:
            if self._held.pop(openid, None) is not None:
                drafts.release(openid, holder)

    def _draft(self, openid: str) -> drafts.Draft:
        return self._held[openid][1]  # only under lock(): the row read when the lease was taken

    def load(self, openid: str) -> State:
        draft = self._draft(openid)
        if draft.state is None or draft.expires_at is None or draft.expires_at <= _now():
            return State()
        state = State.from_dict(draft.state)
        if state.idle:
            log.warning("unreadable dialog state for %s; starting afresh", openid)
        return state

    def expired_flow(self, openid: str) -> str | None:
        """The flow that was open when the state expired (only meaningful when load() was empty)."""
        draft = self._draft(openid)
        if draft.flow and draft.expires_at is not None and draft.expires_at <= _now() < (
                draft.expires_at + EXPIRED_NOTICE_SECONDS):
            return draft.flow
        return None

    def save(self, openid: str, state: State) -> None:
        holder, _ = self._held.pop(openid)
        if state.idle:
            drafts.keep(openid, holder, None, None, None)
        else:
            drafts.keep(openid, holder, state.flow, state.to_dict(), _now() + self.ttl)

    def remember_location(self, openid: str, lat: float, lng: float, at: int) -> None:
        drafts.remember_location(openid, lat, lng, at)

    def recent_location(self, openid: str) -> dict | None:
        draft = self._draft(openid)
        if draft.lat is None or draft.lng is None or draft.located_at is None:
            return None
        if draft.located_at + RECENT_LOCATION_SECONDS < _now():
            return None
        return {"lat": draft.lat, "lng": draft.lng, "at": int(draft.located_at)}


def _now() -> float:
    return clock.now().replace(tzinfo=dt.timezone.utc).timestamp()
