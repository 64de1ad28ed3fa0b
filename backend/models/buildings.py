"""Buildings (楼栋) → units (单元) → rooms → persons (实有人口), and the PII audit log."""
from __future__ import annotations

import peewee

from backend.models.areas import Area
from backend.models.base import BaseModel, JSONField, utcnow

PERSON_KINDS = ("户籍", "流动", "未落户", "境外")


class Building(BaseModel):
    area = peewee.ForeignKeyField(Area, backref="buildings")  # the grid it stands in
    name = peewee.CharField(max_length=64)
    address = peewee.CharField(max_length=255, null=True)
    lat = peewee.DoubleField(null=True)
    lng = peewee.DoubleField(null=True)

    class Meta:
        indexes = ((("area", "name"), True),)


class BuildingUnit(BaseModel):
    building = peewee.ForeignKeyField(Building, backref="units", on_delete="CASCADE")
    name = peewee.CharField(max_length=32)
    qr_token = peewee.CharField(max_length=64, unique=True)  # random; printed on the entrance QR

    class Meta:
        indexes = ((("building", "name"), True),)


class Room(BaseModel):
    unit = peewee.ForeignKeyField(BuildingUnit, backref="rooms", on_delete="CASCADE")
    number = peewee.CharField(max_length=16)

    class Meta:
        indexes = ((("unit", "number"), True),)


class Person(BaseModel):
    room = peewee.ForeignKeyField(Room, backref="persons")
    name = peewee.CharField(max_length=64)
    kind = peewee.CharField(max_length=8, default="户籍")
    id_number_enc = peewee.TextField(null=True)  # AES-GCM ciphertext, never plaintext
    id_number_index = peewee.CharField(max_length=64, null=True, index=True)  # HMAC blind index
    phone_enc = peewee.TextField(null=True)
    phone_index = peewee.CharField(max_length=64, null=True, index=True)
    care_tags = JSONField(default=list)  # 独居老人, 残疾人 …
    moved_in_at = peewee.DateTimeField(default=utcnow)
    moved_out_at = peewee.DateTimeField(null=True)
    updated_at = peewee.DateTimeField(default=utcnow)


class AuditLog(BaseModel):
    """Every read or write of a person record (PIPL Art. 28)."""

    actor_staff_id = peewee.IntegerField(null=True)
    actor_label = peewee.CharField(max_length=64)
    action = peewee.CharField(max_length=16)  # read / create / update / move_out / list
    entity = peewee.CharField(max_length=32)
    entity_id = peewee.IntegerField(null=True)
    detail = JSONField(null=True)
    created_at = peewee.DateTimeField(default=utcnow, index=True)
