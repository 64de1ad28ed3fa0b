"""The home page: the queue of events waiting on this console user's unit, overdue first.

For a 综治中心 operator: events the centre holds (escalated from communities, or reported
without a known place), each with its street's departments preselected by the category's
``default_department_kind`` so dispatching is one click. For a 社区负责人: events escalated
to the community, and the community's grid events that are overdue (to 督办).
"""
from __future__ import annotations

from flask import render_template
from peewee import JOIN, Case

from backend import clock
from backend.models import Area, Category, Event
from backend.services import audit
from backend.services.queries import visible_clause
from backend.workflow import HELD_STATUSES
from console import auth, event_actions
from console.blueprint import bp
from console.rendering import deadline_state

QUEUE_LIMIT = 200


def _current_due():
    return Case(None, [(Event.status == "assigned", Event.accept_due_at)], Event.resolve_due_at)


def queue_query(where, now):
    due = _current_due()
    holder_area = Area.alias()
    return (Event.select(Event, Category)
            .join(Category, JOIN.LEFT_OUTER, on=(Event.category == Category.id))
            .switch(Event).join(holder_area, JOIN.LEFT_OUTER, on=(Event.holder_area == holder_area.id))
            .where(where(holder_area))
            .order_by(Case(None, [(due < now, 0)], 1), due.asc(nulls="LAST"), Event.id)
            .limit(QUEUE_LIMIT))


@bp.get("/")
@auth.login_required
def home():
    login = auth.current()
    now = clock.now()
    staff = login.staff
    if login.is_centre:
        held = list(queue_query(lambda holder_area: (Event.holder_level == "centre")
                                & Event.status.in_(HELD_STATUSES)
                                & holder_area.path.startswith(login.scope_path), now))
        overdue_below = []
    else:
        held = list(queue_query(lambda holder_area: (Event.holder_level == "community")
                                & (Event.holder_area == staff.area_id) & Event.status.in_(HELD_STATUSES), now))
        overdue_below = [e for e in queue_query(
            lambda holder_area: (Event.holder_level == "grid") & Event.status.in_(HELD_STATUSES)
            & visible_clause(staff), now) if deadline_state(e, now)[0] == "overdue"]
    audit.restricted_views(login.actor(), held + overdue_below, "console_list")
    departments: dict[int, tuple] = {}
    choices = {}
    for event in held:
        if login.is_centre:
            key = event.holder_area_id
            if key not in departments:
                departments[key] = event_actions.dispatch_departments(event)[0]
            kind = event.category.default_department_kind if event.category_id else None
            preselected = next((d.id for d in departments[key] if kind and d.kind == kind), None)
            choices[event.id] = (departments[key], preselected)
    grids = {a.id: a.name for a in Area.select(Area.id, Area.name).where(Area.level == "grid")}
    return render_template("console/queue.html", held=held, overdue_below=overdue_below, choices=choices,
                           grids=grids, deadline=lambda e: deadline_state(e, now))
