"""GET requests, GET requests/{id}, GET tokens/{token}: events as GeoReport service requests.

``service_request_id`` is the event number (20261125-0003). Status: reported / assigned /
processing / resolved → ``open``; closed / rejected / merged / withdrawn → ``closed``, with
``status_notes`` saying which in Chinese. ``agency_responsible`` is the holding unit (网格,
社区, 综治中心 or department), never a person. The reporter is never exposed.

These lists are public (no api_key), as the spec has it, so without a key they hold only
public cases reported under a name, with names and numbers masked, door numbers dropped and
points snapped to about 100 m (backend.privacy); a ``read_full`` key sees every case as
stored, and is audited (open311/access.py). A case the caller may not see is "not found".
"""
from __future__ import annotations

import datetime as dt
import re
import secrets

import peewee
from werkzeug.datastructures import MultiDict

from backend import clock, privacy
from backend.models import Area, Category, Department, Event
from backend.models.events import STATUS_NAMES
from backend.replica import reading_replica
from backend.workflow import OPEN_STATUSES, TERMINAL_STATUSES
from open311 import params
from open311.access import Reader
from open311.params import Open311Error, bad
from open311.services import leaf_categories

WINDOW = dt.timedelta(days=90)
MAX_RESULTS = 1000
MAX_IDS = 1000
STATUS_GROUPS = {"open": OPEN_STATUSES, "closed": TERMINAL_STATUSES}
TOKEN_PREFIX = "open311:"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
LEVEL_AGENCY = {"centre": "{name}综治中心"}


def open311_status(status: str) -> str:
    return "open" if status in OPEN_STATUSES else "closed"


class _Lookups:
    """Names for a page of events in three queries, not three per event."""

    def __init__(self, events: list[Event]):
        area_ids = {e.holder_area_id for e in events if e.holder_area_id}
        dept_ids = {e.holder_department_id for e in events if e.holder_department_id}
        dup_ids = {e.duplicate_of_id for e in events if e.duplicate_of_id}
        self.areas = ({a.id: a.name for a in Area.select(Area.id, Area.name).where(Area.id.in_(area_ids))}
                      if area_ids else {})
        self.departments = {}
        if dept_ids:
            query = (Department.select(Department.id, Department.name, Area.name.alias("area_name"))
                     .join(Area, on=(Department.area == Area.id), join_type=peewee.JOIN.LEFT_OUTER)
                     .where(Department.id.in_(dept_ids)).dicts())
            for row in query:
                area_name = row["area_name"] or ""
                name = row["name"]
                self.departments[row["id"]] = name if name.startswith(area_name) else f"{area_name}{name}"
        self.numbers = ({e.id: e.number for e in Event.select(Event.id, Event.number).where(Event.id.in_(dup_ids))}
                        if dup_ids else {})

    def agency(self, event: Event) -> str | None:
        if event.holder_level == "department" and event.holder_department_id:
            return self.departments.get(event.holder_department_id)
        name = self.areas.get(event.holder_area_id)
        if name is None:
            return None
        return LEVEL_AGENCY.get(event.holder_level, "{name}").format(name=name)

    def status_notes(self, event: Event) -> str:
        note = STATUS_NAMES.get(event.status, event.status)
        if event.status == "merged" and event.duplicate_of_id in self.numbers:
            note += f"：与 {self.numbers[event.duplicate_of_id]} 是同一问题，请查看该编号的进展"
        return note


def request_document(event: Event, lookups: _Lookups, full: bool = False) -> dict:
    category = event.category
    text = (lambda value: value) if full else privacy.scrub
    return {
        "service_request_id": event.number,
        "status": open311_status(event.status),
        "status_notes": lookups.status_notes(event),
        "service_name": category.name if category else None,
        "service_code": category.code if category else None,
        "description": text(event.description),
        "agency_responsible": lookups.agency(event),
        "service_notice": None,
        "requested_datetime": clock.iso(event.created_at),
        "updated_datetime": clock.iso(event.updated_at),
        "expected_datetime": clock.iso(event.resolve_due_at),
        "address": event.address if full else privacy.public_address(event.address),
        "address_id": None,
        "zipcode": None,
        "lat": event.lat if full else privacy.snap(event.lat),
        "long": event.lng if full else privacy.snap(event.lng),
        "media_url": None,
    }


def documents(events: list[Event], reader: Reader) -> list[dict]:
    with reading_replica():  # names for the page, from where the events came (a no-op without a replica)
        lookups = _Lookups(events)
        out = [request_document(e, lookups, reader.full) for e in events]
    reader.record([e.number for e in events])  # the audit row: a write, on the primary
    return out


def _base_query(reader: Reader):
    query = (Event.select(Event, Category).join(Category, join_type=peewee.JOIN.LEFT_OUTER)
             .order_by(Event.created_at.desc(), Event.id.desc()))
    if not reader.full:
        query = query.where((Event.sensitivity == "public") & (Event.anonymous == False))  # noqa: E712
    return query


def _window(values: MultiDict) -> tuple[dt.datetime, dt.datetime | None]:
    start = params.datetime_param(values, "start_date")
    end = params.datetime_param(values, "end_date")
    if start and end:
        if end < start:
            raise bad("end_date 早于 start_date")
        if end - start > WINDOW:
            raise bad("start_date 与 end_date 之间最多 90 天")
        return start, end
    if start:
        return start, start + WINDOW
    if end:
        return end - WINDOW, end
    return clock.now() - WINDOW, None


def find_requests(values: MultiDict, reader: Reader) -> list[Event]:
    """The spec's query: an id list overrides everything else; otherwise the date window (90 days,
    the last 90 by default), service codes and open/closed, newest first, at most 1,000 per page."""
    ids = params.csv_list(values, "service_request_id", MAX_IDS, max_len=20)
    if ids:
        return list(_base_query(reader).where(Event.number.in_(ids)))
    start, end = _window(values)
    query = _base_query(reader).where(Event.created_at >= start)
    if end is not None:
        query = query.where(Event.created_at <= end)
    codes = params.csv_list(values, "service_code", 100, max_len=16)
    if codes:
        known = {c.code: c.id for c in leaf_categories(active_only=False).where(Category.code.in_(codes))}
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise bad(f"没有这个服务：service_code {', '.join(unknown)}")
        query = query.where(Event.category.in_(list(known.values())))
    statuses = params.csv_list(values, "status", 2, max_len=8)
    if statuses:
        if any(s not in STATUS_GROUPS for s in statuses):
            raise bad("status 只能是 open 或 closed")
        query = query.where(Event.status.in_([s for g in statuses for s in STATUS_GROUPS[g]]))
    page = params.integer(values, "page", 1, 1, 1_000_000)
    page_size = params.integer(values, "page_size", MAX_RESULTS, 1, MAX_RESULTS)
    return list(query.paginate(page, page_size))


def find_request(request_id: str, reader: Reader) -> Event:
    event = _base_query(reader).where(Event.number == request_id).first() if len(request_id) <= 20 else None
    if event is None:
        raise Open311Error(404, f"没有这个服务请求：{request_id}")
    return event


def new_token() -> str:
    return secrets.token_urlsafe(16)


def client_key_for(token: str) -> str:
    return TOKEN_PREFIX + token


def token_document(token: str) -> list[dict]:
    """tokens/{token}: the service_request_id a POST's token stands for."""
    event = None
    if TOKEN_RE.fullmatch(token):
        event = Event.select(Event.number).where(Event.client_key == client_key_for(token)).first()
    if event is None:
        raise Open311Error(404, f"没有这个 token：{token}")
    return [{"service_request_id": event.number, "token": token}]
