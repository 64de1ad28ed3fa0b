"""The event state machine (DESIGN §3) as one table plus one pure decision function.

``decide(event, actor, action, params, places)`` checks role, scope, holder and status
and returns a ``Transition`` describing what must change, or raises ``DomainError``.
It touches no database: services load plain views, call ``decide`` and apply the result
inside one transaction. That keeps the rules testable by hypothesis without I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from backend.errors import DomainError, Forbidden

OPEN_STATUSES = ("reported", "assigned", "processing", "resolved")
HELD_STATUSES = ("assigned", "processing")
TERMINAL_STATUSES = ("closed", "rejected", "merged", "withdrawn")
STAFF_ROLES = ("grid_worker", "community_head", "centre_operator", "department_staff", "admin")
CENTRE_ROLES = ("centre_operator", "admin")
LEVEL_NAMES = {"grid": "网格", "community": "社区", "centre": "综治中心", "department": "部门"}


@dataclass(frozen=True)
class Holder:
    level: str  # grid / community / centre / department
    area_id: int | None = None
    department_id: int | None = None
    staff_id: int | None = None


@dataclass(frozen=True)
class Actor:
    kind: str  # staff / resident / system
    id: int | None = None
    role: str | None = None
    area_id: int | None = None
    area_path: str | None = None
    department_id: int | None = None
    label: str = ""


SYSTEM = Actor(kind="system", label="系统")


@dataclass(frozen=True)
class EventView:
    status: str
    holder: Holder | None
    area_path: str  # path of the event's grid, or of the holding centre when unlocated
    grid_id: int | None = None
    reporter_resident_id: int | None = None
    photo_required: bool = True
    has_rating: bool = False
    holder_path: str | None = None  # the holding area's path (a department: the centre that dispatched)
    restricted: bool = False  # sensitive or anonymous: only the holder's chain sees it (DESIGN §11)


@dataclass(frozen=True)
class Place:
    id: int
    level: str
    path: str
    parent_id: int | None


@dataclass(frozen=True)
class Places:
    """The slice of the area tree and department table the rules need."""

    areas: Mapping[int, Place]
    department_areas: Mapping[int, int | None] = field(default_factory=dict)  # department → its area

    def path(self, area_id: int | None) -> str:
        if area_id is None or area_id not in self.areas:
            return "/"
        return self.areas[area_id].path


KEEP = object()  # holder unchanged


@dataclass(frozen=True)
class Transition:
    action: str
    to_status: str
    holder: object = KEEP  # Holder, None (cleared) or KEEP
    public: bool = True
    reopen: bool = False


@dataclass(frozen=True)
class Rule:
    from_statuses: tuple[str, ...]
    who: str  # holder / reporter / supervisor / centre / verifier / party / system / staff
    needs_note: bool = False
    label: str = ""


# The one table. `who` names the check in `_allowed`.
RULES: dict[str, Rule] = {
    "route": Rule(("reported",), "system", label="分派"),
    "accept": Rule(("assigned",), "holder", label="受理"),
    "return": Rule(("assigned", "processing"), "return_party", needs_note=True, label="退回"),
    "escalate": Rule(HELD_STATUSES, "holder", needs_note=True, label="上报"),
    "dispatch": Rule(HELD_STATUSES, "centre_holder", label="派遣"),
    "resolve": Rule(("processing",), "holder", needs_note=True, label="处置反馈"),
    "verify": Rule(("resolved",), "verifier", label="核查办结"),
    "reopen": Rule(("resolved", "closed"), "verifier", needs_note=True, label="返工"),
    "reject": Rule(HELD_STATUSES, "supervisor", needs_note=True, label="不予受理"),
    "merge": Rule(("reported", "assigned", "processing"), "holder_or_centre", label="合并"),
    "withdraw": Rule(("reported", "assigned"), "reporter", label="撤回"),
    "urge": Rule(HELD_STATUSES, "supervisor", label="督办"),
    "comment": Rule(OPEN_STATUSES + TERMINAL_STATUSES, "party", needs_note=True, label="留言"),
    "rate": Rule(("closed",), "reporter", label="评价"),
    "revisit": Rule(("closed",), "centre", label="回访"),
    "locate": Rule(("assigned", "processing"), "reporter", label="补充位置"),
    "complain": Rule(("closed",), "reporter", needs_note=True, label="没修好"),
}
ACTION_LABELS = {name: rule.label for name, rule in RULES.items()} | {
    "submit": "上报事件", "quick_record": "即报即办",
}


def _in_scope(actor: Actor, path: str) -> bool:
    return bool(actor.area_path) and path.startswith(actor.area_path)


def is_holder(event: EventView, actor: Actor) -> bool:
    """The holding unit's own staff: the grid's workers, the community's head, …"""
    holder = event.holder
    if holder is None or actor.kind != "staff":
        return False
    if holder.level == "department":
        return actor.role == "department_staff" and actor.department_id == holder.department_id
    wanted = {"grid": ("grid_worker",), "community": ("community_head",), "centre": CENTRE_ROLES}
    if actor.role not in wanted.get(holder.level, ()):
        return False
    if holder.level == "centre":
        # A centre operator of the holding centre or of one above it — judged by where the
        # holding centre sits, not where the case happened: a case a department handed back
        # to its own street centre may lie in another street, or be unlocated (the city's).
        path = event.holder_path or event.area_path
        return holder.area_id is not None and actor.area_path is not None and _in_scope(actor, path)
    return actor.area_id == holder.area_id


