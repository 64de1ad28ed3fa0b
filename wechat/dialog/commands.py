"""What the engine asks the shell to do: one small dataclass per backend call.

The engine never calls a service. It returns commands; executor.py runs each one and hands
back a ``Result``; the engine's pure ``conclude`` turns the result into the reply. Every
command that writes carries what makes it idempotent (a client key, or the service's own
rules), so a message WeChat delivers twice cannot file twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SubmitReport:
    client_key: str
    description: str
    category_code: str | None
    lat: float | None = None
    lng: float | None = None
    datum: str = "wgs84"
    address: str | None = None
    building_unit_id: int | None = None
    grid_id: int | None = None  # a grid named without coordinates (a typed grid, a building without a point)
    located: bool = False  # the resident confirmed the echoed place
    wechat_media_ids: tuple = ()  # photos and voice notes, fetched later by the media job
    emergency: bool = False  # filed at once by the emergency path (engine_emergency)


@dataclass(frozen=True)
class AddToReport:
    """What follows an emergency report: its place (a PlaceFact dict), more words, photos."""

    number: str
    place: dict | None = None
    note: str | None = None
    wechat_media_ids: tuple = ()


@dataclass(frozen=True)
class AnswerRevisit:
    """满意 / 基本满意 / 不满意 to the centre's 回访 question."""

    number: str
    words: str


@dataclass(frozen=True)
class KeepPhone:
    """A phone the resident sent for 回访 (offered once, after a report; never asked for)."""

    raw: str


@dataclass(frozen=True)
class SetFollowing:
    """subscribe / unsubscribe: only followers can be sent official-account template messages."""

    following: bool


@dataclass(frozen=True)
class EraseMyData:
    """删除我的信息, confirmed (backend.services.personal_data.erase_resident)."""


@dataclass(frozen=True)
class FollowEvent:
    number: str  # 关注这件: follow an open event instead of filing it again


@dataclass(frozen=True)
class ResidentAction:
    number: str
    action: str  # withdraw / rate
    score: int | None = None
    comment: str | None = None


@dataclass(frozen=True)
class StaffAction:
    staff_id: int
    number: str
    action: str  # accept / resolve / verify / return / escalate
    note: str | None = None
    wechat_media_ids: tuple = ()


@dataclass(frozen=True)
class QuickRecord:
    staff_id: int
    client_key: str
    description: str
    lat: float | None = None
    lng: float | None = None
    datum: str = "wgs84"
    wechat_media_ids: tuple = ()


@dataclass(frozen=True)
class BindStaff:
    token: str
    already_bound_as: str | None = None  # shown if the QR was used already by this same person


@dataclass(frozen=True)
class RememberLocation:
    lat: float
    lng: float
    at: int


@dataclass(frozen=True)
class Result:
    ok: bool
    data: dict = field(default_factory=dict)
    code: str | None = None
    message: str | None = None

    @classmethod
    def done(cls, **data) -> "Result":
        return cls(True, data)

    @classmethod
    def refused(cls, code: str, message: str) -> "Result":
        return cls(False, {}, code, message)


Command = SubmitReport | AddToReport | AnswerRevisit | KeepPhone | SetFollowing | EraseMyData | FollowEvent | ResidentAction | StaffAction | QuickRecord | BindStaff | RememberLocation
