"""Models by aggregate (STYLE §3). ``ALL_MODELS`` is in dependency order."""
from backend.models.admin import ApiKey, AppFeedback, HolidayOverride
from backend.models.areas import LEVELS, Area, Department
from backend.models.buildings import AuditLog, Building, BuildingUnit, Person, Room
from backend.models.categories import Category
from backend.models.events import (
    STATUS_NAMES,
    STATUSES,
    Attachment,
    Event,
    EventCounter,
    EventFollower,
    EventStep,
    Media,
    Rating,
    Revisit,
)
from backend.models.messaging import (
    DepartmentSubscription,
    DialogDraft,
    InboundMessage,
    Notification,
    OutboxMessage,
    WebhookDelivery,
)
from backend.models.people import ROLES, Resident, Staff, SubscribeOptIn
from backend.models.rollups import MetricSum
from backend.models.uploads import MediaUpload

ALL_MODELS = [
    MetricSum,  # first: deleting events (SQLite's test truncation) writes into it
    Area, Department, Staff, Resident, SubscribeOptIn, Category, Building, BuildingUnit, Room, Person, AuditLog,
    EventCounter, Event, EventStep, Media, MediaUpload, Attachment, EventFollower, Rating, Revisit,
    OutboxMessage, Notification, InboundMessage, DialogDraft, DepartmentSubscription,
    WebhookDelivery,
    HolidayOverride, ApiKey, AppFeedback,
]

__all__ = [m.__name__ for m in ALL_MODELS] + ["ALL_MODELS", "LEVELS", "ROLES", "STATUSES", "STATUS_NAMES"]