def _is_supervisor(event: EventView, actor: Actor, places: Places) -> bool:
    if actor.kind != "staff":
        return False
    if actor.role in CENTRE_ROLES:
        return _in_scope(actor, event.area_path)
    if actor.role == "community_head" and event.holder and event.holder.level in ("grid", "community"):
        return _in_scope(actor, places.path(event.holder.area_id))
    return False


def _is_verifier(event: EventView, actor: Actor) -> bool:
    if actor.kind != "staff":
        return False
    if actor.role == "grid_worker":
        return event.grid_id is not None and actor.area_id == event.grid_id
    return actor.role in CENTRE_ROLES and _in_scope(actor, event.area_path)


def in_chain(event: EventView, actor: Actor) -> bool:
    """The holder's chain: the community head over a grid or community holder, the centre
    operators at or above the holding area (street, city), and the admin. An event nobody
    holds (waiting to be routed, or ended without a holder) belongs to the centres over it."""
    if actor.kind != "staff":
        return False
    if actor.role == "admin":
        return True
    if event.holder is None or event.holder_path is None:
        return actor.role == "centre_operator" and _in_scope(actor, event.area_path)
    if actor.role == "community_head":
        return event.holder.level in ("grid", "community") and _in_scope(actor, event.holder_path)
    if actor.role == "centre_operator":
        return _in_scope(actor, event.holder_path)
    return False


def can_see(event: EventView, actor: Actor) -> bool:
    """Read access: the reporter, the holder and the holder's chain; for a case that is not
    restricted, also every staff member whose area covers where it happened. A restricted
    case (sensitive, or reported anonymously) stays with the holder's chain and the admin."""
    if actor.kind == "system":
        return True
    if actor.kind == "resident":
        return actor.id is not None and actor.id == event.reporter_resident_id
    if is_holder(event, actor) or in_chain(event, actor):
        return True
    if event.status == "resolved" and _is_verifier(event, actor):
        return True
    if event.restricted:
        return False
    return _in_scope(actor, event.area_path)


