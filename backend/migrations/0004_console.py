"""Console: the monthly metrics rollup and the indexes the metric queries range over.

The metric queries (backend/services/admin_metrics.py) select events by the period's
``resolve_due_at`` / ``accepted_at`` / ``resolved_at`` / ``closed_at`` / ``created_at``,
ratings by ``created_at`` and revisits by ``done_at``; without these indexes a month of a
million-event table is a sequential scan (≈ 200 ms per query on PostgreSQL).
"""
from peewee import *


def up(migrator, db):
    class MetricMonth(Model):
        month = CharField(max_length=7)
        area_path = CharField(max_length=255, default="")
        category_id = IntegerField(default=0)
        due = IntegerField(default=0)
        closed = IntegerField(default=0)
        closed_on_time = IntegerField(default=0)
        closed_in_period = IntegerField(default=0)
        reopened = IntegerField(default=0)
        accepted = IntegerField(default=0)
        accept_seconds = DoubleField(default=0)
        resolved = IntegerField(default=0)
        resolve_seconds = DoubleField(default=0)
        ratings = IntegerField(default=0)
        satisfied_ratings = IntegerField(default=0)
        revisits = IntegerField(default=0)
        satisfied_revisits = IntegerField(default=0)
        quick_record_count = IntegerField(default=0)

        class Meta:
            database = db
            table_name = "metric_month"
            indexes = ((("month", "area_path", "category_id"), True),)

    class MetricMonthState(Model):
        month = CharField(max_length=7, primary_key=True)
        refreshed_at = DateTimeField()

        class Meta:
            database = db
            table_name = "metric_month_state"

    db.create_tables([MetricMonth, MetricMonthState])
    migrator.migrate(
        migrator.add_index("event", ("resolve_due_at",), False),
        migrator.add_index("event", ("accepted_at",), False),
        migrator.add_index("event", ("resolved_at",), False),
        migrator.add_index("rating", ("created_at",), False),
        migrator.add_index("revisit", ("done_at",), False),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index("revisit", "revisit_done_at"),
        migrator.drop_index("rating", "rating_created_at"),
        migrator.drop_index("event", "event_resolved_at"),
        migrator.drop_index("event", "event_accepted_at"),
        migrator.drop_index("event", "event_resolve_due_at"),
        migrator.drop_table("metric_month_state"),
        migrator.drop_table("metric_month"),
    )
