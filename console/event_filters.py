"""The event list's filters, shared by the list, the map and the exports ("with the current filters")."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from peewee import JOIN

from backend import clock
from backend.models import Area, Category, Event
from backend.models.events import STATUSES
from backend.services.queries import visible_clause
from backend.workflow import OPEN_STATUSES

STATUS_CHOICES = [("", "全部状态"), ("open", "未办结")] + [(s, None) for s in STATUSES]


@dataclass
class EventFilter:
    status: str = ""
    category: str = ""  # a code or a 大类 prefix
    area_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    q: str = ""
    overdue: bool = False
    quick: str = ""  # "" all, "no" without 即报即办, "only"

    @classmethod
    def from_args(cls, args) -> "EventFilter":
        def day(name):
            try:
                return dt.date.fromisoformat(args.get(name, "").strip()) if args.get(name) else None
            except ValueError:
                return None

        status = args.get("status", "")
        area = args.get("area_id", "")
        return cls(
            status=status if status in STATUSES or status == "open" else "",
            category="".join(ch for ch in args.get("category", "") if ch.isalnum())[:16],
            area_id=int(area) if area.isdigit() else None,
            date_from=day("from"), date_to=day("to"), q=args.get("q", "").strip()[:64],
            overdue=args.get("overdue") == "1",
            quick=args.get("quick", "") if args.get("quick", "") in ("no", "only") else "",
        )

    def query_string(self) -> str:
        values = {"status": self.status, "category": self.category, "area_id": self.area_id or "",
                  "from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else "", "q": self.q,
                  "overdue": "1" if self.overdue else "", "quick": self.quick}
        return urlencode({k: v for k, v in values.items() if v})

    def apply(self, query, staff):
        """The filters, inside what ``staff`` may see (backend.services.queries.visible_clause)."""
        scope_path = staff.area.path
        query = query.where(visible_clause(staff))
        if self.status == "open":
            query = query.where(Event.status.in_(OPEN_STATUSES))
        elif self.status:
            query = query.where(Event.status == self.status)
        if self.category:
            codes = Category.select(Category.id).where(Category.code.startswith(self.category))
            query = query.where(Event.category.in_(codes))
        if self.area_id:
            area = Area.get_or_none(Area.id == self.area_id)
            if area is not None and area.path.startswith(scope_path):
                query = query.where(Event.area_path.startswith(area.path))
        if self.date_from:
            query = query.where(Event.created_at >= clock.from_local(dt.datetime.combine(self.date_from, dt.time())))
        if self.date_to:
            end = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time())
            query = query.where(Event.created_at < clock.from_local(end))
        if self.q:
            query = query.where(Event.number.contains(self.q) | Event.description.contains(self.q)
                                | Event.address.contains(self.q))
        if self.overdue:
            now = clock.now()
            query = query.where(
                ((Event.status == "assigned") & (Event.accept_due_at < now))
                | ((Event.status == "processing") & (Event.resolve_due_at < now))
                | ((Event.status == "resolved") & (Event.verify_due_at < now)))
        if self.quick == "no":
            query = query.where(Event.quick_record == False)  # noqa: E712
        elif self.quick == "only":
            query = query.where(Event.quick_record == True)  # noqa: E712
        return query


def filtered_events(flt: EventFilter, staff):
    return flt.apply(Event.select(Event, Category).join(Category, JOIN.LEFT_OUTER), staff)
