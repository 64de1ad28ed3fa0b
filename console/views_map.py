"""The map: grid and community boundaries from the database, events as coloured markers.

No tile server is contacted unless CONSOLE_TILE_URL is set: by default the page draws only
our own layers (boundaries are enough to see where things are, and nothing leaks to a
third-party map host). Boundaries are stored in WGS-84; a tile URL must serve WGS-84-aligned
tiles too (a GCJ-02 tile source such as AutoNavi would be offset by hundreds of metres).
"""
from __future__ import annotations

from flask import jsonify, render_template, request, url_for

from backend import clock
from backend.models import Area, Event
from backend.replica import reading_replica
from backend.services import audit
from backend.workflow import OPEN_STATUSES
from console import auth, rendering
from console.blueprint import bp
from console.event_filters import EventFilter, filtered_events
from console.rendering import DEADLINE_COLOURS, STATUS_COLOURS, deadline_state

MAX_MARKERS = 5000


@bp.get("/map")
@auth.login_required
def map_page():
    from console.views_events import filter_choices

    login = auth.current()
    flt = EventFilter.from_args(request.args)
    if not request.args:
        flt.status = "open"
    config = {
        "areas_url": url_for("console.map_areas"),
        "events_url": url_for("console.map_events") + "?" + flt.query_string(),
        "tile_url": rendering.tile_url(),
        "status_colours": STATUS_COLOURS,
        "deadline_colours": DEADLINE_COLOURS,
    }
    return render_template("console/map.html", flt=flt, config=config, **filter_choices(login))


@bp.get("/map/areas.geojson")
@auth.login_required
def map_areas():
    login = auth.current()
    with reading_replica():
        areas = list(Area.select(Area.id, Area.name, Area.code, Area.level, Area.boundary)
                     .where(Area.path.startswith(login.scope_path) & Area.boundary.is_null(False)
                            & Area.level.in_(("community", "grid")))
                     .order_by(Area.path))
    features = [{"type": "Feature", "geometry": a.boundary,
                 "properties": {"id": a.id, "name": a.name, "code": a.code, "level": a.level}} for a in areas]
    return jsonify({"type": "FeatureCollection", "features": features})


@bp.get("/map/events.geojson")
@auth.login_required
def map_events():
    login = auth.current()
    flt = EventFilter.from_args(request.args)
    now = clock.now()
    features = []
    with reading_replica():  # the markers may be seconds stale; the audit row below is written on the primary
        query = list(filtered_events(flt, login.staff).where(Event.lat.is_null(False))
                     .order_by(Event.id.desc()).limit(MAX_MARKERS))
    audit.restricted_views(login.actor(), query, "console_map")
    for event in query:
        state = deadline_state(event, now)[0] if event.status in OPEN_STATUSES else "ok"
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [event.lng, event.lat]},
            "properties": {
                "number": event.number, "status": event.status, "status_name": event.status_name,
                "deadline": state, "colour": STATUS_COLOURS.get(event.status, "#333"),
                "ring": DEADLINE_COLOURS.get(state), "text": event.description[:60],
                "category": event.category.name if event.category_id else "",
                "url": url_for("console.event_page", number=event.number),
            },
        })
    return jsonify({"type": "FeatureCollection", "features": features})