def _allowed(rule: Rule, event: EventView, actor: Actor, places: Places) -> bool:
    who = rule.who
    if who == "system":
        return actor.kind == "system"
    if who == "holder":
        return is_holder(event, actor)
    if who == "centre_holder":
        return is_holder(event, actor) and event.holder is not None and event.holder.level == "centre"
    if who == "return_party":  # the holder (before accepting), or a centre re-routing a misroute (转办)
        return is_holder(event, actor) or (
            actor.kind == "staff" and actor.role in CENTRE_ROLES and _in_scope(actor, event.area_path))
    if who == "holder_or_centre":
        return is_holder(event, actor) or (
            actor.kind == "staff" and actor.role in CENTRE_ROLES and _in_scope(actor, event.area_path)
        )
    if who == "reporter":
        return actor.kind == "resident" and actor.id == event.reporter_resident_id
    if who == "supervisor":
        return _is_supervisor(event, actor, places)
    if who == "verifier":
        return _is_verifier(event, actor)
    if who == "centre":
        return actor.kind == "staff" and actor.role in CENTRE_ROLES and _in_scope(actor, event.area_path)
    if who == "party":
        return can_see(event, actor)
    raise AssertionError(f"unknown rule check {who}")


def decide(event: EventView, actor: Actor, action: str, params: Mapping | None, places: Places) -> Transition:
    """Return the transition for ``action`` or raise DomainError; never mutates anything."""
    params = params or {}
    rule = RULES.get(action)
    if rule is None:
        raise DomainError("unknown_action", "不支持这个操作")
    if not _allowed(rule, event, actor, places):
        raise Forbidden("not_allowed", f"您不能对这件事做“{rule.label}”")
    if event.status not in rule.from_statuses:
        raise DomainError(
            "wrong_status", f"这件事现在是“{_status_name(event.status)}”，不能{rule.label}",
            status=event.status,
        )
    note = (params.get("note") or "").strip()
    if rule.needs_note and not note:
        raise DomainError("note_required", f"{rule.label}需要写明原因或情况")
    handler = _HANDLERS.get(action)
    if handler:
        return handler(event, actor, params, places)
    return Transition(action, event.status)


def _status_name(status: str) -> str:
    from backend.models.events import STATUS_NAMES  # plain dict; no DB access

    return STATUS_NAMES.get(status, status)


def _route(event, actor, params, places):
    holder = params.get("holder")
    if not isinstance(holder, Holder):
        raise DomainError("no_holder", "没有找到负责的网格或中心")
    return Transition("route", "assigned", holder=holder)


def _escalate(event, actor, params, places):
    holder = event.holder
    if holder.level == "department":
        area_id = places.department_areas.get(holder.department_id)
        if area_id is None:
            raise DomainError("no_centre", "找不到这个部门所属的综治中心")
        return Transition("escalate", "assigned", holder=Holder("centre", area_id=area_id))
    if holder.level == "centre":
        raise DomainError("top_level", "已经在综治中心，请派遣到部门或不予受理")
    place = places.areas.get(holder.area_id)
    parent = places.areas.get(place.parent_id) if place and place.parent_id else None
    if parent is None:
        raise DomainError("no_parent", "找不到上一级")
    level = "community" if holder.level == "grid" else "centre"
    return Transition("escalate", "assigned", holder=Holder(level, area_id=parent.id))


def _dispatch(event, actor, params, places):
    department_id = params.get("department_id")
    if department_id not in places.department_areas:
        raise DomainError("unknown_department", "请选择要派遣的部门")
    return Transition(
        "dispatch", "assigned",
        holder=Holder("department", area_id=event.holder.area_id, department_id=department_id),
    )


def _resolve(event, actor, params, places):
    if event.photo_required and not params.get("photo_count") and not params.get("waive_photo"):
        raise DomainError("photo_required", "请拍一张处理后的照片")
    own_grid = actor.role == "grid_worker" and event.grid_id is not None and actor.area_id == event.grid_id
    return Transition("resolve", "closed" if own_grid else "resolved")


def _accept(event, actor, params, places):
    holder = event.holder
    if actor.kind == "staff" and holder.staff_id != actor.id and holder.level != "centre":
        holder = Holder(holder.level, holder.area_id, holder.department_id, actor.id)  # who took it
    return Transition("accept", "processing", holder=holder)


