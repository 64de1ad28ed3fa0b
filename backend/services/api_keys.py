"""API keys for department systems and 311 clients (Open311 ``api_key``): issue, list, revoke, rotate.

A key is 40 random URL-safe characters after ``ejk_``; only its SHA-256 is stored (a leaked
database gives nobody a working key, and a key has far too much entropy for a slow hash to
matter). It is shown once, when issued or rotated. Each key has a name (which system holds it),
scopes (``read_public``, ``read_full`` — audited —, ``write``) and a rate limit in requests per
minute, counted in Redis. Revoking stops a key at once; rotating issues a successor with the
same name, scopes and limit and lets the old key work for a grace period (default 24 hours)
so the department can switch without an outage.

The console (管理 · 接口密钥) and the CLI (``python -m server keys …``) both call this module.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass

from backend import clock
from backend.db import for_update, transaction
from backend.errors import DomainError, NotFound
from backend.models import ApiKey
from backend.models.admin import API_SCOPES, DEFAULT_RATE_LIMIT

log = logging.getLogger("ejia.api_keys")

KEY_PREFIX = "ejk_"
PREFIX_SHOWN = 8  # characters kept to recognise a key: "ejk_" + 4
SCOPE_NAMES = {"read_public": "读取公开事件", "read_full": "读取全部事件（含敏感，逐次留痕）", "write": "提交事件"}
MIN_RATE, MAX_RATE = 1, 10000
MAX_GRACE_HOURS = 24 * 30
DEFAULT_GRACE_HOURS = 24
TOUCH_EVERY = dt.timedelta(seconds=60)  # last_used_at is written at most once a minute per key
EPOCH = dt.datetime(1970, 1, 1)  # naive UTC, as clock.now()
_NAME = re.compile(r"^[^\x00-\x1f\x7f<>]{1,64}$")


@dataclass(frozen=True)
class Issued:
    """A key just made: the row and the key itself (shown once, never stored)."""

    row: ApiKey
    key: str


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(30)


def _clean(name: str, scopes, rate_limit) -> tuple[str, list[str], int]:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise DomainError("bad_key_name", "请填写密钥名称（使用它的系统，64 字以内）")
    scopes = list(dict.fromkeys(scopes or ()))
    unknown = [s for s in scopes if s not in API_SCOPES]
    if unknown or not scopes:
        raise DomainError("bad_scopes", "权限只能是 " + "、".join(API_SCOPES) + "，至少选一项")
    try:
        rate = int(rate_limit if rate_limit not in (None, "") else DEFAULT_RATE_LIMIT)
    except (TypeError, ValueError):
        raise DomainError("bad_rate_limit", f"频率上限应是 {MIN_RATE}–{MAX_RATE} 之间的整数（每分钟）") from None
    if not MIN_RATE <= rate <= MAX_RATE:
        raise DomainError("bad_rate_limit", f"频率上限应是 {MIN_RATE}–{MAX_RATE} 之间的整数（每分钟）")
    return name, [s for s in API_SCOPES if s in scopes], rate


def issue(name: str, scopes, rate_limit=None, *, key: str | None = None) -> Issued:
    """A new key. ``key`` is for the demo seed only (a key derived from the demo secret, so that
    re-running the seed prints the same one); everything else gets a random key."""
    name, scopes, rate = _clean(name, scopes, rate_limit)
    key = key or _new_key()
    with transaction():
        row = ApiKey.create(key_hash=digest(key), prefix=key[:PREFIX_SHOWN], name=name, scopes=scopes,
                            rate_limit=rate, created_at=clock.now())
    log.info("api key %s (%s) issued with %s", row.id, name, ",".join(scopes))
    return Issued(row, key)


def list_keys(include_revoked: bool = True) -> list[ApiKey]:
    query = ApiKey.select().order_by(ApiKey.active.desc(), ApiKey.name, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.active == True)  # noqa: E712
    return list(query)


def _get(key_id: int) -> ApiKey:
    row = for_update(ApiKey.select().where(ApiKey.id == key_id)).first()
    if row is None:
        raise NotFound("key_not_found", "没有这个密钥")
    return row


def revoke(key_id: int) -> ApiKey:
    """Stop the key now (idempotent)."""
    with transaction():
        row = _get(key_id)
        if row.active:
            ApiKey.update(active=False, revoked_at=clock.now()).where(ApiKey.id == row.id).execute()
    log.info("api key %s revoked", key_id)
    return ApiKey.get_by_id(key_id)


def rotate(key_id: int, grace_hours: int = DEFAULT_GRACE_HOURS) -> Issued:
    """A successor with the same name, scopes and limit; the old key works ``grace_hours`` more
    (0: stops now), so the department can deploy the new one first."""
    if not isinstance(grace_hours, int) or not 0 <= grace_hours <= MAX_GRACE_HOURS:
        raise DomainError("bad_grace", f"旧密钥的过渡期应是 0–{MAX_GRACE_HOURS} 小时")
    key = _new_key()
    now = clock.now()
    with transaction():
        old = _get(key_id)
        if not usable(old, now):
            raise DomainError("key_revoked", "这个密钥已停用，不能轮换；请发放新密钥")
        row = ApiKey.create(key_hash=digest(key), prefix=key[:PREFIX_SHOWN], name=old.name, scopes=old.scopes,
                            rate_limit=old.rate_limit, created_at=now)
        changes = {ApiKey.replaced_by: row.id}
        if grace_hours == 0:
            changes.update({ApiKey.active: False, ApiKey.revoked_at: now})
        else:
            ends = now + dt.timedelta(hours=grace_hours)
            changes[ApiKey.expires_at] = min(old.expires_at, ends) if old.expires_at else ends
        ApiKey.update(changes).where(ApiKey.id == old.id).execute()
    log.info("api key %s rotated to %s (old key valid %s h more)", key_id, row.id, grace_hours)
    return Issued(row, key)


def usable(row: ApiKey, now: dt.datetime | None = None) -> bool:
    now = now or clock.now()
    return bool(row.active) and (row.expires_at is None or row.expires_at > now)


def status_name(row: ApiKey, now: dt.datetime | None = None) -> str:
    if not row.active:
        return "已停用"
    if row.expires_at is not None:
        return "已过期" if row.expires_at <= (now or clock.now()) else "过渡期（已轮换）"
    return "有效"


def authenticate(raw: str) -> ApiKey | None:
    """The usable key with this text, or None. Records the use (at most once a minute)."""
    if not raw or len(raw) > 128:
        return None
    row = ApiKey.get_or_none(ApiKey.key_hash == digest(raw))
    now = clock.now()
    if row is None or not usable(row, now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        ApiKey.update(last_used_at=now).where(ApiKey.id == row.id).execute()
        row.last_used_at = now
    return row


def over_rate_limit(redis, row: ApiKey, now: dt.datetime | None = None) -> int:
    """Seconds until the key may call again (0: within its limit). A fixed one-minute window
    counted in Redis, shared by every web host. Redis unreachable → not limited (logged): the
    limit protects the service, it is not worth refusing a department's report over."""
    import redis as redis_lib

    now = now or clock.now()
    seconds = int((now - EPOCH).total_seconds())
    window = seconds // 60
    counter = f"ejia:api-key-rate:{row.id}:{window}"
    try:
        pipe = redis.pipeline()
        pipe.incr(counter)
        pipe.expire(counter, 120)
        count = pipe.execute()[0]
    except redis_lib.RedisError as exc:
        log.warning("api key rate limit not checked (Redis: %s)", exc)
        return 0
    if count > row.rate_limit:
        return 60 - seconds % 60
    return 0
