"""Request and response models (pydantic) for the resident, staff and auth endpoints.

Inputs forbid unknown fields (``Input``); outputs describe exactly what is sent (``Output``),
and every response passes through its model, so the OpenAPI document is what clients get.
Timestamps are ISO 8601 strings with the zone (``backend.clock.iso``).
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, model_validator

from miniprogram_api.api import MAX_ID

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="纬度")]
Lng = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="经度")]
Datum = Literal["gcj02", "wgs84"]


def text(max_length: int, min_length: int = 0, pattern: str | None = None):
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length, pattern=pattern)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageQuery(Input):
    page: Annotated[int, Field(ge=1, le=10000)] = 1
    page_size: Annotated[int, Field(ge=1, le=100)] = 20


# ---- errors ---------------------------------------------------------------------------

class FieldProblem(Output):
    field: str
    problem: str


class ErrorDetail(Output):
    code: str = Field(description="stable machine code, e.g. token_expired, unknown_fields")
    message: str = Field(description="plain Chinese for the user")
    fields: list[FieldProblem] | None = None


class ErrorBody(Output):
    error: ErrorDetail


# ---- places and people ----------------------------------------------------------------

class AreaRef(Output):
    id: int
    name: str
    level: str
    code: str


class PlaceOut(Output):
    """The resolved administrative chain, echoed for on-screen confirmation."""

    city: AreaRef | None = None
    district: AreaRef | None = None
    street: AreaRef | None = None
    community: AreaRef | None = None
    grid: AreaRef | None = None
    label: str


class DepartmentRef(Output):
    id: int
    name: str


class StaffInfo(Output):
    id: int
    name: str
    role: str
    role_name: str
    area: AreaRef | None
    area_label: str | None
    department: DepartmentRef | None


# ---- auth -----------------------------------------------------------------------------

class LoginIn(Input):
    code: text(128, 1) = Field(description="wx.login() code")


class BindIn(Input):
    phone_code: text(128, 1) | None = Field(None, description="getPhoneNumber button code")
    bind_code: text(32, 1) | None = Field(None, description="one-time code from the console")

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.phone_code is None) == (self.bind_code is None):
            raise ValueError("请提供手机号授权码或绑定码（二选一）")
        return self


class MeOut(Output):
    role: str = Field(description="resident, or the staff role (grid_worker, community_head, …)")
    role_name: str
    staff: StaffInfo | None


class SessionOut(MeOut):
    token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    expires_at: Timestamp


# ---- categories, places, buildings, media ----------------------------------------------

class CategoriesQuery(Input):
    q: text(200) | None = Field(None, description="free text; answers with suggestions")


class CategoryNode(Output):
    code: str
    name: str
    plain_name: str
    urgent: bool
    photo_required: bool
    emergency_number: str | None = Field(
        None, description='"emergency: direct to <number>" (e.g. "119"): show the number to call before the form')
    children: list["CategoryNode"]


class Suggestion(Output):
    code: str
    name: str
    plain_name: str
    score: float


class CategoriesOut(Output):
    items: list[CategoryNode]
    suggestions: list[Suggestion]


class LocateQuery(Input):
    lat: Lat
    lng: Lng
    datum: Datum


class LocateOut(Output):
    lat: float = Field(description="WGS-84")
    lng: float = Field(description="WGS-84")
    datum: Datum = Field(description="the datum the point was given in")
    in_grid: bool
    place: PlaceOut | None
    message: str


class BuildingQuery(Input):
    qr: text(512, 1) = Field(description="scanned text: the QR URL or its bare token")


class UnitRef(Output):
    id: int
    name: str


class BuildingOut(Output):
    id: int
    name: str
    address: str | None
    unit: UnitRef | None
    place: PlaceOut | None


class MediaOut(Output):
    id: int
    kind: Literal["image", "voice"]
    mime: str
    size: int


# ---- app feedback ---------------------------------------------------------------------

class FeedbackIn(Input):
    content: text(1000, 1)


class FeedbackOut(Output):
    id: int
    content: str
    status: str
    status_name: str
    reply: str | None
    created_at: Timestamp
    updated_at: Timestamp


class FeedbackPage(Output):
    items: list[FeedbackOut]
    total: int
    page: int
    page_size: int
