"""Smaller admin tables: holiday overrides, API keys, app feedback."""
from __future__ import annotations

import peewee

from backend.models.base import BaseModel, JSONField, utcnow
from backend.models.people import Resident, Staff


class HolidayOverride(BaseModel):
    """An admin's word on a day: overrides chinese-calendar (and fills years it lacks)."""

    day = peewee.DateField(unique=True)
    is_workday = peewee.BooleanField()
    name = peewee.CharField(max_length=64, default="")


API_SCOPES = ("read_public", "read_full", "write")


class ApiKey(BaseModel):
    """Open311 api_key for a department system or 311 client.

    Scopes: ``read_public`` (what anyone sees without a key), ``read_full`` (internal and
    sensitive cases, exact places, unmasked text — every use audited), ``write`` (file reports).
    """

    key = peewee.CharField(max_length=64, unique=True)
    name = peewee.CharField(max_length=64)
    active = peewee.BooleanField(default=True)
    scopes = JSONField(default=lambda: ["read_public", "write"])
    last_used_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    def allows(self, scope: str) -> bool:
        return scope in (self.scopes or ())


class AppFeedback(BaseModel):
    """意见反馈 about the app itself (the article collected 149 such problems)."""

    resident = peewee.ForeignKeyField(Resident, null=True)
    staff = peewee.ForeignKeyField(Staff, null=True)
    content = peewee.TextField()
    status = peewee.CharField(max_length=16, default="open")  # open / accepted / fixed / declined
    reply = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
