"""People who use the system: staff (cadres) and residents."""
from __future__ import annotations

import peewee

from backend.models.areas import Area, Department
from backend.models.base import BaseModel, utcnow

ROLES = ("grid_worker", "community_head", "centre_operator", "department_staff", "admin")
ROLE_NAMES = {
    "grid_worker": "网格员",
    "community_head": "社区负责人",
    "centre_operator": "综治中心",
    "department_staff": "部门人员",
    "admin": "管理员",
}


class Staff(BaseModel):
    name = peewee.CharField(max_length=64)
    role = peewee.CharField(max_length=32, index=True)
    area = peewee.ForeignKeyField(Area, null=True, backref="staff")
    department = peewee.ForeignKeyField(Department, null=True, backref="staff")
    phone_enc = peewee.TextField(null=True)  # AES-GCM (backend.crypto)
    phone_index = peewee.CharField(max_length=64, null=True, index=True)  # HMAC blind index
    oa_openid = peewee.CharField(max_length=64, null=True, unique=True)
    mp_openid = peewee.CharField(max_length=64, null=True, unique=True)
    username = peewee.CharField(max_length=64, null=True, unique=True)  # console login
    password_hash = peewee.CharField(max_length=255, null=True)
    # A one-time password (``server init``, a staff import, an admin's reset): changed at first login.
    password_change_required = peewee.BooleanField(default=False)
    bind_token = peewee.CharField(max_length=64, null=True, unique=True)  # one-time binding QR/code
    bind_token_expires_at = peewee.DateTimeField(null=True)
    active = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField(default=utcnow)


class Resident(BaseModel):
    oa_openid = peewee.CharField(max_length=64, null=True, unique=True)
    mp_openid = peewee.CharField(max_length=64, null=True, unique=True)
    nickname = peewee.CharField(max_length=64, null=True)
    phone_enc = peewee.TextField(null=True)
    phone_index = peewee.CharField(max_length=64, null=True, index=True)
    last_message_at = peewee.DateTimeField(null=True)  # opens WeChat's 48-hour customer-message window
    subscribe_opt_ins = peewee.IntegerField(default=0)  # unused since 0009: see SubscribeOptIn
    oa_following = peewee.BooleanField(null=True)  # None unknown; False after unsubscribe / 43004
    phone_offered_at = peewee.DateTimeField(null=True)  # the chat offered once to keep a phone
    erase_requested_at = peewee.DateTimeField(null=True)  # 删除我的信息: open reports anonymised once closed
    created_at = peewee.DateTimeField(default=utcnow)


SUBSCRIBE_ANSWERS = ("accept", "reject", "ban")


class SubscribeOptIn(BaseModel):
    """One-time mini-program subscribe-message opt-ins a resident gave, per template id.

    Each ``accept`` in wx.requestSubscribeMessage adds one to ``remaining``; each subscribe
    message sent takes one. ``reject`` and ``ban`` are recorded (and ban clears what is left).
    """

    resident = peewee.ForeignKeyField(Resident, backref="opt_ins", on_delete="CASCADE")
    template_id = peewee.CharField(max_length=64)
    remaining = peewee.IntegerField(default=0)
    last_answer = peewee.CharField(max_length=8, default="accept")
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("resident", "template_id"), True),)
