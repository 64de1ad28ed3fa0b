"""The sandbox's memory: issued tokens, the call log, injected faults, media, QR tickets.

In-process and guarded by one lock — the sandbox is a single process standing in for
WeChat, and nothing of the project's correctness depends on it. ``reset()`` returns it to
a fresh WeChat (the test fixture calls it before every test).
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

TOKEN_APIS = ("token", "stable_token")
DEFAULT_CONFIG = {
    "token_ttl": 7200,  # seconds an access token lives
    "single_use_codes": False,  # jscode2session codes answer 40163 on reuse (WeChat does; seeds need reuse)
    "latency_ms": 0,  # added to every API answer
    "phone_code_ttl": 300,
    "callback_url": "http://127.0.0.1:8000/wechat",  # where the chat simulator posts (EJIA_WECHAT_CALLBACK_URL)
    # The template ids WeChat knows (added in the account's back office), as the project's defaults name
    # them: the official account's template messages, the mini-program's subscribe messages.
    "templates": ["ejia-task", "ejia-digest", "ejia-progress-oa"],
    "subscribe_templates": ["ejia-progress"],
}
MAX_CALLS = 10000  # the log is a ring: enough for any test or demo, bounded for a long run


@dataclass
class Fault:
    """An injected answer. ``count`` None = until cleared; ``api`` None = every business API
    (not the token endpoints, so that "the next 3 calls answer 40001" can be recovered from);
    ``openid`` set = calls addressed to that user."""

    errcode: int | None = None
    http_status: int | None = None
    latency_ms: int = 0
    count: int | None = None
    api: str | None = None
    openid: str | None = None

    def matches(self, api: str, openid: str | None) -> bool:
        if self.api is not None and self.api != api:
            return False
        if self.api is None and api in TOKEN_APIS:
            return False
        return self.openid is None or self.openid == openid

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Media:
    content: bytes
    content_type: str
    kind: str
    created_at: int


@dataclass
class SandboxState:
    settings: object
    config: dict = field(default_factory=lambda: dict(DEFAULT_CONFIG))
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self):
        self.initial_config = dict(self.config)
        self.initial_faults: list[Fault] = []
        self._clear()

    def _clear(self) -> None:
        self.calls: list[dict] = []
        self.tokens: dict[str, tuple[str, float]] = {}  # token → (appid, expires_at)
        self.stable: dict[str, str] = {}  # appid → current stable token
        self.faults: list[Fault] = [replace(f) for f in self.initial_faults]  # copies: counts run down
        self.media: dict[str, Media] = {}
        self.qrcodes: dict[str, dict] = {}
        self.phone_codes: dict[str, dict] = {}
        self.oauth_codes: dict[str, dict] = {}  # 网页授权 code → {openid, appid, scope, expires_at, used?}
        self.used_js_codes: set[str] = set()
        self.sent_client_msg_ids: dict[tuple[str, str], tuple[int, float]] = {}
        self.unsubscribed: set[str] = set()
        self.menu: dict | None = None
        self.next_msgid = 1000
        self.last_create_time: dict[str, int] = {}

    def reset(self) -> None:
        with self.lock:
            self.config = dict(self.initial_config)
            self._clear()

    # ------------------------------------------------------------------ apps
    def apps(self) -> dict[str, str]:
        """appid → secret for the two apps the project runs (from settings)."""
        s = self.settings
        return {s.wechat_app_id: s.wechat_app_secret, s.mp_app_id: s.mp_app_secret}

    def app_kind(self, appid: str) -> str:
        return "mp" if appid == self.settings.mp_app_id else "oa"

    # ------------------------------------------------------------------ tokens
    def issue_token(self, appid: str, *, stable: bool, force: bool = False) -> tuple[str, int]:
        now = time.time()
        ttl = int(self.config["token_ttl"])
        with self.lock:
            if stable:
                current = self.stable.get(appid)
                entry = self.tokens.get(current) if current else None
                if entry and not force and entry[1] - now > 300:
                    return current, int(entry[1] - now)
                if current and force:
                    self.tokens.pop(current, None)  # force_refresh invalidates the previous one
            token = f"sbx{appid[-4:]}{secrets.token_urlsafe(24)}"
            self.tokens[token] = (appid, now + ttl)
            if stable:
                self.stable[appid] = token
            return token, ttl

    def check_token(self, token: str | None) -> tuple[int, str | None]:
        """(errcode, appid): 41001 missing, 40001 unknown, 42001 expired, 0 valid."""
        if not token:
            return 41001, None
        with self.lock:
            entry = self.tokens.get(token)
        if entry is None:
            return 40001, None
        if entry[1] <= time.time():
            return 42001, entry[0]
        return 0, entry[0]

    # ------------------------------------------------------------------ calls & faults
    def record(self, api: str, query: dict, body) -> dict:
        entry = {"api": api, "query": query, "body": body,
                 "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "errcode": None}
        with self.lock:
            self.calls.append(entry)
            if len(self.calls) > MAX_CALLS:
                del self.calls[: len(self.calls) - MAX_CALLS]
        return entry

    def take_fault(self, api: str, openid: str | None) -> tuple[Fault | None, int]:
        """The first matching error fault (consuming one of its count) and the total latency."""
        latency = int(self.config.get("latency_ms") or 0)
        chosen = None
        with self.lock:
            for fault in list(self.faults):
                if not fault.matches(api, openid):
                    continue
                if fault.errcode is None and fault.http_status is None:
                    latency += fault.latency_ms
                    self._consume(fault)
                elif chosen is None:
                    chosen = fault
                    latency += fault.latency_ms
                    self._consume(fault)
        return chosen, latency

    def _consume(self, fault: Fault) -> None:
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                self.faults.remove(fault)

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def new_msgid(self) -> int:
        with self.lock:
            self.next_msgid += 1
            return self.next_msgid

    def add_media(self, content: bytes, content_type: str, kind: str) -> str:
        media_id = "sbxmedia_" + secrets.token_urlsafe(24)
        with self.lock:
            self.media[media_id] = Media(content, content_type, kind, int(time.time()))
        return media_id

    def create_time(self, openid: str) -> int:
        """A CreateTime for a simulated push: now, but never equal to the user's previous one,
        so two clicks in one second do not look like one event retried."""
        with self.lock:
            now = max(int(time.time()), self.last_create_time.get(openid, 0) + 1)
            self.last_create_time[openid] = now
            return now
