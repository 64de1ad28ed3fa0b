"""Turn rows into the plain views the pure workflow reasons about."""
from __future__ import annotations

import time

from backend import workflow
from backend.crypto import mask_name
from backend.db import Statement
from backend.errors import NotFound
from backend.models import Area, Category, Department, Event, Rating, Resident, Staff
from backend.models.people import ROLE_NAMES
from backend.workflow import Actor, EventView, Holder, Place, Places


def staff_actor(staff: Staff) -> Actor:
    area = staff.area if staff.area_id else None
    return Actor(
        kind="staff", id=staff.id, role=staff.role, area_id=staff.area_id,
        area_path=area.path if area else None, department_id=staff.department_id,
        label=f"{ROLE_NAMES.get(staff.role, staff.role)} {staff.name}",
    )


def resident_actor(resident: Resident) -> Actor:
    return Actor(kind="resident", id=resident.id, label="居民")


def load_staff(staff_id: int) -> Staff:
    staff = Staff.get_or_none((Staff.id == staff_id) & (Staff.active == True))  # noqa: E712
    if staff is None:
        raise NotFound("staff_not_found", "找不到这位工作人员")
    return staff


def holder_of(event: Event) -> Holder | None:
    if not event.holder_level:
        return None
    return Holder(event.holder_level, event.holder_area_id, event.holder_department_id, event.holder_staff_id)


def holder_fields(holder: Holder | None) -> dict:
    """Event columns for a holder, with the holding area's path (``holder_path``): the
    holder's chain (community head, street centre) is then a prefix test in SQL."""
    if holder is None:
        return {"holder_level": None, "holder_area": None, "holder_department": None, "holder_staff": None,
                "holder_path": None}
    return {
        "holder_level": holder.level, "holder_area": holder.area_id,
        "holder_department": holder.department_id, "holder_staff": holder.staff_id,
        "holder_path": area_path_of(holder.area_id),
    }


_PATH_CACHE_SECONDS = 30.0
_path_cache: dict[int, tuple[float, str | None]] = {}


def invalidate_caches() -> None:
    """Forget cached area paths (tests that rebuild the area table; a move of areas)."""
    _path_cache.clear()


def area_path_of(area_id: int | None) -> str | None:
    """An area's materialised path, cached per process for a few seconds (areas rarely move)."""
    if area_id is None:
        return None
    now = time.monotonic()
    hit = _path_cache.get(area_id)
    if hit is not None and now - hit[0] < _PATH_CACHE_SECONDS:
        return hit[1]
    row = Area.select(Area.path).where(Area.id == area_id).first()
    if len(_path_cache) > 10000:
        _path_cache.clear()
    _path_cache[area_id] = (now, row.path if row else None)
    return row.path if row else None


def holder_json(holder: Holder | None) -> dict | None:
    if holder is None:
        return None
    return {"level": holder.level, "area_id": holder.area_id,
            "department_id": holder.department_id, "staff_id": holder.staff_id}


_CATEGORY = Statement(lambda category_id: Category.select().where(Category.id == category_id).limit(1))


def category_of(event: Event) -> Category | None:
    """``event.category``, read with its SQL built once (backend.db.Statement) and kept on the
    event as peewee keeps a loaded foreign key, so ``event.category`` afterwards reads nothing."""
    if event.category_id is None:
        return None
    loaded = event.__rel__.get("category")
    if loaded is None or loaded.id != event.category_id:
        loaded = _CATEGORY.first(event.category_id)
        if loaded is None:
            raise Category.DoesNotExist(f"category {event.category_id}")
        event.__rel__["category"] = loaded
    return loaded


def event_view(event: Event, with_rating: bool = True) -> EventView:
    category = category_of(event)
    photo_required = category.photo_required if category is not None else False
    return EventView(
        status=event.status, holder=holder_of(event), area_path=event.area_path or "/",
        grid_id=event.grid_id, reporter_resident_id=event.reporter_resident_id,
        photo_required=photo_required,
        has_rating=with_rating and Rating.select().where(Rating.event == event.id).exists(),
        holder_path=event.holder_path or (area_path_of(event.holder_area_id) if event.holder_area_id else None),
        restricted=event.restricted,
    )


# Actions whose rule or handler reads the area tree or the department table.
ACTIONS_NEEDING_PLACES = ("escalate", "dispatch", "reject", "urge")


def places_for(event: Event, action: str | None = None) -> Places:
    """Just the areas an action on this event may need: the holder's area and its parent."""
    if action is not None and action not in ACTIONS_NEEDING_PLACES:
        return Places(areas={})
    areas: dict[int, Place] = {}
    area_id = event.holder_area_id
    for _ in range(2):
        if area_id is None:
            break
        area = Area.get_or_none(Area.id == area_id)
        if area is None:
            break
        areas[area.id] = Place(area.id, area.level, area.path, area.parent_id)
        area_id = area.parent_id
    departments = {d.id: d.area_id for d in Department.select(Department.id, Department.area)}
    return Places(areas=areas, department_areas=departments)


def masked_label(label: str) -> str:
    """"网格员 张三" → "网格员 张*" for the reporter's view of the trajectory."""
    role, _, name = label.partition(" ")
    return f"{role} {mask_name(name)}" if name else role


def get_event(number_or_id) -> Event:
    query = Event.select()
    if isinstance(number_or_id, int):
        event = query.where(Event.id == number_or_id).first()
    else:
        event = query.where(Event.number == str(number_or_id)).first()
    if event is None:
        raise NotFound("event_not_found", "没有找到这件事，请核对编号")
    return event


__all__ = ["workflow"]
