"""Helpers for tests and benchmarks that drive /mp/v1 like the mini-program does (no pytest here).

``MpClient`` wraps a Flask test client or a ``requests`` session; ``login(code)`` goes through
the real code2session path (the WeChat sandbox answers ``openid = "sandbox-" + code``).
"""
from __future__ import annotations

import io
import uuid

from PIL import Image

PREFIX = "/mp/v1"


class Reply:
    """The same view of a response for the Flask test client and requests."""

    def __init__(self, status: int, headers, body: bytes, json_body):
        self.status, self.headers, self.body, self.json = status, headers, body, json_body

    @property
    def error_code(self) -> str | None:
        return (self.json or {}).get("error", {}).get("code") if isinstance(self.json, dict) else None

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:200]!r}>"


class MpClient:
    def __init__(self, transport, base_url: str = "", token: str | None = None):
        self.transport, self.base_url, self.token = transport, base_url.rstrip("/"), token
        self.session: dict | None = None

    def _headers(self, headers: dict | None) -> dict:
        out = dict(headers or {})
        if self.token and "Authorization" not in out:
            out["Authorization"] = f"Bearer {self.token}"
        return out

    def request(self, method: str, path: str, *, json=None, params=None, headers=None, data=None,
                files=None, content_type: str | None = None) -> Reply:
        url = self.base_url + PREFIX + path
        headers = self._headers(headers)
        if content_type:
            headers["Content-Type"] = content_type
        if hasattr(self.transport, "open"):  # a Flask test client
            kwargs = {"json": json} if json is not None else {}
            if data is not None:
                kwargs["data"] = data
            if files:
                kwargs["data"] = {name: (io.BytesIO(body), filename, mime)
                                  for name, (filename, body, mime) in files.items()}
                kwargs["content_type"] = "multipart/form-data"
            res = self.transport.open(url, method=method, headers=headers, query_string=params, **kwargs)
            body = res.get_data()
            return Reply(res.status_code, res.headers, body, res.get_json(silent=True))
        res = self.transport.request(method, url, json=json, params=params, headers=headers, data=data,
                                     files=files, timeout=30)
        try:
            parsed = res.json()
        except ValueError:
            parsed = None
        return Reply(res.status_code, res.headers, res.content, parsed)

    def get(self, path, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw) -> Reply:
        return self.request("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw) -> Reply:
        return self.request("PATCH", path, json=json, **kw)

    def login(self, code: str) -> dict:
        reply = self.post("/auth/login", {"code": code})
        if reply.status != 200:
            raise AssertionError(f"login {code!r} failed: {reply}")
        self.token, self.session = reply.json["token"], reply.json
        return reply.json

    def as_(self, token: str | None) -> "MpClient":
        return MpClient(self.transport, self.base_url, token)

    def upload(self, body: bytes, filename: str = "photo.jpg", mime: str = "image/jpeg") -> Reply:
        return self.post("/media", files={"file": (filename, body, mime)})

    def report(self, lat: float, lng: float, datum: str = "wgs84", **fields) -> Reply:
        body = {"description": "楼道里堆满了纸箱", "lat": lat, "lng": lng, "datum": datum,
                "client_key": uuid.uuid4().hex, **fields}
        return self.post("/events", body)


def image_bytes(fmt: str = "JPEG", size=(64, 48), color=(200, 30, 30), exif: dict | None = None, **save) -> bytes:
    """A small real image; ``exif`` maps tag ids to values (e.g. GPS, orientation)."""
    image = Image.new("RGB", size, color)
    out = io.BytesIO()
    if exif:
        data = Image.Exif()
        for tag, value in exif.items():
            data[tag] = value
        save["exif"] = data.tobytes()
    image.save(out, format=fmt, **save)
    return out.getvalue()


class LiveMp:
    """The whole app served over real HTTP by werkzeug in a thread (one per test module)."""

    def __init__(self, settings, quiet: bool = True):
        import logging
        import threading

        from werkzeug.serving import make_server

        from server import create_app

        overrides = {name: getattr(settings, name) for name in settings.__dataclass_fields__}
        self.app = create_app(overrides=overrides)
        self.limiter = self.app.extensions["ejia.mp.limiter"]
        if quiet:  # one access-log line per request would swamp pytest's log capture
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="mp-live", daemon=True)
        self._thread.start()

    def client(self, token: str | None = None) -> MpClient:
        import requests

        return MpClient(requests.Session(), self.url, token)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
