"""Reading GeoReport v2 parameters: every value is checked before it reaches the database.

An empty optional parameter counts as absent (spec). Anything that cannot be used raises
``Open311Error`` with the status the spec names (400 unless said otherwise) and a Chinese
description that names the parameter, so a client developer can fix the call.
"""
from __future__ import annotations

import datetime as dt
import re

from werkzeug.datastructures import MultiDict

from backend import clock

# C0 controls other than tab/newline/CR, DEL, lone surrogates: never useful in a report,
# and NUL is refused by PostgreSQL.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_DECIMAL = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{1,15})?|\.\d{1,15})", re.ASCII)
_INTEGER = re.compile(r"\d{1,9}", re.ASCII)
MIN_YEAR, MAX_YEAR = 2000, 2100


class Open311Error(Exception):
    """A request we answer with the spec's error document."""

    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after  # seconds, for a 429


def bad(description: str) -> Open311Error:
    return Open311Error(400, description)


def text(values: MultiDict, name: str, max_len: int, *, keep_newlines: bool = False) -> str | None:
    """One text parameter, stripped; None when absent or empty."""
    raw = values.get(name)
    if raw is None:
        return None
    if _CONTROL.search(raw):
        raise bad(f"{name} 含有不可见的控制字符")
    value = raw.strip()
    if not keep_newlines and ("\n" in value or "\r" in value):
        raise bad(f"{name} 不能换行")
    if len(value) > max_len:
        raise bad(f"{name} 太长了（最多 {max_len} 个字符）")
    return value or None


def csv_list(values: MultiDict, name: str, max_items: int, max_len: int = 64) -> list[str]:
    """A comma-delimited (and/or repeated) parameter as a list without empty entries."""
    items: list[str] = []
    for raw in values.getlist(name):
        if _CONTROL.search(raw):
            raise bad(f"{name} 含有不可见的控制字符")
        items.extend(part.strip() for part in raw.split(",") if part.strip())
    if len(items) > max_items:
        raise bad(f"{name} 一次最多 {max_items} 个")
    for item in items:
        if len(item) > max_len:
            raise bad(f"{name} 中的值太长了")
    return list(dict.fromkeys(items))  # keep order, drop repeats


def integer(values: MultiDict, name: str, default: int, low: int, high: int) -> int:
    raw = (values.get(name) or "").strip()
    if not raw:
        return default
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise bad(f"{name} 应为 {low} 到 {high} 之间的整数")
    return int(raw)


def decimal(values: MultiDict, name: str) -> float | None:
    """A plain decimal number ("24.505"); no exponents, NaN, infinity or digit separators."""
    raw = (values.get(name) or "").strip()
    if not raw:
        return None
    if not _DECIMAL.fullmatch(raw):
        raise bad(f"{name} 应为十进制度数，例如 24.505")
    return float(raw)


def datetime_param(values: MultiDict, name: str) -> dt.datetime | None:
    """ISO 8601 → naive UTC (storage convention). A missing zone means Beijing time; a date alone
    means its local midnight. A "+08:00" whose "+" arrived unencoded (a space) is repaired."""
    raw = (values.get(name) or "").strip()
    if not raw:
        return None
    if len(raw) > 40:
        raise bad(f"{name} 不是 ISO 8601 时间")
    repaired = re.sub(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?) (\d{2}:?\d{2})$", r"\1+\2", raw)
    if repaired.endswith(("z", "Z")):
        repaired = repaired[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(repaired)
    except ValueError:
        raise bad(f"{name} 不是 ISO 8601 时间，例如 2026-11-01T00:00:00+08:00") from None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise bad(f"{name} 超出可查询的年份范围（{MIN_YEAR}–{MAX_YEAR}）")
    return clock.from_local(value)
