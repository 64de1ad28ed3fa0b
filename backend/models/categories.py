"""Event categories: two levels, professional and plain-language names, time limits."""
from __future__ import annotations

import peewee

from backend.models.base import BaseModel, JSONField

# Limit units: working hours, working days, natural hours, natural days.
LIMIT_UNITS = ("work_hours", "work_days", "hours", "days")


class Category(BaseModel):
    code = peewee.CharField(max_length=16, unique=True)  # 2-digit 大类 + 2-digit 小类
    parent = peewee.ForeignKeyField("self", null=True, backref="children")
    name = peewee.CharField(max_length=64)  # professional name
    plain_name = peewee.CharField(max_length=64)  # 群众说法
    keywords = JSONField(default=list)
    # The kind of department that usually handles it (cgb, mzb, …); each street has its own office.
    default_department_kind = peewee.CharField(max_length=16, null=True)
    urgent = peewee.BooleanField(default=False)
    accept_limit = peewee.IntegerField(default=4)
    accept_unit = peewee.CharField(max_length=16, default="work_hours")
    resolve_limit = peewee.IntegerField(default=5)
    resolve_unit = peewee.CharField(max_length=16, default="work_days")
    verify_limit = peewee.IntegerField(default=2)
    verify_unit = peewee.CharField(max_length=16, default="work_days")
    photo_required = peewee.BooleanField(default=True)
    # DESIGN §11: public / internal / sensitive (backend.privacy.LEVELS)
    sensitivity = peewee.CharField(max_length=16, default="public")
    retention_days = peewee.IntegerField(null=True)  # empty: backend.privacy.retention_days default
    emergency_number = peewee.CharField(max_length=16, null=True)  # "emergency: direct to 110"
    sort_order = peewee.IntegerField(default=0)
    active = peewee.BooleanField(default=True)
