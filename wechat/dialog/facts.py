"""Facts: plain data the shell looks up *before* calling the engine, so the engine stays pure.

Each fact is a frozen dataclass that also round-trips through a dict, because some of them
(a resolved place, the nearby events there) are kept in the dialog state between messages.
gather.py fills these from the database and Redis; tests build them by hand.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


def _from_dict(cls, data: dict):
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (data or {}).items() if k in known})


@dataclass(frozen=True)
class NearbyFact:
    """An open event near a place (any category; the engine filters by the chosen one)."""

    number: str
    category_code: str | None
    category_label: str
    status_name: str
    distance_m: int
    description: str = ""


@dataclass(frozen=True)
class PlaceFact:
    """Where the problem is, resolved: the grid and community to echo back, and how to submit it."""

    source: str  # location / recent / address / qr / area
    label: str = ""  # what to show: a building, an address, a map label
    grid_id: int | None = None
    grid_name: str | None = None
    community_name: str | None = None
    lat: float | None = None  # as to submit, in ``datum`` (the backend converts and keeps the raw input)
    lng: float | None = None
    datum: str = "wgs84"
    building_unit_id: int | None = None
    outside: bool = False  # coordinates outside every grid → the centre handles it
    nearby: tuple = ()  # NearbyFact dicts

    def to_dict(self) -> dict:
        data = asdict(self)
        data["nearby"] = [n if isinstance(n, dict) else asdict(n) for n in self.nearby]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "PlaceFact":
        place = _from_dict(cls, data)
        nearby = tuple(n if isinstance(n, NearbyFact) else _from_dict(NearbyFact, n) for n in place.nearby or ())
        return cls(**{**asdict(place), "nearby": nearby})

    @property
    def area_text(self) -> str:
        """“金源社区 金源第一网格”, the words the confirmation echoes."""
        parts = [p for p in (self.community_name, self.grid_name) if p]
        return " ".join(parts)


@dataclass(frozen=True)
class CategoryFact:
    code: str
    label: str  # the plain-language name (群众说法)
    major: str | None = None  # the 大类 code; None for a 大类 itself


@dataclass(frozen=True)
class StaffFact:
    id: int
    name: str
    role: str
    role_name: str
    area_name: str = ""


@dataclass(frozen=True)
class EventFact:
    """An event as the person asking may see it (names masked for residents)."""

    number: str
    status: str
    status_name: str
    description: str
    category_label: str = ""
    last_step: str = ""  # when it reached its present status: “11月26日 09:30”
    rated: bool = False
    followed: bool = False  # the resident follows it rather than reported it
    trajectory: tuple = ()  # lines, oldest first


@dataclass(frozen=True)
class TaskFact:
    """One of a staff member's tasks, for 待办 and for 接单/办结/退回/上报 N."""

    number: str
    short: int
    status: str
    status_name: str
    description: str
    place: str = ""
    deadline: str = ""  # “今天 17:30 前受理”
    overdue: bool = False
    photo_required: bool = True
    own_grid: bool = False  # in the staff member's own grid: 办结 closes in one step


@dataclass(frozen=True)
class MyDataFact:
    """What the system holds about this resident (backend.services.personal_data.MyData), masked."""

    nickname: str | None = None
    phone: str | None = None
    subscribe_opt_ins: int = 0
    reports_open: int = 0
    reports_ended: int = 0
    follows: int = 0


@dataclass(frozen=True)
class Facts:
    now: int = 0  # epoch seconds
    ttl: int = 1800  # settings.dialog_ttl_seconds
    expired_flow: str | None = None  # a flow whose state Redis already let expire
    staff: StaffFact | None = None  # the staff member bound to this openid
    suggestions: tuple = ()  # CategoryFact, best first, for this message's text
    message_place: PlaceFact | None = None  # this location message, resolved
    place_error: str | None = None  # why this message's location or scan could not be used
    recent_place: PlaceFact | None = None  # a LOCATION event from the last minutes
    address_matches: tuple = ()  # PlaceFact, for typed or spoken addresses
    address_ask: bool = False  # the matches are only a guess: offer them as choices, even one
    scanned_place: PlaceFact | None = None  # a building QR scanned just now
    categories: tuple = ()  # CategoryFact: every 大类 and 小类 (for “全部类别”)
    my_events: tuple = ()  # EventFact, newest first
    event: EventFact | None = None  # the event named in 查/撤回/评价 N
    rateable: EventFact | None = None  # the latest closed, unrated event of mine
    revisit_asked: str | None = None  # the number of a case the centre asked me about (回访)
    complainable: EventFact | None = None  # the latest closed event of mine (没修好 reopens it)
    tasks_todo: tuple = ()  # TaskFact, nearest deadline first
    tasks_doing: tuple = ()
    tasks_more: int = 0  # tasks not listed
    task: TaskFact | None = None  # the task named in a staff command
    my_data: MyDataFact | None = None  # 我的信息
    extra: dict = field(default_factory=dict)
