"""Base model bound to the one database proxy."""
from __future__ import annotations

import json

import peewee

from backend import clock
from backend.db import db


class BaseModel(peewee.Model):
    class Meta:
        database = db
        legacy_table_names = False


class JSONField(peewee.TextField):
    """JSON stored as text: the same on SQLite and PostgreSQL."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


def utcnow():
    return clock.now()
