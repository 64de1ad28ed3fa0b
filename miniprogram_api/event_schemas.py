"""Request and response models for events: reports, details, trajectories, tasks, actions.

Split from schemas.py by concern; the same rules hold (inputs forbid unknown fields, outputs
describe exactly what is sent, timestamps are ISO 8601 with the zone).
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from miniprogram_api.schemas import Datum, Id, Input, Lat, Lng, Output, PageQuery, PlaceOut, Timestamp, text

CategoryCode = text(16, 1, r"^\d{2,8}$")
ClientKey = text(64, 8, r"^[A-Za-z0-9_-]+$")
MediaIds = Annotated[list[Id], Field(max_length=9)]

# ---- events ---------------------------------------------------------------------------

class CategoryRef(Output):
    code: str
    name: str
    plain_name: str


class LocationOut(Output):
    lat: float | None
    lng: float | None
    raw_lat: float | None
    raw_lng: float | None
    raw_datum: str | None
    address: str | None
    building: str | None


class HolderOut(Output):
    level: str
    level_name: str
    unit: str | None
    person: str | None


class RatingOut(Output):
    score: int
    comment: str | None
    at: Timestamp


class EventOut(Output):
    number: str
    status: str
    status_name: str
    description: str
    category: CategoryRef | None
    place: PlaceOut | None
    location: LocationOut
    holder: HolderOut | None
    anonymous: bool
    urgent: bool
    quick_record: bool
    source: str
    sla_level: str
    created_at: Timestamp
    updated_at: Timestamp
    accept_due_at: Timestamp | None
    resolve_due_at: Timestamp | None
    closed_at: Timestamp | None
    rating: RatingOut | None
    media_ids: list[int]


class NearbyOut(Output):
    number: str
    status: str
    status_name: str
    category: CategoryRef | None
    distance_m: float
    created_at: Timestamp


class EmergencyOut(Output):
    numbers: list[str] = Field(description="whom to call, most pressing first: 110 / 119 / 120 / 122")
    advice: str = Field(description="one short line to show first, before anything else")


class CreatedEventOut(EventOut):
    created: bool = Field(description="false when client_key repeated an earlier report")
    nearby: list[NearbyOut] = Field(description="open events of the same category close by")
    emergency: EmergencyOut | None = Field(
        None, description="set when the report describes danger happening now: show `advice` first and offer "
                          "to call `numbers[0]`; the report is filed as urgent all the same")


class StepOut(Output):
    action: str
    action_name: str
    actor: str
    from_status: str | None
    to_status: str
    status_name: str
    note: str | None
    at: Timestamp
    media_ids: list[int] = Field(description="every file of the step: photo_ids, then voice_ids")
    photo_ids: list[int] = Field(description="photos: GET /media/{id}")
    voice_ids: list[int] = Field(description="voice notes: play GET /media/{id}/listen (WAV for WeChat's AMR)")


class EventDetailOut(EventOut):
    trajectory: list[StepOut]
    allowed_actions: list[str] = Field(description="actions the caller may take now (buttons)")


class EventPage(Output):
    items: list[EventOut]
    total: int
    page: int
    page_size: int


class CreateEventIn(Input):
    description: text(4000, 1)
    category: CategoryCode | None = Field(None, description="小类 code; suggested when absent")
    lat: Lat | None = None
    lng: Lng | None = None
    datum: Datum | None = Field(None, description="required with lat/lng")
    client_key: ClientKey = Field(description="one per form; a retry repeats it")
    building_qr: text(512, 1) | None = None
    media_ids: MediaIds = []
    anonymous: bool = False
    address: text(200) | None = None


class WithdrawIn(Input):
    note: text(1000) | None = None


class RateIn(Input):
    score: Annotated[int, Field(ge=1, le=5)]
    comment: text(500) | None = None


# ---- staff ----------------------------------------------------------------------------

class TasksQuery(PageQuery):
    view: Literal["todo", "doing", "done"] = "todo"


class TaskOut(Output):
    number: str
    status: str
    status_name: str
    category: CategoryRef | None
    summary: str
    place_label: str | None
    due_at: Timestamp | None
    sla_level: str
    urgent: bool
    created_at: Timestamp


class TaskPage(Output):
    view: str
    items: list[TaskOut]
    total: int
    total_capped: bool = Field(False, description="done only: true when there are more than `total` "
                                                  "(the count stops at 2000; show “2000+”)")
    page: int
    page_size: int


class ActionIn(Input):
    note: text(1000) | None = None
    media_ids: MediaIds = []
    department_id: Id | None = Field(None, description="dispatch: the department")
    duplicate_of: text(20, 1) | None = Field(None, description="merge: the original event's number")
    suggested_grid_id: Id | None = Field(None, description="return: the grid it belongs to")
    internal: bool = Field(False, description="comment: staff only")


class QuickRecordIn(Input):
    description: text(4000, 1)
    category: CategoryCode | None = None
    lat: Lat | None = None
    lng: Lng | None = None
    datum: Datum | None = None
    media_ids: MediaIds = []
    client_key: ClientKey


class FollowOut(Output):
    """关注这件: the resident now hears about this event's progress instead of reporting it again."""

    number: str
    status: str
    status_name: str
    following: bool
