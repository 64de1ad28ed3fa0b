"""Who is asking: the ``api_key`` of a GeoReport call and what its scopes allow (DESIGN §11).

Without a key, reads are public: only public categories reported under a name, texts with
names and numbers masked, addresses without door numbers, points snapped to about 100 m.
A key with the ``read_full`` scope (a department system) sees internal and sensitive cases,
exact places and unmasked texts — never who reported them — and every such read is audited.
Filing a report needs the ``write`` scope. A key that is present but unknown, revoked, expired
or short of the scope is refused (403), never quietly read as "no key"; a key over its rate
limit gets 429 with ``Retry-After``. Keys are stored hashed (backend/services/api_keys.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app
from werkzeug.datastructures import MultiDict

from backend.models import ApiKey
from backend.services import api_keys, audit
from open311.params import Open311Error

_KEY_CHARS = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass(frozen=True)
class Reader:
    key: ApiKey | None = None

    @property
    def full(self) -> bool:
        return self.key is not None and self.key.allows("read_full")

    def record(self, numbers: list[str]) -> None:
        """Audit a full read: which key, how many cases, the first numbers shown."""
        if not self.full:
            return
        audit.record(None, "read", "open311", self.key.id, label=f"Open311 {self.key.name}",
                     count=len(numbers), numbers=numbers[:50])


def _key(values: MultiDict) -> ApiKey | None:
    raw = (values.get("api_key") or "").strip()
    if not raw:
        return None
    key = api_keys.authenticate(raw) if _KEY_CHARS.fullmatch(raw) else None
    if key is None:
        raise Open311Error(403, "api_key 无效或已停用")
    wait = api_keys.over_rate_limit(current_app.extensions["ejia.redis"], key)
    if wait:
        raise Open311Error(429, f"这个 api_key 每分钟最多调用 {key.rate_limit} 次，请 {wait} 秒后再试",
                           retry_after=wait)
    return key


def reader(values: MultiDict) -> Reader:
    key = _key(values)
    if key is not None and not (key.allows("read_public") or key.allows("read_full")):
        raise Open311Error(403, "这个 api_key 没有读取权限")
    return Reader(key)


def writer(values: MultiDict) -> ApiKey:
    key = _key(values)
    if key is None:
        raise Open311Error(403, "api_key 缺失或无效，无法提交服务请求")
    if not key.allows("write"):
        raise Open311Error(403, "这个 api_key 没有提交权限")
    return key
