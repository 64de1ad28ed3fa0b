"""Department webhooks: a real HTTP receiver in the test verifies the signature itself;
500s are retried with backoff, 4xx is final, nothing is sent after a success; unsafe URLs
are refused when the subscription is saved."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from backend import config
from backend.errors import DomainError
from backend.models import Resident, WebhookDelivery
from backend.services.context import resident_actor
from backend.services.events import Submission, submit_event
from backend.services.subscriptions import check_webhook_url, save_subscription
from tests.factories import make_world
from tests.worker_fixtures import env  # noqa: F401
from workers import webhooks
from workers.queues import WEBHOOK, enqueue, queue
from tests.workers_run import drain, promote_scheduled


class Receiver:
    """A department's endpoint: answers the queued statuses in turn, then 200."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"try later")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/ejia/events"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def world(env):
    return make_world()


def report(world, code="0101"):
    resident = Resident.create()
    return submit_event(Submission(description="井盖丢了", reporter=resident_actor(resident),
                                   lat=world.in_a[0], lng=world.in_a[1], category_code=code)).event


def receiver_verifies(secret: str, request: dict) -> bool:
    """What the department does, written independently of workers.webhooks."""
    timestamp = request["headers"]["X-Ejia-Timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + request["body"],
                                    hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) <= 300
    return fresh and hmac.compare_digest(expected, request["headers"]["X-Ejia-Signature"])


def test_signed_delivery_verified_by_the_receiver_and_nothing_after_success(env, world, receiver, redis_conn):
    subscription = save_subscription(world.dept.id, receiver.url, category_codes=["01"])
    event = report(world)
    drain(redis_conn)
    topics = [json.loads(r["body"])["topic"] for r in receiver.requests]
    assert topics == ["event.submitted", "event.route"]
    for request in receiver.requests:
        assert receiver_verifies(subscription.secret, request)
        assert not receiver_verifies("another-secret-entirely", request)
    document = json.loads(receiver.requests[0]["body"])
    assert document["event"]["number"] == event.number and document["event"]["category_code"] == "0101"
    assert "reporter" not in json.dumps(document)
    assert WebhookDelivery.select().where(WebhookDelivery.ok == True).count() == 2  # noqa: E712
    # the same delivery enqueued again (a sweep, an operator) sends nothing
    outbox_id = int(document["delivery"])
    job = enqueue(redis_conn, "webhook", subscription.id, outbox_id)
    drain(redis_conn)
    job.refresh()
    assert job.return_value() == "already delivered"
    assert len(receiver.requests) == 2


def test_500_is_retried_with_backoff_and_every_attempt_is_logged(env, world, receiver, redis_conn):
    subscription = save_subscription(world.dept.id, receiver.url, category_codes=["0301"])
    receiver.statuses = [500, 503]
    report(world, code="0101")  # not subscribed
    report(world, code="0301")
    drain(redis_conn)
    assert len(receiver.requests) == 2  # submitted: 500; route: 503
    scheduled = ScheduledJobRegistry(queue=queue(WEBHOOK, redis_conn))
    assert scheduled.count == 2  # RQ Retry, not a loop
    assert promote_scheduled(redis_conn, [WEBHOOK]) == 2
    drain(redis_conn)
    attempts = [(d.outbox_id, d.attempt, d.status_code, d.ok) for d in
                WebhookDelivery.select().where(WebhookDelivery.subscription == subscription.id)
                .order_by(WebhookDelivery.outbox, WebhookDelivery.attempt)]
    first, second = sorted({a[0] for a in attempts})
    assert attempts == [(first, 1, 500, False), (first, 2, 200, True),
                        (second, 1, 503, False), (second, 2, 200, True)]
    assert len(receiver.requests) == 4
    assert promote_scheduled(redis_conn, [WEBHOOK]) == 0


def test_4xx_is_final_and_shows_in_the_failed_registry(env, world, receiver, redis_conn):
    save_subscription(world.dept.id, receiver.url)
    receiver.statuses = [400, 400]
    report(world)
    drain(redis_conn)
    assert ScheduledJobRegistry(queue=queue(WEBHOOK, redis_conn)).count == 0
    assert FailedJobRegistry(queue=queue(WEBHOOK, redis_conn)).count == 2
    assert [d.status_code for d in WebhookDelivery.select()] == [400, 400]


@pytest.mark.parametrize("url, code", [
    ("ftp://example.com/hook", "bad_webhook_scheme"),
    ("file:///etc/passwd", "bad_webhook_scheme"),
    ("javascript:alert(1)", "bad_webhook_scheme"),
    ("http://10.1.2.3/hook", "webhook_private_address"),
    ("http://192.168.0.10:8080/hook", "webhook_private_address"),
    ("http://172.16.5.4/hook", "webhook_private_address"),
    ("http://169.254.169.254/latest/meta-data/", "webhook_private_address"),
    ("http://[fe80::1]/hook", "webhook_private_address"),
    ("http://[::ffff:10.0.0.1]/hook", "webhook_private_address"),
    ("http://0.0.0.0/hook", "webhook_private_address"),
    ("http://user:secret@93.184.216.34/hook", "bad_webhook_url"),
    ("http://no-such-host.invalid/hook", "webhook_host_unknown"),
    ("https://" + "a" * 600 + ".com/", "bad_webhook_url"),
    ("http://93.184.216.34:99999/hook", "bad_webhook_url"),
])
def test_unsafe_webhook_urls_are_refused_when_saved(env, world, url, code):
    with pytest.raises(DomainError) as caught:
        save_subscription(world.dept.id, url)
    assert caught.value.code == code


def test_loopback_only_where_the_environment_allows_it(env, world):
    assert check_webhook_url("https://93.184.216.34/hook", allow_loopback=False) == "https://93.184.216.34/hook"
    for url in ("http://127.0.0.1:9000/hook", "http://[::1]/hook", "http://localhost/hook"):
        with pytest.raises(DomainError) as caught:
            check_webhook_url(url, allow_loopback=False)
        assert caught.value.code == "webhook_private_address"
        assert check_webhook_url(url, allow_loopback=True) == url
    production = env.with_overrides(env="production")
    config.install(production)
    try:
        with pytest.raises(DomainError):
            save_subscription(world.dept.id, "http://127.0.0.1:9000/hook")
    finally:
        config.install(env)


def test_verify_helper_rejects_stale_timestamps():
    body = b'{"topic": "event.route"}'
    signature = webhooks.sign("s3cret-s3cret-s3cret", "1000", body)
    assert webhooks.verify("s3cret-s3cret-s3cret", "1000", body, signature, now=1100)
    assert not webhooks.verify("s3cret-s3cret-s3cret", "1000", body, signature, now=1000 + 301)
    assert not webhooks.verify("s3cret-s3cret-s3cret", "1000", body + b" ", signature, now=1100)
