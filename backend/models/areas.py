"""Places: the area tree city → district → street → community → grid, and departments."""
from __future__ import annotations

import peewee

from backend.models.base import BaseModel, JSONField

LEVELS = ("city", "district", "street", "community", "grid")
LEVEL_NAMES = {"city": "市", "district": "区", "street": "街道", "community": "社区", "grid": "网格"}


class Area(BaseModel):
    parent = peewee.ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    level = peewee.CharField(max_length=16, index=True)
    name = peewee.CharField(max_length=64)
    code = peewee.CharField(max_length=32, unique=True)  # administrative code (GB/T 30428 grid code)
    # Materialised path "/1/4/9/" so that scope checks are a prefix test.
    path = peewee.CharField(max_length=255, index=True, default="/")
    boundary = JSONField(null=True)  # GeoJSON geometry, WGS-84
    # Bumped by save() whenever the boundary changed: other processes' grid indexes notice
    # it through their fingerprint (backend/geo.py, migration 0005).
    boundary_version = peewee.IntegerField(default=0)
    sort_order = peewee.IntegerField(default=0)

    def save(self, *args, **kwargs):
        if self._pk is not None and "boundary" in self.dirty_field_names:
            self.boundary_version = (self.boundary_version or 0) + 1
        return super().save(*args, **kwargs)

    def is_within(self, other: "Area") -> bool:
        return self.path.startswith(other.path)

    @property
    def depth(self) -> int:
        return LEVELS.index(self.level)


class Department(BaseModel):
    name = peewee.CharField(max_length=64)
    code = peewee.CharField(max_length=32, unique=True)
    kind = peewee.CharField(max_length=16, index=True)  # cgb 城管办 / mzb 民政办 / wjb 卫健办 / pcs 派出所 …
    area = peewee.ForeignKeyField(Area, null=True, backref="departments")  # the street/district it serves
    sort_order = peewee.IntegerField(default=0)
