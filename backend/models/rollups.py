"""Pre-aggregated metrics: additive monthly sums the console's trend charts read."""
from __future__ import annotations

import peewee

from backend.models.base import BaseModel, utcnow


class MetricMonth(BaseModel):
    """Additive sums of one completed local month, per (area_path, category)."""

    month = peewee.CharField(max_length=7)  # YYYY-MM, Asia/Shanghai
    area_path = peewee.CharField(max_length=255, default="")
    category_id = peewee.IntegerField(default=0)
    due = peewee.IntegerField(default=0)
    closed = peewee.IntegerField(default=0)
    closed_on_time = peewee.IntegerField(default=0)
    closed_in_period = peewee.IntegerField(default=0)
    reopened = peewee.IntegerField(default=0)
    accepted = peewee.IntegerField(default=0)
    accept_seconds = peewee.DoubleField(default=0)
    resolved = peewee.IntegerField(default=0)
    resolve_seconds = peewee.DoubleField(default=0)
    ratings = peewee.IntegerField(default=0)
    satisfied_ratings = peewee.IntegerField(default=0)
    revisits = peewee.IntegerField(default=0)
    satisfied_revisits = peewee.IntegerField(default=0)
    quick_record_count = peewee.IntegerField(default=0)

    class Meta:
        table_name = "metric_month"
        indexes = ((("month", "area_path", "category_id"), True),)


class MetricMonthState(BaseModel):
    """Which months are stored, and when they were computed."""

    month = peewee.CharField(max_length=7, primary_key=True)
    refreshed_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "metric_month_state"
