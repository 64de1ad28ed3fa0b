"""A tiny round-robin HTTP proxy for the multi-host rehearsal (tests/e2e/test_multi_host.py).

Each request goes to the next backend in turn; a backend whose connection is refused (its
host stopped) is skipped and the next one tried, so a stopped web host costs no request.
Only a refused connection is retried elsewhere: once a request has reached a backend, its
answer (or its failure, as a 502) is the client's — a POST is never sent twice by the proxy;
retrying is the client's business, as it is behind a real load balancer.

Why Python rather than Debian's nginx: it needs no root and no config file or ``nginx``
package on the machine, it starts in milliseconds on a free port inside the test process, it
is one file, and the test can ask it how many requests each backend answered. What the
rehearsal proves is the app's behaviour behind *a* round-robin balancer, not nginx's.
No pytest import here.
"""
from __future__ import annotations

import collections
import http.client
import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade"}


class RoundRobinProxy:
    """``RoundRobinProxy(["http://127.0.0.1:8001", …]).start()`` → ``.url``; ``.stop()``."""

    def __init__(self, backends: list[str], timeout: float = 30.0):
        self.backends = [b.rstrip("/").removeprefix("http://") for b in backends]
        self.timeout = timeout
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self.answered = collections.Counter()  # backend "host:port" → requests it answered
        self.refused = collections.Counter()  # backend → connections refused (skipped)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                status, reason, reply_headers, reply = proxy.forward(self.command, self.path, headers, body)
                self.send_response(status, reason)
                for name, value in reply_headers:
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="rr-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> "RoundRobinProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _order(self) -> list[str]:
        with self._lock:
            first = next(self._turn) % len(self.backends)
        return self.backends[first:] + self.backends[:first]

    def forward(self, method: str, path: str, headers: dict, body: bytes | None):
        for backend in self._order():
            host, port = backend.rsplit(":", 1)
            connection = http.client.HTTPConnection(host, int(port), timeout=self.timeout)
            try:
                try:
                    connection.connect()
                except ConnectionRefusedError:
                    with self._lock:
                        self.refused[backend] += 1
                    continue  # that host is down: the next one
                try:
                    connection.request(method, path, body=body, headers=headers)
                    response = connection.getresponse()
                    reply = response.read()
                except (OSError, http.client.HTTPException) as exc:  # reached it, then it failed
                    return 502, "Bad Gateway", [("Content-Type", "text/plain")], f"backend {backend}: {exc}".encode()
                with self._lock:
                    self.answered[backend] += 1
                return response.status, response.reason, response.getheaders(), reply
            finally:
                connection.close()
        return 502, "Bad Gateway", [("Content-Type", "text/plain")], b"no backend accepted the connection"
