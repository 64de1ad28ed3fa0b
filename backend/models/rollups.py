"""Pre-aggregated metrics: the sums every outcome figure adds up, kept by database triggers."""
from __future__ import annotations

import peewee

from backend.models.base import BaseModel


class MetricSum(BaseModel):
    """What the events, ratings and revisits of one (area_path, category, kind, local month)
    add up to (migration 0014 creates the table and the triggers that keep it; the kinds are
    ``backend.services.admin_metrics.KIND_*``). On PostgreSQL a key may have several rows until
    ``admin_metrics.compact()`` folds them; always read it with SUM."""

    area_path = peewee.CharField(max_length=255)
    category_id = peewee.IntegerField()
    kind = peewee.SmallIntegerField()
    month = peewee.IntegerField()  # YYYYMM, Asia/Shanghai
    closed_month = peewee.IntegerField()  # kind 1: YYYYMM of closed_at when closed, else 0
    n = peewee.BigIntegerField()
    n2 = peewee.BigIntegerField()
    us = peewee.BigIntegerField()  # microseconds
    fresh = peewee.BooleanField(default=True)  # PostgreSQL: appended since the last compaction

    class Meta:
        table_name = "metric_sum"
