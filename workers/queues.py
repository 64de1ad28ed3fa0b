"""Queue names (constants, STYLE §6) and queue construction with an explicit connection."""
from __future__ import annotations

from rq import Queue

ROUTE = "route"
NOTIFY = "notify"
SEND = "send"
MEDIA = "media"
WEBHOOK = "webhook"
MAINTENANCE = "maintenance"
ALL_QUEUES = (ROUTE, NOTIFY, SEND, MEDIA, WEBHOOK, MAINTENANCE)


def queue(name: str, connection) -> Queue:
    return Queue(name, connection=connection)
