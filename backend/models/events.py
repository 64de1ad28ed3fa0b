"""The event aggregate: event, its steps (流程轨迹), attachments, ratings, revisits."""
from __future__ import annotations

import peewee

from backend.models.areas import Area, Department
from backend.models.base import BaseModel, JSONField, utcnow
from backend.models.buildings import Building, BuildingUnit
from backend.models.categories import Category
from backend.models.people import Resident, Staff

STATUSES = ("reported", "assigned", "processing", "resolved", "closed", "rejected", "merged", "withdrawn")
STATUS_NAMES = {
    "reported": "待分派",
    "assigned": "待受理",
    "processing": "处置中",
    "resolved": "待核查",
    "closed": "已办结",
    "rejected": "不予受理",
    "merged": "已合并",
    "withdrawn": "已撤回",
}
HOLDER_LEVELS = ("grid", "community", "centre", "department")
SOURCES = ("wechat", "miniprogram", "console", "open311", "staff", "h5")


class EventCounter(BaseModel):
    """One row per local day; incremented atomically to number events YYYYMMDD-NNNN."""

    day = peewee.CharField(max_length=8, primary_key=True)
    value = peewee.IntegerField(default=0)


class Event(BaseModel):
    number = peewee.CharField(max_length=20, unique=True)
    description = peewee.TextField()
    category = peewee.ForeignKeyField(Category, null=True, backref="events")
    status = peewee.CharField(max_length=16, index=True, default="reported")
    holder_level = peewee.CharField(max_length=16, null=True)
    holder_area = peewee.ForeignKeyField(Area, null=True, backref="held_events")
    holder_department = peewee.ForeignKeyField(Department, null=True, backref="held_events")
    holder_staff = peewee.ForeignKeyField(Staff, null=True, backref="held_events")
    # Where the problem is (not where the reporter stands): WGS-84 plus the raw input.
    lat = peewee.DoubleField(null=True)
    lng = peewee.DoubleField(null=True)
    raw_lat = peewee.DoubleField(null=True)
    raw_lng = peewee.DoubleField(null=True)
    raw_datum = peewee.CharField(max_length=8, null=True)
    address = peewee.CharField(max_length=255, null=True)
    location_confirmed = peewee.BooleanField(default=False)
    grid = peewee.ForeignKeyField(Area, null=True, backref="events")  # the grid it happened in
    area_path = peewee.CharField(max_length=255, null=True, index=True)  # path of `grid` (scope queries)
    building = peewee.ForeignKeyField(Building, null=True)
    building_unit = peewee.ForeignKeyField(BuildingUnit, null=True)
    source = peewee.CharField(max_length=16, default="wechat")
    reporter_resident = peewee.ForeignKeyField(Resident, null=True, backref="events")
    reporter_staff = peewee.ForeignKeyField(Staff, null=True, backref="reported_events")
    anonymous = peewee.BooleanField(default=False)
    client_key = peewee.CharField(max_length=128, null=True, unique=True)
    duplicate_of = peewee.ForeignKeyField("self", null=True, backref="duplicates")
    urgent = peewee.BooleanField(default=False)
    quick_record = peewee.BooleanField(default=False)  # 即报即办: shown apart, never rewarded
    suggested_grid = peewee.ForeignKeyField(Area, null=True)  # named by a 退回
    accept_due_at = peewee.DateTimeField(null=True)
    resolve_due_at = peewee.DateTimeField(null=True, index=True)
    verify_due_at = peewee.DateTimeField(null=True)
    sla_level = peewee.CharField(max_length=8, default="ok")  # ok / yellow / red
    escalated_overdue_at = peewee.DateTimeField(null=True)
    reopen_count = peewee.IntegerField(default=0)
    sensitivity = peewee.CharField(max_length=16, default="public", index=True)  # backend.privacy.LEVELS
    emergency = peewee.CharField(max_length=16, null=True)  # "119" / "122,120": what the reporter was told
    holder_path = peewee.CharField(max_length=255, null=True, index=True)  # holder area's path (chain checks)
    anonymised_at = peewee.DateTimeField(null=True, index=True)
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    assigned_at = peewee.DateTimeField(null=True)
    accepted_at = peewee.DateTimeField(null=True, index=True)
    resolved_at = peewee.DateTimeField(null=True, index=True)
    closed_at = peewee.DateTimeField(null=True, index=True)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("holder_staff", "status"), False),
            (("holder_area", "status"), False),
            (("holder_department", "status"), False),
            (("category", "status"), False),
        )

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]

    @property
    def restricted(self) -> bool:
        """Seen only by the holder's chain (sensitive or anonymous; DESIGN §11)."""
        return self.sensitivity == "sensitive" or bool(self.anonymous)


