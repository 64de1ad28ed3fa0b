"""Geography in one place (DESIGN §7): datums, distances, point → grid.

Storage is WGS-84. WeChat location messages and most Chinese map SDKs speak GCJ-02, so
every incoming coordinate passes ``to_wgs84`` once, at the edge, and nothing else
converts. ``GridIndex`` is a pure in-memory index over grid boundaries; ``grid_index()``
and ``nearby_open_events()`` are the only functions here that touch the database.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Iterable, NamedTuple

import numpy as np
import peewee
import shapely
from shapely.geometry import shape

from backend.errors import DomainError
from backend.models import Area, Event
from backend.workflow import OPEN_STATUSES

EARTH_RADIUS_M = 6371008.8  # IUGG mean radius
DATUMS = ("wgs84", "gcj02")

# --- GCJ-02 (the public "Mars coordinates" algorithm) ------------------------------
_A = 6378245.0
_EE = 0.00669342162296594323


def _outside_china(lat: float, lng: float) -> bool:
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _gcj_offset(lat: float, lng: float) -> tuple[float, float]:
    x, y = lng - 105.0, lat - 35.0
    pi = math.pi
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    d_lng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    common = (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat += common + (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    d_lat += (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    d_lng += common + (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    d_lng += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = math.radians(lat)
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * pi)
    return d_lat, d_lng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """Forward transform; points outside the China rectangle are returned unchanged."""
    if _outside_china(lat, lng):
        return lat, lng
    d_lat, d_lng = _gcj_offset(lat, lng)
    return lat + d_lat, lng + d_lng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """Inverse by fixed-point iteration: the one-step inverse is off by metres, this is < 1 cm.

    The offset varies slowly (its derivative is ~1e-3), so each step gains ~3 digits and
    2–4 steps reach 1e-7°. Within ~1 km of the China rectangle's edges (sea and borders,
    no grids) the inverse is ambiguous; we return the first fixed point found.
    """
    w_lat, w_lng = lat, lng
    for _ in range(30):
        g_lat, g_lng = wgs84_to_gcj02(w_lat, w_lng)
        e_lat, e_lng = g_lat - lat, g_lng - lng
        w_lat, w_lng = w_lat - e_lat, w_lng - e_lng
        if abs(e_lat) < 1e-7 and abs(e_lng) < 1e-7:
            break
    return w_lat, w_lng


def to_wgs84(lat: float, lng: float, datum: str) -> tuple[float, float]:
    """Validate an incoming coordinate and convert it to WGS-84 (the storage datum).

    Bad coordinates are the sender's problem (``DomainError``); an unknown datum is ours
    (``ValueError``), because datums come from code, never from people.
    """
    if datum not in DATUMS:
        raise ValueError(f"unknown datum {datum!r}; expected one of {DATUMS}")
    lat, lng = validate_coordinates(lat, lng)
    return gcj02_to_wgs84(lat, lng) if datum == "gcj02" else (lat, lng)


def validate_coordinates(lat, lng) -> tuple[float, float]:
    """Return (lat, lng) as floats, or raise ``DomainError('bad_coordinates')``."""
    try:
        if isinstance(lat, bool) or isinstance(lng, bool):
            raise TypeError("bool is not a coordinate")
        lat_f, lng_f = float(lat), float(lng)
    except (TypeError, ValueError):
        lat_f = lng_f = math.nan
    if not (math.isfinite(lat_f) and math.isfinite(lng_f) and -90.0 <= lat_f <= 90.0
            and -180.0 <= lng_f <= 180.0):
        raise DomainError("bad_coordinates", "位置坐标不对，请重新发送位置", lat=lat, lng=lng)
    return lat_f, lng_f


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (sphere; < 0.5 % from the ellipsoid, fine for 100 m)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


# --- point → grid --------------------------------------------------------------------
class GridReject(NamedTuple):
    """A boundary left out of the index, for an import report. ``code`` is stable."""

    area_id: int
    code: str  # unreadable / not_polygon / empty / out_of_range / invalid / duplicate_id
    detail: str


class GridIndex:
    """Point → grid over GeoJSON (Multi)Polygons in WGS-84, built once, read many times.

    Why not ``STRtree.query(Point(...), predicate="intersects")`` per lookup: measured on
    this 2-core box it costs 11–26 µs, ≈5 µs of it building the Point, too close to the
    20 µs budget. So the STRtree is used once, at build time, to bucket grids into a
    uniform cell table (cell ≈ half the median grid extent). A lookup is one dict probe;
    a cell inside one grid answers at once, an edge cell tests its few prepared candidates
    in one ``shapely.intersects_xy`` call. Work per lookup does not depend on the number
    of grids; what remains is cache misses, so geometries are laid out in Z-order, which
    puts a cell's candidates next to each other in memory.

    A point covered by several grids (a shared edge or vertex, or overlapping bad data)
    resolves to the smallest area_id: candidates are kept sorted by id and the first one
    that covers the point wins.
    """

    def __init__(self, grids: Iterable[tuple[int, dict]], *, repair: bool = False):
        self.rejects: list[GridReject] = []
        self.repaired: list[int] = []  # ids kept after make_valid (only with repair=True)
        kept: dict[int, shapely.Geometry] = {}
        for area_id, geojson in grids:
            geom = self._admit(area_id, geojson, repair, seen=kept)
            if geom is not None:
                kept[area_id] = geom
        self._ids: list[int] = []
        self._cells: dict[int, object] = {}
        self._ox = self._oy = self._inv = 0.0
        self._nx = self._ny = 0
        if kept:
            self._build(list(kept), list(kept.values()))

    def __len__(self) -> int:
        return len(self._ids)

    def _admit(self, area_id, geojson, repair: bool, seen) -> shapely.Geometry | None:
        def reject(code: str, detail: str = "") -> None:
            self.rejects.append(GridReject(area_id, code, detail))

        if area_id in seen:
            return reject("duplicate_id")
        try:
            geom = shape(geojson)
        except Exception as exc:  # shapely raises several types for malformed GeoJSON
            return reject("unreadable", f"{type(exc).__name__}: {exc}")
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            return reject("not_polygon", geom.geom_type)
        if geom.is_empty:
            return reject("empty")
        min_x, min_y, max_x, max_y = geom.bounds
        if not (-180 <= min_x <= max_x <= 180 and -90 <= min_y <= max_y <= 90):
            return reject("out_of_range", "coordinates are not WGS-84 [lng, lat] degrees")
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            if not repair:
                return reject("invalid", reason)
            parts = shapely.get_parts(shapely.get_parts(shapely.make_valid(geom)))
            geom = shapely.union_all([p for p in parts if p.geom_type == "Polygon"])
            if geom.is_empty or geom.area == 0:
                return reject("invalid", reason)
            self.repaired.append(area_id)
        return geom

    def _build(self, ids: list[int], geoms: list) -> None:
        bounds = shapely.bounds(np.array(geoms, dtype=object))
        order = _z_order((bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2)
        # Fresh copies, allocated in Z-order: neighbours end up on neighbouring pages.
        geoms_arr = shapely.from_wkb(shapely.to_wkb(np.array(geoms, dtype=object)[order]))
        self._ids, bounds = [ids[i] for i in order], bounds[order]
        shapely.prepare(geoms_arr)
        self._ox, self._oy = float(bounds[:, 0].min()), float(bounds[:, 1].min())
        size = _cell_size(bounds, self._ox, self._oy)
        self._inv = 1.0 / size
        # Every cell touched by some grid's bbox (never the whole extent: cities far apart).
        ix0 = np.floor((bounds[:, 0] - self._ox) / size).astype(np.int64)
        iy0 = np.floor((bounds[:, 1] - self._oy) / size).astype(np.int64)
        nx_g = np.floor((bounds[:, 2] - self._ox) / size).astype(np.int64) - ix0 + 1
        ny_g = np.floor((bounds[:, 3] - self._oy) / size).astype(np.int64) - iy0 + 1
        self._nx, self._ny = int((ix0 + nx_g).max()), int((iy0 + ny_g).max())
        counts = nx_g * ny_g
        owner = np.repeat(np.arange(len(geoms)), counts)
        offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        keys = np.unique((ix0[owner] + offset // ny_g[owner]) * self._ny + iy0[owner] + offset % ny_g[owner])
        tree, shared = shapely.STRtree(geoms_arr), {}
        for chunk in range(0, len(keys), 16384):  # bounded temporaries keep the heap compact
            self._fill_cells(keys[chunk:chunk + 16384], size, tree, geoms_arr, shared)
        # GEOS builds a prepared polygon's point-in-area index lazily on first use; do it here,
        # in the building thread, so readers in other threads never race on that lazy init.
        probe = shapely.point_on_surface(geoms_arr)
        shapely.intersects_xy(geoms_arr, shapely.get_x(probe), shapely.get_y(probe))

    def _fill_cells(self, keys: np.ndarray, size: float, tree, geoms_arr: np.ndarray, shared: dict) -> None:
        """Store each cell's owner (one grid covers it) or its candidates in id order."""
        # Closed cell boxes, grown by a hair so float rounding in locate() never escapes them.
        kx, ky, eps = keys // self._ny, keys % self._ny, size * 1e-9
        boxes = shapely.box(self._ox + kx * size - eps, self._oy + ky * size - eps,
                            self._ox + (kx + 1) * size + eps, self._oy + (ky + 1) * size + eps)
        cell_i, grid_j = tree.query(boxes, predicate="intersects")
        order = np.lexsort((np.asarray(self._ids)[grid_j], cell_i))
        cell_i, grid_j = cell_i[order], grid_j[order]
        single = np.bincount(cell_i, minlength=len(keys))[cell_i] == 1
        inside = np.zeros(len(cell_i), dtype=bool)
        inside[single] = shapely.covers(geoms_arr[grid_j[single]], boxes[cell_i[single]])
        starts = np.flatnonzero(np.r_[True, cell_i[1:] != cell_i[:-1]]).tolist()
        keys_l, cell_l, grid_l, inside_l = keys.tolist(), cell_i.tolist(), grid_j.tolist(), inside.tolist()
        for s, e in zip(starts, starts[1:] + [len(cell_l)]):
            if inside_l[s]:
                self._cells[keys_l[cell_l[s]]] = self._ids[grid_l[s]]
                continue
            members = tuple(grid_l[s:e])  # neighbouring edge cells mostly share their candidates
            if members not in shared:
                shared[members] = (tuple(self._ids[g] for g in members), tuple(geoms_arr[g] for g in members))
            self._cells[keys_l[cell_l[s]]] = shared[members]

    def locate(self, lat: float, lng: float) -> int | None:
        """The grid covering a WGS-84 point, or None. Non-finite input gives None."""
        fx = (lng - self._ox) * self._inv
        fy = (lat - self._oy) * self._inv
        if not (0.0 <= fx < self._nx and 0.0 <= fy < self._ny):
            return None
        hit = self._cells.get(int(fx) * self._ny + int(fy))
        if hit is None or not isinstance(hit, tuple):
            return hit
        # One vectorised call for all candidates: its fixed cost (~2 µs) dwarfs the GEOS work.
        area_ids, geoms = hit
        for area_id, covers in zip(area_ids, shapely.intersects_xy(geoms, lng, lat).tolist()):
            if covers:
                return area_id
        return None


