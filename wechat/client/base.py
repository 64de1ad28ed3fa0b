"""The shared machinery under OfficialAccount and MiniProgram: token, transport, retries.

wechatpy 1.8.18 supplies the HTTP session, the Redis session storage and the API objects;
this module closes its gaps (docs/wechat-sandbox.md, shared notes "WeChatClient gaps"):

* every request, the token fetch included, has a timeout;
* the access token lives in Redis (``RedisStorage``) and is shared by every process; a
  refresh happens under a Redis lock, and whoever gets the lock second re-reads Redis
  instead of fetching again — one fetch for the whole fleet;
* tokens come from ``POST cgi-bin/stable_token`` (a fetch does not invalidate the token
  other processes hold); ``force_refresh`` only when WeChat rejects the token it still hands out;
* a token error (40001/40014/42001) refreshes once and retries once — never a loop;
* errcode -1 (system busy) is retried once after a short pause; nothing else is retried
  here (timeouts, 45011, 5xx are the caller's to retry with backoff, e.g. RQ ``Retry``);
* every base URL follows ``settings.wechat_api_base``.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import requests
from redis.exceptions import LockError
from wechatpy import WeChatClient
from wechatpy.session.redisstorage import RedisStorage
from wechatpy.utils import json

from wechat.client.errors import WeChatError

if TYPE_CHECKING:
    import redis

    from backend.config import Settings

log = logging.getLogger("ejia.wechat.client")

DEFAULT_API_BASE = "https://api.weixin.qq.com"
SESSION_PREFIX = "ejia:wechat"
TOKEN_EARLY_SECONDS = 120  # forget a cached token this long before WeChat expires it


def api_base(settings: "Settings") -> str:
    return (settings.wechat_api_base or DEFAULT_API_BASE).rstrip("/")


class _WechatpyClient(WeChatClient):
    """wechatpy's client pointed at our base URL, with ``auto_retry`` off and a timeout.

    ``access_token`` is answered by the owning ``ApiClient`` (Redis, lock, one refresh), so
    even a direct call through a wechatpy API object (``client.wechatpy.menu.create``)
    never enters wechatpy's unbounded refresh loop or its timeout-less token fetch.
    """

    def __init__(self, owner: "ApiClient", appid: str, secret: str, base: str, session, timeout: float):
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=False)
        self._owner = owner
        self.API_BASE_URL = f"{base}/cgi-bin/"
        self.wxa.API_BASE_URL = f"{base}/"
        self.datacube.API_BASE_URL = f"{base}/datacube/"

    @property
    def access_token(self) -> str:
        return self._owner.access_token()

    def fetch_access_token(self, force_refresh: bool = False) -> dict:
        return self._owner.fetch_token(force_refresh=force_refresh)


class ApiClient:
    """One WeChat app (official account or mini-program): its token and its calls."""

    use_stable_token = True
    busy_retry_delay = 0.2

    def __init__(self, settings: "Settings", redis: "redis.Redis", appid: str, secret: str,
                 timeout: float = 5.0):
        if not appid or not secret:
            raise ValueError("a WeChat app id and secret are required")
        self.settings = settings
        self.redis = redis
        self.appid = appid
        self.timeout = float(timeout)
        self.base = api_base(settings)
        self.session = RedisStorage(redis, prefix=SESSION_PREFIX)
        self.wechatpy = _WechatpyClient(self, appid, secret, self.base, self.session, self.timeout)
        self._secret = secret

    # ------------------------------------------------------------------ token
    @property
    def token_key(self) -> str:
        return self.wechatpy.access_token_key

    def access_token(self) -> str:
        """The shared token from Redis, fetched (once, under the lock) when there is none."""
        token = self.session.get(self.token_key)
        return token or self.refresh_token(stale=None)

    def refresh_token(self, stale: str | None) -> str:
        """Replace ``stale`` (None: no token yet). Under a Redis lock; re-checks Redis first,
        so N processes hitting an expired token cause one fetch, not N."""
        wait = self.timeout * 2 + 2
        lock = self.redis.lock(f"{SESSION_PREFIX}:{self.appid}:token-lock", timeout=wait, blocking_timeout=wait)
        if not lock.acquire():
            raise WeChatError(-1, "timed out waiting for the token refresh lock", api="token",
                              kind="transient", source="network")
        try:
            current = self.session.get(self.token_key)
            if current and current != stale:
                return current
            fresh = self.fetch_token()["access_token"]
            if stale is not None and fresh == stale and self.use_stable_token:
                # WeChat rejected a token that stable_token still hands out: only now force a
                # new one (force_refresh is rationed by WeChat and invalidates the old token).
                fresh = self.fetch_token(force_refresh=True)["access_token"]
            return fresh
        finally:
            try:
                lock.release()
            except LockError:  # held longer than its timeout; Redis already dropped it
                log.warning("token lock for %s expired before release", self.appid)

    def fetch_token(self, force_refresh: bool = False) -> dict:
        """Fetch a token and store it in Redis with WeChat's expiry (minus a margin).

        https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
        https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html
        """
        if self.use_stable_token:
            body = {"grant_type": "client_credential", "appid": self.appid, "secret": self._secret,
                    "force_refresh": bool(force_refresh)}
            result = self._send("post", f"{self.base}/cgi-bin/stable_token", "stable_token", {}, body)
        else:
            params = {"grant_type": "client_credential", "appid": self.appid, "secret": self._secret}
            result = self._send("get", f"{self.base}/cgi-bin/token", "token", params, None)
        token = result.get("access_token")
        if not token:
            raise WeChatError(-1, "token answer without access_token", api="stable_token", kind="other")
        expires_in = int(result.get("expires_in") or 7200)
        self.session.set(self.token_key, token, max(expires_in - TOKEN_EARLY_SECONDS, 1))
        log.info("fetched access token for %s (expires in %ss)", self.appid, expires_in)
        return result

    # ------------------------------------------------------------------ calls
    def call(self, method: str, path: str, *, params: dict | None = None, body: Any = None,
             with_token: bool = True, raw: bool = False):
        """Call ``{base}/{path}``; returns the decoded JSON (or the ``requests.Response`` if
        ``raw`` and the answer is not JSON). At most one token refresh and one busy retry."""
        api = path.removeprefix("cgi-bin/")
        params = dict(params or {})
        refreshed = busy_retried = False
        while True:
            token = self.access_token() if with_token else None
            if token:
                params["access_token"] = token
            try:
                return self._send(method, f"{self.base}/{path}", api, params, body, raw=raw)
            except WeChatError as err:
                if err.kind == "token" and with_token and not refreshed:
                    refreshed = True
                    self.refresh_token(stale=token)
                    continue
                if err.errcode == -1 and err.source == "api" and not busy_retried:
                    busy_retried = True
                    time.sleep(self.busy_retry_delay)
                    continue
                raise

    def _send(self, method: str, url: str, api: str, params: dict, body: Any, raw: bool = False):
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            res = self.wechatpy._http.request(method, url, params=params, data=data, headers=headers,
                                              timeout=self.timeout)
        except requests.Timeout:
            raise WeChatError(-1, f"timed out after {self.timeout:g}s", api=api, kind="transient",
                              source="network") from None
        except requests.RequestException as exc:
            raise WeChatError(-1, f"network error: {exc.__class__.__name__}", api=api, kind="transient",
                              source="network") from None
        if res.status_code >= 400:
            kind = "transient" if res.status_code >= 500 else "other"
            raise WeChatError(-1, f"HTTP {res.status_code}", api=api, kind=kind, http_status=res.status_code,
                              source="http")
        content_type = res.headers.get("Content-Type", "")
        if raw and not content_type.startswith(("application/json", "text/plain")):
            return res
        try:
            result = json.loads(res.content.decode("utf-8"))
        except ValueError:
            if raw:
                return res
            raise WeChatError(-1, "answer is not JSON", api=api, kind="other", source="http") from None
        if not isinstance(result, dict):
            raise WeChatError(-1, "answer is not a JSON object", api=api, kind="other", source="http")
        errcode = int(result.get("errcode") or 0)
        if errcode:
            raise WeChatError(errcode, str(result.get("errmsg") or ""), api=api)
        return result


def template_data(data: dict) -> dict:
    """Accept ``{"thing1": "text"}`` or ``{"thing1": {"value": "text"}}`` → WeChat's shape."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[str(key)] = {k: (str(v) if k == "value" else v) for k, v in value.items()}
        else:
            out[str(key)] = {"value": str(value)}
    return out
