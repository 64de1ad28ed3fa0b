"""Areas as the mini-program shows them, and the served-area check for incoming points.

``place_for_path`` turns a materialised path ("/1/4/9/12/20/") into the administrative chain
the page echoes for confirmation. ``check_served`` rejects points far outside every grid
(a typo, a (0, 0) from a failed GPS fix, lat/lng swapped): such a report could never reach a
grid worker, so the sender is told at once rather than the centre later.
"""
from __future__ import annotations

import threading
import time

from peewee import fn
from shapely.geometry import shape

from backend import geo
from backend.models import Area
from backend.models.areas import LEVELS
from miniprogram_api.errors import ApiError
from miniprogram_api.schemas import AreaRef, PlaceOut

SERVED_MARGIN_DEG = 0.2  # ≈ 20 km around the grids' bounding box still counts as served
_BOUNDS_TTL = 60.0
_bounds_lock = threading.Lock()
_bounds: dict = {"value": None, "at": 0.0, "key": None}


def area_ref(area: Area) -> AreaRef:
    return AreaRef(id=area.id, name=area.name, level=area.level, code=area.code)


def path_ids(path: str | None) -> list[int]:
    return [int(p) for p in (path or "").strip("/").split("/") if p.isdigit()]


def load_areas(paths) -> dict[int, Area]:
    """Every area on the given paths, in one query (a page of events shares most of them)."""
    ids = {i for path in paths for i in path_ids(path)}
    if not ids:
        return {}
    return {a.id: a for a in Area.select().where(Area.id.in_(sorted(ids)))}


def place_for_path(path: str | None, areas: dict[int, Area] | None = None) -> PlaceOut | None:
    ids = path_ids(path)
    if not ids:
        return None
    areas = areas if areas is not None else load_areas([path])
    chain = [areas[i] for i in ids if i in areas]
    if not chain:
        return None
    fields = {a.level: area_ref(a) for a in chain if a.level in LEVELS}
    return PlaceOut(label=" ".join(a.name for a in chain), **fields)


def place_label(area: Area) -> str:
    place = place_for_path(area.path)
    return place.label if place else area.name


def _grid_bounds():
    """(min_lng, min_lat, max_lng, max_lat) of all grid boundaries.

    Cached per process and keyed by a cheap fingerprint of the grid rows, so a newly drawn
    grid counts at once; a changed boundary of an existing grid counts within a minute.
    """
    grids = Area.select().where((Area.level == "grid") & Area.boundary.is_null(False))
    fingerprint = grids.select(fn.COUNT(Area.id), fn.MAX(Area.id)).tuples().get()
    now = time.monotonic()
    if _bounds["key"] == fingerprint and now - _bounds["at"] < _BOUNDS_TTL:
        return _bounds["value"]
    with _bounds_lock:
        boxes = []
        for (boundary,) in grids.select(Area.boundary).tuples():
            try:
                boxes.append(shape(boundary).bounds)
            except Exception:  # noqa: BLE001 — a malformed boundary is the importer's report, not ours
                continue
        value = None
        if boxes:
            value = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                     max(b[2] for b in boxes), max(b[3] for b in boxes))
        _bounds.update(value=value, at=now, key=fingerprint)
        return value


def check_served(lat_wgs: float, lng_wgs: float) -> None:
    bounds = _grid_bounds()
    if bounds is None:
        return  # no grids drawn yet: nothing to compare with
    min_lng, min_lat, max_lng, max_lat = bounds
    m = SERVED_MARGIN_DEG
    if not (min_lat - m <= lat_wgs <= max_lat + m and min_lng - m <= lng_wgs <= max_lng + m):
        raise ApiError(400, "outside_service_area",
                       "这个位置不在本平台的服务范围内，请确认定位是否正确，或在地图上重新选点")


def to_wgs84_checked(lat: float, lng: float, datum: str) -> tuple[float, float]:
    """Range-checked conversion to WGS-84, then the served-area check."""
    lat_w, lng_w = geo.to_wgs84(lat, lng, datum)
    check_served(lat_w, lng_w)
    return lat_w, lng_w


def locate_grid(lat_wgs: float, lng_wgs: float) -> Area | None:
    grid_id = geo.grid_index().locate(lat_wgs, lng_wgs)
    return Area.get_or_none(Area.id == grid_id) if grid_id else None
