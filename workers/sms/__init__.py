"""SMS providers behind one interface (``SmsProvider.send(SmsMessage) -> dict``).

``SMS_PROVIDER`` picks one: ``console`` (default; log line + the stored Notification row),
``tencent`` (Tencent Cloud SMS SDK). Aliyun is not built (docs/workers.md says why).
"""
from __future__ import annotations

from backend.config import Settings
from workers.sms.base import SmsError, SmsMessage, SmsProvider

PROVIDERS = ("console", "tencent")
_cache: dict[tuple, SmsProvider] = {}


def get_provider(settings: Settings) -> SmsProvider:
    """The configured provider, built once per process and settings."""
    name = settings.sms_provider or "console"
    key = (name, id(settings))
    if key not in _cache:
        if name == "console":
            from workers.sms.console import ConsoleSms

            _cache[key] = ConsoleSms(settings)
        elif name == "tencent":
            from workers.sms.tencent import TencentSms

            _cache[key] = TencentSms(settings)
        else:
            raise SmsError("Config", f"SMS_PROVIDER: unknown provider {name!r} (use {', '.join(PROVIDERS)})",
                           "config")
    return _cache[key]


__all__ = ["SmsError", "SmsMessage", "SmsProvider", "get_provider", "PROVIDERS"]
