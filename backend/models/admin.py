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
DEFAULT_RATE_LIMIT = 60  # requests per minute and key


class ApiKey(BaseModel):
    """Open311 api_key for a department system or 311 client (backend/services/api_keys.py).

    Scopes: ``read_public`` (what anyone sees without a key), ``read_full`` (internal and
    sensitive cases, exact places, unmasked text — every use audited), ``write`` (file reports).
    Only the SHA-256 of a key is stored; the key itself is shown once, when issued. A rotated key
    keeps working until ``expires_at`` so the department can switch over; a revoked one stops at once.
    """

    key_hash = peewee.CharField(max_length=64, unique=True)
    prefix = peewee.CharField(max_length=16)  # the key's first characters: recognisable in lists, useless alone
    name = peewee.CharField(max_length=64)
    active = peewee.BooleanField(default=True)
    scopes = JSONField(default=lambda: ["read_public", "write"])
    rate_limit = peewee.IntegerField(default=DEFAULT_RATE_LIMIT)
    last_used_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    revoked_at = peewee.DateTimeField(null=True)
    expires_at = peewee.DateTimeField(null=True)
    replaced_by = peewee.IntegerField(null=True)  # the key a rotation issued in its place

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