def _cell_size(bounds: np.ndarray, ox: float, oy: float) -> float:
    """Half the median grid extent, doubled until the cell table stays within ~24 per grid.

    A few huge grids (a rural 网格 among urban ones) would otherwise blow up memory.
    """
    sides = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    size = max(float(np.median(sides)) / 2, 1e-9)
    budget = 24 * len(bounds) + 4096
    while True:
        nx = np.floor((bounds[:, 2] - ox) / size) - np.floor((bounds[:, 0] - ox) / size) + 1
        ny = np.floor((bounds[:, 3] - oy) / size) - np.floor((bounds[:, 1] - oy) / size) + 1
        if float((nx * ny).sum()) <= budget:
            return size
        size *= 2


def _z_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Permutation sorting points along a Morton curve (16 bits per axis)."""

    def spread(v: np.ndarray) -> np.ndarray:
        v = (((v - v.min()) / (np.ptp(v) or 1.0)) * 65535).astype(np.uint64)
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    return np.argsort(spread(x) | (spread(y) << np.uint64(1)), kind="stable")


# --- the database-backed shells ----------------------------------------------------
GRID_RECHECK_SECONDS = 30.0
_cache_lock = threading.Lock()
_cache: dict = {"index": None, "fingerprint": None, "checked_at": 0.0, "stale": True}


def invalidate_grid_index() -> None:
    """Area-editing services call this after commit, so *this* process sees edits at once."""
    _cache["stale"] = True


def _grid_fingerprint() -> tuple:
    row = (Area.select(peewee.fn.COUNT(Area.id), peewee.fn.MAX(Area.id),
                       peewee.fn.SUM(peewee.fn.LENGTH(Area.boundary)), peewee.fn.SUM(Area.boundary_version))
           .where(Area.level == "grid", Area.boundary.is_null(False)).tuples().get())
    return tuple(row)


def grid_index(recheck_seconds: float = GRID_RECHECK_SECONDS) -> GridIndex:
    """The process-wide GridIndex of all grids with a boundary (needs an open connection).

    Freshness: ``invalidate_grid_index()`` makes the calling process rebuild on its next
    call; every other process (web workers, RQ workers) notices within ``recheck_seconds``
    through a cheap fingerprint over grids: ``COUNT(*), MAX(id), SUM(LENGTH(boundary)),
    SUM(boundary_version)`` — ``Area.save()`` bumps the version whenever the boundary
    changed, so even an edit that keeps the GeoJSON text the same length is seen. (A raw
    SQL ``UPDATE`` of a boundary bypasses that; go through the model or restart.)
    """
    now = time.monotonic()
    if _cache["index"] is not None and not _cache["stale"] and now - _cache["checked_at"] < recheck_seconds:
        return _cache["index"]
    with _cache_lock:
        forced, _cache["stale"] = _cache["stale"], False  # an invalidation during the build wins
        fingerprint = _grid_fingerprint()
        if _cache["index"] is None or forced or fingerprint != _cache["fingerprint"]:
            rows = (Area.select(Area.id, Area.boundary)
                    .where(Area.level == "grid", Area.boundary.is_null(False)).tuples())
            _cache["index"], _cache["fingerprint"] = GridIndex(rows), fingerprint
        _cache["checked_at"] = now
        return _cache["index"]


def nearby_open_events(lat: float, lng: float, category_id: int, radius_m: float = 100.0,
                       exclude_id: int | None = None, limit: int = 5) -> list[Event]:
    """The ``limit`` nearest open events of one category within ``radius_m`` of a WGS-84 point.

    Used to offer 关注这件 instead of a duplicate report, so only public cases reported under a
    name are offered (DESIGN §11): another resident never learns of a sensitive or anonymous one.
    SQL narrows by a bounding box
    (exact on the sphere, so no event inside the radius is lost) and returns only ids and
    coordinates; haversine decides; only the nearest rows are then loaded. Each returned row
    carries ``distance_m``. Not antimeridian-aware (China only).
    """
    d_lat = math.degrees(radius_m / EARTH_RADIUS_M)
    ratio = math.sin(radius_m / EARTH_RADIUS_M) / max(math.cos(math.radians(lat)), 1e-12)
    d_lng = 180.0 if ratio >= 1.0 else math.degrees(math.asin(ratio))
    query = Event.select(Event.id, Event.lat, Event.lng).where(
        Event.category == category_id,
        Event.status.in_(OPEN_STATUSES),
        Event.sensitivity == "public", Event.anonymous == False,  # noqa: E712 — offered to other residents
        Event.lat.between(lat - d_lat, lat + d_lat),
        Event.lng.between(lng - d_lng, lng + d_lng),
    )
    if exclude_id is not None:
        query = query.where(Event.id != exclude_id)
    close = []
    # The newest thousand candidates are plenty for a suggestion and bound the cost at hot spots.
    for event_id, e_lat, e_lng in query.order_by(Event.id.desc()).limit(1000).tuples():
        distance = haversine_m(lat, lng, e_lat, e_lng)
        if distance <= radius_m:
            close.append((distance, event_id))
    close.sort()
    close = close[:limit]
    rows = {e.id: e for e in Event.select().where(Event.id.in_([i for _, i in close]))} if close else {}
    found = []
    for distance, event_id in close:
        event = rows[event_id]
        event.distance_m = distance
        found.append(event)
    return found
