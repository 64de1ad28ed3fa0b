"""Which actions the console offers on an event, and turning their forms into service params.

The workflow table decides; the console only asks it. An action is offered when
``workflow.decide`` accepts it for this actor and status with placeholder parameters, so
the buttons shown and the rules enforced can never disagree.
"""
from __future__ import annotations

from backend import workflow
from backend.errors import DomainError
from backend.models import Area, Category, Department, Event
from backend.services.actions import allowed_actions

# Order of the buttons on the event page.
CONSOLE_ACTIONS = ("accept", "dispatch", "return", "escalate", "urge", "verify", "reopen", "reject", "merge",
                   "comment")
LABELS = {"return": "转办（退回并指定网格）"}


def available_actions(event: Event, actor) -> list[str]:
    return allowed_actions(event, actor, CONSOLE_ACTIONS)


def label(action: str) -> str:
    return LABELS.get(action) or workflow.ACTION_LABELS.get(action, action)


def dispatch_departments(event: Event) -> tuple[list[Department], int | None]:
    """Departments the holding centre oversees — those serving its area or an area above it, and,
    for a city or district centre, those of every street below it (the street where the case
    happened first) — and the one the category's ``default_department_kind`` preselects."""
    area_id = event.holder_area_id or event.grid_id
    area = Area.get_or_none(Area.id == area_id) if area_id else None
    chain = [int(p) for p in area.path.strip("/").split("/") if p] if area else []
    where = Department.area.in_(chain) if chain else Department.area.is_null()
    if area is not None:
        below = Area.select(Area.id).where(Area.path.startswith(area.path))
        where |= Department.area.in_(below)
    departments = list(Department.select().where(where))
    happened = [int(p) for p in (event.area_path or "").strip("/").split("/") if p]
    depth = {a: i for i, a in enumerate(happened)}
    departments.sort(key=lambda d: (-depth.get(d.area_id, -1), d.sort_order, d.id))
    kind = None
    if event.category_id:
        kind = Category.get_by_id(event.category_id).default_department_kind
    preselected = next((d.id for d in departments if kind and d.kind == kind), None)
    return departments, preselected


def transfer_grids(event: Event, scope_path: str) -> list[Area]:
    """Grids the event may be sent to: those under the holding centre's area, within scope."""
    base = Area.get_or_none(Area.id == event.holder_area_id) if event.holder_area_id else None
    prefix = base.path if base and base.path.startswith(scope_path) else scope_path
    from backend.services.admin_areas import tree_order

    return [a for a in tree_order(list(Area.select().where(Area.path.startswith(prefix))))
            if a.level == "grid"]


def params_from_form(action: str, form, scope_path: str) -> dict:
    params: dict = {"note": (form.get("note") or "").strip()}
    if action == "dispatch":
        try:
            params["department_id"] = int(form.get("department_id", ""))
        except ValueError:
            raise DomainError("unknown_department", "请选择要派遣的部门") from None
    elif action == "return":
        grid_id = form.get("suggested_grid_id", "")
        if grid_id:
            grid = Area.get_or_none(Area.id == int(grid_id)) if grid_id.isdigit() else None
            if grid is None or grid.level != "grid" or not grid.path.startswith(scope_path):
                raise DomainError("bad_grid", "请选择您辖区内的网格")
            params["suggested_grid_id"] = grid.id
            if not params["note"]:
                params["note"] = f"转至{grid.name}"
    elif action == "merge":
        target = (form.get("duplicate_of") or "").strip()
        if not target:
            raise DomainError("merge_target_required", "请填写要合并到的事件编号")
        params["duplicate_of"] = target
    elif action == "comment":
        params["internal"] = form.get("internal") == "1"
    elif action == "revisit":
        params["outcome"] = form.get("outcome", "")
    return params