class EventStep(BaseModel):
    event = peewee.ForeignKeyField(Event, backref="steps", on_delete="CASCADE")
    action = peewee.CharField(max_length=24)
    actor_kind = peewee.CharField(max_length=16)  # staff / resident / system
    actor_staff = peewee.ForeignKeyField(Staff, null=True)
    actor_resident = peewee.ForeignKeyField(Resident, null=True)
    actor_label = peewee.CharField(max_length=64)  # e.g. "网格员 张三"; masked for residents
    from_status = peewee.CharField(max_length=16, null=True)
    to_status = peewee.CharField(max_length=16)
    from_holder = JSONField(null=True)
    to_holder = JSONField(null=True)
    note = peewee.TextField(null=True)
    public = peewee.BooleanField(default=True)
    data = JSONField(null=True)
    created_at = peewee.DateTimeField(default=utcnow, index=True)

    @classmethod
    def changes_status(cls):
        """Steps that moved the case to another status (the report, the first step, included) —
        not a 留言, a 督办 or anything else written beside a status."""
        return cls.from_status.is_null() | (cls.from_status != cls.to_status)


class Media(BaseModel):
    """Content-addressed media file under MEDIA_DIR."""

    sha256 = peewee.CharField(max_length=64, unique=True)
    mime = peewee.CharField(max_length=64)
    size = peewee.IntegerField()
    kind = peewee.CharField(max_length=8, default="image")  # image / voice / video
    created_at = peewee.DateTimeField(default=utcnow)


class Attachment(BaseModel):
    event = peewee.ForeignKeyField(Event, backref="attachments", on_delete="CASCADE")
    step = peewee.ForeignKeyField(EventStep, null=True, backref="attachments")
    media = peewee.ForeignKeyField(Media, null=True)
    wechat_media_id = peewee.CharField(max_length=128, null=True)  # pending download (job)
    created_at = peewee.DateTimeField(default=utcnow, index=True)  # the media sweep's window


class EventFollower(BaseModel):
    """关注这件: a resident who reported the same problem follows the original."""

    event = peewee.ForeignKeyField(Event, backref="followers", on_delete="CASCADE")
    resident = peewee.ForeignKeyField(Resident, backref="follows")
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("event", "resident"), True),)


class Rating(BaseModel):
    event = peewee.ForeignKeyField(Event, unique=True, backref="ratings")
    resident = peewee.ForeignKeyField(Resident, null=True)
    score = peewee.IntegerField()
    comment = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow, index=True)


class Revisit(BaseModel):
    """抽查回访: a centre call to the reporter after closure."""

    event = peewee.ForeignKeyField(Event, backref="revisits")
    reason = peewee.CharField(max_length=16)  # sample / low_rating
    status = peewee.CharField(max_length=16, default="pending")  # pending / asked (by WeChat) / done
    outcome = peewee.CharField(max_length=16, null=True)  # satisfied / unsatisfied / unreachable
    note = peewee.TextField(null=True)
    operator = peewee.ForeignKeyField(Staff, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    done_at = peewee.DateTimeField(null=True, index=True)
    asked_at = peewee.DateTimeField(null=True)  # 回访 by WeChat: when the question went out
    channel = peewee.CharField(max_length=16, null=True)  # phone / wechat

    class Meta:
        indexes = ((("event", "reason"), True),)
