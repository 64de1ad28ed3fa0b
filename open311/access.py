"""Who is asking: the ``api_key`` of a GeoReport call and what its scopes allow (DESIGN §11).

Without a key, reads are public: only public categories reported under a name, texts with
names and numbers masked, addresses without door numbers, points snapped to about 100 m.
A key with the ``read_full`` scope (a department system) sees internal and sensitive cases,
exact places and unmasked texts — never who reported them — and every such read is audited.
Filing a report needs the ``write`` scope. A key that is present but unknown, revoked or short
of the scope is refused (403), never quietly read as "no key".
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from backend import clock
from backend.models import ApiKey
from backend.services import audit
from open311.params import Open311Error

_KEY_CHARS = re.compile(r"[\x21-\x7e]{1,64}")


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
    key = None
    if _KEY_CHARS.fullmatch(raw):
        key = ApiKey.get_or_none((ApiKey.key == raw) & (ApiKey.active == True))  # noqa: E712
    if key is None:
        raise Open311Error(403, "api_key 无效或已停用")
    ApiKey.update(last_used_at=clock.now()).where(ApiKey.id == key.id).execute()
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
