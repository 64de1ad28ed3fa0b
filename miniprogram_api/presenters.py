"""Events as the mini-program shows them: residents see staff names masked, staff see all.

Pages of events load their categories, areas and holders in a few queries, not one per row.
"""
from __future__ import annotations

from backend import clock, workflow
from backend.crypto import mask_name
from backend.errors import DomainError
from backend.models import Attachment, Category, Department, Event, Rating, Staff
from backend.models.events import STATUS_NAMES
from backend.services import queries
from backend.services.context import event_view, places_for
from backend.workflow import LEVEL_NAMES
from miniprogram_api.places import load_areas, path_ids, place_for_path
from miniprogram_api.event_schemas import (
    CategoryRef,
    EventDetailOut,
    EventOut,
    HolderOut,
    LocationOut,
    NearbyOut,
    RatingOut,
    StepOut,
    TaskOut,
)

STAFF_ACTIONS = ("accept", "return", "escalate", "dispatch", "resolve", "verify", "reopen", "reject",
                 "merge", "urge", "comment")
RESIDENT_ACTIONS = ("withdraw", "rate")


class TaskBook:
    """What a task list shows besides the event rows: categories and place names (2 queries)."""

    def __init__(self, events: list[Event]):
        self.categories = {c.id: c for c in Category.select().where(
            Category.id.in_(sorted({e.category_id for e in events if e.category_id}) or [0]))}
        paths = [e.area_path for e in events]
        paths += [f"/{e.holder_area_id}/" for e in events if e.holder_area_id]
        self.areas = load_areas(paths)


class Book(TaskBook):
    """Rows shared by a page of events, loaded once."""

    def __init__(self, events: list[Event]):
        super().__init__(events)
        self.staff = {s.id: s for s in Staff.select().where(
            Staff.id.in_(sorted({e.holder_staff_id for e in events if e.holder_staff_id}) or [0]))}
        self.departments = {d.id: d for d in Department.select().where(
            Department.id.in_(sorted({e.holder_department_id for e in events if e.holder_department_id}) or [0]))}
        ids = [e.id for e in events] or [0]
        self.ratings = {r.event_id: r for r in Rating.select().where(Rating.event.in_(ids))}
        self.media: dict[int, list[int]] = {}
        for att in (Attachment.select(Attachment.event, Attachment.media)
                    .where(Attachment.event.in_(ids) & Attachment.media.is_null(False)
                           & (Attachment.step.is_null() | (Attachment.step.in_(_submit_steps(ids)))))
                    .order_by(Attachment.id)):
            self.media.setdefault(att.event_id, []).append(att.media_id)


def _submit_steps(event_ids):
    from backend.models import EventStep

    return EventStep.select(EventStep.id).where(EventStep.event.in_(event_ids)
                                                & EventStep.action.in_(("submit", "quick_record")))


def category_ref(category: Category | None) -> CategoryRef | None:
    if category is None:
        return None
    return CategoryRef(code=category.code, name=category.name, plain_name=category.plain_name)


def _holder(event: Event, book: Book, for_reporter: bool) -> HolderOut | None:
    if not event.holder_level:
        return None
    unit = None
    if event.holder_level == "department" and event.holder_department_id in book.departments:
        unit = book.departments[event.holder_department_id].name
    elif event.holder_area_id in book.areas:
        unit = book.areas[event.holder_area_id].name
    person = None
    staff = book.staff.get(event.holder_staff_id)
    if staff is not None:
        person = mask_name(staff.name) if for_reporter else staff.name
    return HolderOut(level=event.holder_level, level_name=LEVEL_NAMES.get(event.holder_level, event.holder_level),
                     unit=unit, person=person)


def event_fields(event: Event, book: Book, for_reporter: bool) -> dict:
    rating = book.ratings.get(event.id)
    building = None
    if event.building_id:
        building = event.building.name + (f" {event.building_unit.name}" if event.building_unit_id else "")
    return dict(
        number=event.number, status=event.status, status_name=STATUS_NAMES[event.status],
        description=event.description, category=category_ref(book.categories.get(event.category_id)),
        place=place_for_path(event.area_path, book.areas),
        location=LocationOut(lat=event.lat, lng=event.lng, raw_lat=event.raw_lat, raw_lng=event.raw_lng,
                             raw_datum=event.raw_datum, address=event.address, building=building),
        holder=_holder(event, book, for_reporter), anonymous=event.anonymous, urgent=event.urgent,
        quick_record=event.quick_record, source=event.source, sla_level=event.sla_level,
        created_at=clock.iso(event.created_at), updated_at=clock.iso(event.updated_at),
        accept_due_at=clock.iso(event.accept_due_at), resolve_due_at=clock.iso(event.resolve_due_at),
        closed_at=clock.iso(event.closed_at),
        rating=RatingOut(score=rating.score, comment=rating.comment, at=clock.iso(rating.created_at))
        if rating else None,
        media_ids=book.media.get(event.id, []),
    )


def event_out(event: Event, for_reporter: bool, book: Book | None = None) -> EventOut:
    return EventOut(**event_fields(event, book or Book([event]), for_reporter))


def events_out(events: list[Event], for_reporter: bool) -> list[EventOut]:
    book = Book(events)
    return [EventOut(**event_fields(e, book, for_reporter)) for e in events]


def allowed_actions(event: Event, actor: workflow.Actor) -> list[str]:
    """Buttons to show: actions ``decide`` would accept now (the POST re-checks everything)."""
    names = STAFF_ACTIONS if actor.kind == "staff" else RESIDENT_ACTIONS
    view, places = event_view(event), places_for(event)
    probe = {"note": "·", "photo_count": 1, "duplicate_of": -1, "score": 5, "suggested_grid_id": 0,
             "department_id": next(iter(places.department_areas), None)}
    allowed = []
    for name in names:
        try:
            workflow.decide(view, actor, name, probe, places)
        except DomainError:
            continue
        allowed.append(name)
    return allowed


def event_detail(event: Event, actor: workflow.Actor) -> EventDetailOut:
    for_reporter = actor.kind == "resident"
    skip = ("at", "actor")
    steps = [StepOut(**{key: value for key, value in s.items() if key not in skip},
                     at=clock.iso(s["at"]), actor=s["actor"] or "")
             for s in queries.trajectory(event, for_reporter=for_reporter)]
    return EventDetailOut(**event_fields(event, Book([event]), for_reporter), trajectory=steps,
                          allowed_actions=allowed_actions(event, actor))


def nearby_out(events: list[Event]) -> list[NearbyOut]:
    book = Book(events)
    return [NearbyOut(number=e.number, status=e.status, status_name=STATUS_NAMES[e.status],
                      category=category_ref(book.categories.get(e.category_id)),
                      distance_m=round(float(getattr(e, "distance_m", 0.0)), 1),
                      created_at=clock.iso(e.created_at)) for e in events]


def task_out(event: Event, view: str, book: TaskBook) -> TaskOut:
    due = {"todo": event.accept_due_at, "doing": event.resolve_due_at if event.status == "processing"
           else event.verify_due_at}.get(view)
    names = [book.areas[i].name for i in path_ids(event.area_path) if i in book.areas]
    summary = event.description if len(event.description) <= 60 else event.description[:59] + "…"
    return TaskOut(number=event.number, status=event.status, status_name=STATUS_NAMES[event.status],
                   category=category_ref(book.categories.get(event.category_id)), summary=summary,
                   place_label=" ".join(names) or None, due_at=clock.iso(due), sla_level=event.sla_level,
                   urgent=event.urgent, created_at=clock.iso(event.created_at))
