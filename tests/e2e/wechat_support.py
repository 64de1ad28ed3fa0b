"""Helpers shared by the /wechat end-to-end tests: a dialog that records what reaches it
(installed through ``wechat.dispatch.dialog`` — the lookup, never the callback under
test), the stored rows, and posting a prepared push with changes."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from backend.models import InboundMessage
from wechat import dispatch, inbound


class CapturingDialog:
    def __init__(self, reply="收到", delay=0.0, error=None):
        self.seen, self.reply, self.delay, self.error = [], reply, delay, error
        self._lock = threading.Lock()

    def respond(self, incoming, redis):
        with self._lock:
            self.seen.append(incoming)
            count = len(self.seen)
        time.sleep(self.delay)
        if self.error:
            raise self.error
        return f"{self.reply}#{count}" if self.delay else self.reply


@pytest.fixture
def dialog(monkeypatch):
    capture = CapturingDialog()
    monkeypatch.setattr(dispatch, "dialog", capture)
    return capture


def stored() -> list[InboundMessage]:
    """The rows, once the reply writer has kept every reply already given."""
    inbound.REPLIES.flush()
    return list(InboundMessage.select().order_by(InboundMessage.id))


def post(push, **changes):
    """Post ``push`` with query parameters, body or headers replaced (None drops a parameter)."""
    params = {k: v for k, v in {**push.params, **changes.pop("params", {})}.items() if v is not None}
    return requests.post(push.url, params=params, data=changes.pop("body", push.body),
                         headers=changes.pop("headers", push.headers), timeout=15)
