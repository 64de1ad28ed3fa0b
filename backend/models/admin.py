"""Smaller admin tables: holiday overrides, API keys, app feedback."""
from __future__ import annotations

import peewee

from backend.models.base import BaseModel, utcnow
from backend.models.people import Resident, Staff


class HolidayOverride(BaseModel):
    """An admin's word on a day: overrides chinese-calendar (and fills years it lacks)."""

    day = peewee.DateField(unique=True)
    is_workday = peewee.BooleanField()
    name = peewee.CharField(max_length=64, default="")


class ApiKey(BaseModel):
    """Open311 api_key for a department system or 311 client."""

    key = peewee.CharField(max_length=64, unique=True)
    name = peewee.CharField(max_length=64)
    active = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField(default=utcnow)


class AppFeedback(BaseModel):
    """意见反馈 about the app itself (the article collected 149 such problems)."""

    resident = peewee.ForeignKeyField(Resident, null=True)
    staff = peewee.ForeignKeyField(Staff, null=True)
    content = peewee.TextField()
    status = peewee.CharField(max_length=16, default="open")  # open / accepted / fixed / declined
    reply = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