def _verify(event, actor, params, places):
    return Transition("verify", "closed")


def _reopen(event, actor, params, places):
    return Transition("reopen", "processing", reopen=True)


def _return(event, actor, params, places):
    """退回: back to be routed again — to the grid the returner names, or one level up from the
    returner (services/events.route_event); never back to the person who returned it."""
    centre = actor.role in CENTRE_ROLES
    if event.status == "processing" and not centre:
        raise DomainError("wrong_status", "这件事已经接单了，不能退回；确实不归您管请上报",
                          status=event.status)
    grid_id = params.get("suggested_grid_id")
    if grid_id is not None and actor.role == "grid_worker" and grid_id == actor.area_id:
        raise DomainError("own_grid", "不能退回到自己的网格，请写明应该归哪个网格")
    if centre and grid_id is None:
        raise DomainError("grid_required", "转办请选择要转给的网格")
    return Transition("return", "reported", holder=None)


def _reject(event, actor, params, places):
    return Transition("reject", "rejected", holder=None)


def _merge(event, actor, params, places):
    if not params.get("duplicate_of"):
        raise DomainError("merge_target_required", "请指明与哪一件合并")
    return Transition("merge", "merged", holder=None)


def _withdraw(event, actor, params, places):
    return Transition("withdraw", "withdrawn", holder=None)


def _rate(event, actor, params, places):
    score = params.get("score")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise DomainError("bad_score", "请打 1 到 5 分")
    if event.has_rating:
        raise DomainError("already_rated", "这件事您已经评价过了")
    return Transition("rate", "closed")


def _revisit(event, actor, params, places):
    outcome = params.get("outcome")
    if outcome not in ("satisfied", "unsatisfied", "unreachable"):
        raise DomainError("bad_outcome", "请选择回访结果：满意、不满意或联系不上")
    if outcome == "unsatisfied":
        return Transition("revisit", "processing", reopen=True, public=False)
    return Transition("revisit", "closed", public=False)


def _locate(event, actor, params, places):
    """补充位置: a report filed without a confirmed place (an emergency is filed at once, on the
    phone's last position at best) gets one; if nobody has taken it yet it goes on to the grid
    where it happened (``holder``, chosen by the service)."""
    holder = params.get("holder")
    if event.grid_id is not None and not params.get("unconfirmed"):
        raise DomainError("already_located", "这件事已经有位置了")
    if (isinstance(holder, Holder) and event.status == "assigned" and event.holder is not None
            and event.holder.level in ("centre", "grid") and event.holder.area_id != holder.area_id):
        return Transition("locate", "assigned", holder=holder)
    return Transition("locate", event.status)


def _complain(event, actor, params, places):
    """没修好 / 不满意 from the reporter: 返工, back to the last handler (the holder is kept)."""
    return Transition("complain", "processing", reopen=True)


def _comment(event, actor, params, places):
    return Transition("comment", event.status, public=not params.get("internal"))


_HANDLERS = {
    "route": _route, "accept": _accept, "escalate": _escalate, "dispatch": _dispatch, "resolve": _resolve,
    "verify": _verify, "reopen": _reopen, "return": _return, "reject": _reject,
    "merge": _merge, "withdraw": _withdraw, "rate": _rate, "revisit": _revisit,
    "comment": _comment, "locate": _locate, "complain": _complain,
}


def holder_agrees(status: str, holder: Holder | None) -> bool:
    """The invariant every state keeps: held statuses have a holder, waiting/ended ones don't."""
    if status in HELD_STATUSES:
        return holder is not None
    if status in ("reported", "rejected", "merged", "withdrawn"):
        return holder is None
    return True  # resolved / closed keep the last holder so a reopen knows where to go


def check_staff_role(actor: Actor) -> None:
    if actor.kind != "staff" or actor.role not in STAFF_ROLES:
        raise Forbidden("staff_only", "只有工作人员可以这样做")
