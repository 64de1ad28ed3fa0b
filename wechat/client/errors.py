"""WeChat API errors, classified once (DESIGN §5) so callers decide by ``kind``, not by code.

https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
"""
from __future__ import annotations

TRANSIENT = frozenset({-1, 45011})  # system busy; per-minute rate limit
TOKEN = frozenset({40001, 40014, 42001})  # invalid / malformed / expired access_token
PERMANENT = frozenset({40003, 43004, 43101, 45015, 47003, 48001})
QUOTA = frozenset({45009})  # daily API quota reached

KINDS = ("transient", "token", "permanent", "quota", "other")


def classify(errcode: int) -> str:
    """'transient' | 'token' | 'permanent' | 'quota' | 'other'.

    HTTP statuses 500–599 count as transient too (WeChat error codes never use that range),
    so a caller holding an HTTP status can classify it with the same function.
    """
    if errcode in TRANSIENT or 500 <= errcode <= 599:
        return "transient"
    if errcode in TOKEN:
        return "token"
    if errcode in PERMANENT:
        return "permanent"
    if errcode in QUOTA:
        return "quota"
    return "other"


class WeChatError(Exception):
    """An API call that did not succeed: WeChat's errcode, a network failure or an HTTP error.

    Network failures (timeouts, refused connections) and HTTP 5xx carry ``errcode=-1`` and
    ``kind='transient'``; ``http_status`` is set when the answer was an HTTP error.
    """

    def __init__(self, errcode: int, errmsg: str = "", *, api: str = "", kind: str | None = None,
                 http_status: int | None = None, source: str = "api"):
        self.errcode = int(errcode)
        self.errmsg = errmsg or ""
        self.api = api
        self.http_status = http_status
        self.source = source  # 'api' (WeChat answered errcode) | 'http' (HTTP error) | 'network'
        self.kind = kind or classify(self.errcode)
        super().__init__(f"{api or 'wechat'}: {self.errcode} {self.errmsg} ({self.kind})")

    @property
    def retryable(self) -> bool:
        """Worth retrying later with backoff (never true for permanent, quota or token errors)."""
        return self.kind == "transient"
