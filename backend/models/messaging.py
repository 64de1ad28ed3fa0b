"""Outbox, notifications, inbound WeChat messages and what the chat keeps between them,
department subscriptions."""
from __future__ import annotations

import peewee

from backend.models.areas import Department
from backend.models.base import BaseModel, JSONField, utcnow
from backend.models.events import Event, EventStep


class OutboxMessage(BaseModel):
    """A fact recorded in the same transaction as the state change (DESIGN §5)."""

    topic = peewee.CharField(max_length=32, index=True)  # event.submitted, event.assigned, …
    event = peewee.ForeignKeyField(Event, null=True, on_delete="CASCADE")
    step = peewee.ForeignKeyField(EventStep, null=True, on_delete="CASCADE")
    payload = JSONField(default=dict)
    created_at = peewee.DateTimeField(default=utcnow)
    enqueued_at = peewee.DateTimeField(null=True)
    processed_at = peewee.DateTimeField(null=True, index=True)
    attempts = peewee.IntegerField(default=0)
    error = peewee.TextField(null=True)


class Notification(BaseModel):
    """Claimed before any send: the unique key makes a notification go out once."""

    key = peewee.CharField(max_length=191, unique=True)  # step:recipient:channel
    step = peewee.ForeignKeyField(EventStep, null=True, on_delete="CASCADE")
    event = peewee.ForeignKeyField(Event, null=True, on_delete="CASCADE")
    recipient = peewee.CharField(max_length=64)  # staff:12 / resident:3
    channel = peewee.CharField(max_length=16)  # template / custom / subscribe / sms
    status = peewee.CharField(max_length=16, default="claimed")  # claimed / sent / failed / deferred
    payload = JSONField(null=True)
    error = peewee.TextField(null=True)
    attempts = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField(default=utcnow)
    sent_at = peewee.DateTimeField(null=True)


class InboundMessage(BaseModel):
    """Every message WeChat pushed to /wechat, kept once by its dedupe key, with the
    ``(timestamp, nonce)`` pair of the callback that brought it: a pair is accepted once, so a
    signed URL seen in a log cannot carry another body (DESIGN §10)."""

    dedupe_key = peewee.CharField(max_length=191, unique=True)
    openid = peewee.CharField(max_length=64, index=True)
    msg_type = peewee.CharField(max_length=32)
    event_type = peewee.CharField(max_length=32, null=True)
    payload = JSONField(default=dict)
    reply = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    callback_timestamp = peewee.BigIntegerField(null=True)
    callback_nonce = peewee.CharField(max_length=64, null=True)

    class Meta:
        indexes = ((("callback_timestamp", "callback_nonce"), True),)


class DialogDraft(BaseModel):
    """A person's chat between messages: the open flow and its draft (text, place, photo media
    ids, the step) as the dialog's JSON, the latest position report, and a short lease that
    serialises one person's messages across web processes. In the database, not only in
    Redis: a Redis restart loses no unfinished report (DESIGN §10)."""

    openid = peewee.CharField(max_length=64, unique=True)
    flow = peewee.CharField(max_length=16, null=True)  # None: nothing open
    state = JSONField(null=True)
    expires_at = peewee.DoubleField(null=True)  # epoch seconds: the draft lapses then
    lat = peewee.DoubleField(null=True)  # the latest LOCATION event, as WeChat sent it
    lng = peewee.DoubleField(null=True)
    located_at = peewee.DoubleField(null=True)
    lease = peewee.CharField(max_length=32, null=True)  # who is answering this person now
    leased_until = peewee.DoubleField(null=True)
    updated_at = peewee.DateTimeField(default=utcnow)


class DepartmentSubscription(BaseModel):
    department = peewee.ForeignKeyField(Department, backref="subscriptions")
    url = peewee.CharField(max_length=512)
    secret = peewee.CharField(max_length=128)
    category_codes = JSONField(default=list)  # empty = all
    active = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField(default=utcnow)


class WebhookDelivery(BaseModel):
    subscription = peewee.ForeignKeyField(DepartmentSubscription, backref="deliveries", on_delete="CASCADE")
    outbox = peewee.ForeignKeyField(OutboxMessage, null=True, on_delete="SET NULL")
    event = peewee.ForeignKeyField(Event, null=True, on_delete="CASCADE")
    attempt = peewee.IntegerField(default=1)
    status_code = peewee.IntegerField(null=True)
    ok = peewee.BooleanField(default=False)
    error = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
