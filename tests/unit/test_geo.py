"""backend.geo pure parts: datums, validation, distance, point → grid. No database."""
from __future__ import annotations

import math
import random

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.errors import DomainError
from backend.geo import (
    GridIndex,
    gcj02_to_wgs84,
    haversine_m,
    to_wgs84,
    validate_coordinates,
    wgs84_to_gcj02,
)

LAT0, LNG0, STEP = 24.51, 117.65, 0.003


def square(col: int, row: int, size: int = 1) -> dict:
    x0, y0 = LNG0 + col * STEP, LAT0 + row * STEP
    x1, y1 = x0 + size * STEP, y0 + size * STEP
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def brute_force(grids):
    """The definition, slowly: the smallest id among grids whose closed polygon has the point."""
    shapes = [(area_id, shapely.geometry.shape(gj)) for area_id, gj in grids]

    def locate(lat, lng):
        point = shapely.Point(lng, lat)
        hits = [area_id for area_id, geom in shapes if geom.intersects(point)]
        return min(hits) if hits else None

    return locate


# --- GCJ-02 ------------------------------------------------------------------------
def test_known_point_is_shifted_a_few_hundred_metres():
    gcj = wgs84_to_gcj02(24.51, 117.65)
    assert 100 < haversine_m(24.51, 117.65, *gcj) < 1000
    assert haversine_m(24.51, 117.65, *gcj02_to_wgs84(*gcj)) < 0.01


@pytest.mark.parametrize("lat, lng", [(51.5074, -0.1278), (35.68, 139.76), (-33.87, 151.21), (40.71, -74.0)])
def test_outside_china_is_unchanged(lat, lng):
    assert wgs84_to_gcj02(lat, lng) == (lat, lng)
    assert gcj02_to_wgs84(lat, lng) == (lat, lng)


@settings(max_examples=500, deadline=None)
@given(lat=st.floats(18.0, 53.5), lng=st.floats(73.5, 135.0))
def test_round_trip_within_one_metre(lat, lng):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lat, lng))
    assert haversine_m(lat, lng, *back) < 1.0
    gcj_again = wgs84_to_gcj02(*gcj02_to_wgs84(lat, lng))
    assert haversine_m(lat, lng, *gcj_again) < 1.0


def test_to_wgs84_by_datum():
    assert to_wgs84(24.51, 117.65, "wgs84") == (24.51, 117.65)
    lat, lng = to_wgs84(24.51, 117.65, "gcj02")
    assert haversine_m(*wgs84_to_gcj02(lat, lng), 24.51, 117.65) < 0.01
    with pytest.raises(ValueError):
        to_wgs84(24.51, 117.65, "bd09")
    with pytest.raises(DomainError):
        to_wgs84(124.51, 117.65, "gcj02")


# --- validation and distance -------------------------------------------------------
@pytest.mark.parametrize("lat, lng", [
    (math.nan, 117.0), (24.0, math.inf), (-math.inf, 0.0), (90.0001, 0.0), (-91, 0.0),
    (0.0, 180.5), (0.0, -181), (None, 117.0), ("abc", 117.0), (True, 117.0),
])
def test_bad_coordinates_are_rejected(lat, lng):
    with pytest.raises(DomainError) as caught:
        validate_coordinates(lat, lng)
    assert caught.value.code == "bad_coordinates"
    assert "位置" in caught.value.message


@pytest.mark.parametrize("lat, lng", [(90, 180), (-90, -180), (0, 0), ("24.51", "117.65")])
def test_good_coordinates_come_back_as_floats(lat, lng):
    assert validate_coordinates(lat, lng) == (float(lat), float(lng))


def test_haversine():
    assert haversine_m(24.51, 117.65, 24.51, 117.65) == 0.0
    assert haversine_m(24.0, 117.0, 25.0, 117.0) == pytest.approx(111_195, rel=1e-3)
    assert haversine_m(0, 0, 0, 180) == pytest.approx(math.pi * 6371008.8)


# --- point → grid ------------------------------------------------------------------
@pytest.fixture
def two_by_two():
    """Four unit squares; ids deliberately not in spatial order."""
    return [(7, square(0, 0)), (3, square(1, 0)), (9, square(0, 1)), (5, square(1, 1))]


@pytest.mark.parametrize("reverse", [False, True])
def test_inside_outside_edge_and_vertex(two_by_two, reverse):
    index = GridIndex(reversed(two_by_two) if reverse else two_by_two)
    half = STEP / 2
    assert index.locate(LAT0 + half, LNG0 + half) == 7
    assert index.locate(LAT0 + half, LNG0 + STEP + half) == 3
    assert index.locate(LAT0 + STEP + half, LNG0 + half) == 9
    assert index.locate(LAT0 - half, LNG0 + half) is None  # south of everything
    assert index.locate(LAT0 + half, LNG0 + 2 * STEP + half) is None  # east of everything
    # The edge 7|3 and the edge 9|5 both go to the smaller id; so does the shared corner.
    assert index.locate(LAT0 + half, LNG0 + STEP) == 3
    assert index.locate(LAT0 + STEP + half, LNG0 + STEP) == 5
    assert index.locate(LAT0 + STEP, LNG0 + STEP) == 3
    # An outer edge belongs to its only grid.
    assert index.locate(LAT0, LNG0 + half) == 7
    assert index.locate(LAT0 + 2 * STEP, LNG0 + 2 * STEP) == 5


def test_non_finite_and_empty():
    empty = GridIndex([])
    assert len(empty) == 0 and empty.locate(LAT0, LNG0) is None
    index = GridIndex([(1, square(0, 0))])
    assert len(index) == 1
    assert index.locate(math.nan, LNG0) is None
    assert index.locate(LAT0, math.inf) is None


def test_hole_and_the_grid_that_fills_it():
    outer = square(0, 0, size=3)["coordinates"][0]
    hole = square(1, 1)["coordinates"][0]
    ring = {"type": "Polygon", "coordinates": [outer, hole]}
    centre = (LAT0 + 1.5 * STEP, LNG0 + 1.5 * STEP)
    assert GridIndex([(4, ring)]).locate(*centre) is None
    index = GridIndex([(4, ring), (8, square(1, 1))])
    assert index.locate(*centre) == 8
    assert index.locate(LAT0 + 0.5 * STEP, LNG0 + 0.5 * STEP) == 4
    assert index.locate(LAT0 + 1.5 * STEP, LNG0 + STEP) == 4  # the hole's edge is shared


def test_multipolygon():
    islands = {"type": "MultiPolygon", "coordinates": [square(0, 0)["coordinates"], square(5, 5)["coordinates"]]}
    index = GridIndex([(2, islands), (6, square(2, 2))])
    assert index.locate(LAT0 + 0.5 * STEP, LNG0 + 0.5 * STEP) == 2
    assert index.locate(LAT0 + 5.5 * STEP, LNG0 + 5.5 * STEP) == 2
    assert index.locate(LAT0 + 2.5 * STEP, LNG0 + 2.5 * STEP) == 6
    assert index.locate(LAT0 + 3.5 * STEP, LNG0 + 3.5 * STEP) is None


def test_bad_boundaries_are_reported_not_indexed():
    x0, y0, x1, y1 = LNG0, LAT0, LNG0 + STEP, LAT0 + STEP
    bowtie = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]}
    swapped = {"type": "Polygon", "coordinates": [[[y0, x0], [y0, x1], [y1, x1], [y0, x0]]]}
    grids = [
        (1, square(0, 0)),
        (2, bowtie),
        (3, {"type": "Point", "coordinates": [x0, y0]}),
        (4, {"type": "Polygon", "coordinates": "nonsense"}),
        (5, swapped),
        (6, {"type": "Polygon", "coordinates": []}),
        (1, square(3, 3)),
    ]
    index = GridIndex(grids)
    assert len(index) == 1
    codes = {(r.area_id, r.code) for r in index.rejects}
    assert codes == {(2, "invalid"), (3, "not_polygon"), (4, "unreadable"), (5, "out_of_range"),
                     (6, "empty"), (1, "duplicate_id")}
    assert "Self-intersection" in next(r.detail for r in index.rejects if r.code == "invalid")
    assert index.locate(LAT0 + 0.5 * STEP, LNG0 + 0.5 * STEP) == 1

    repaired = GridIndex([(2, bowtie)], repair=True)
    assert repaired.repaired == [2] and not repaired.rejects
    assert repaired.locate(LAT0 + 0.5 * STEP, LNG0 + 0.2 * STEP) == 2  # the left bow


def jittered_tiling(rows: int, cols: int, seed: int) -> list[tuple[int, dict]]:
    """Gap-free quads with shared jittered corners, plus one big and one tiny grid, ids shuffled."""
    rnd = random.Random(seed)
    corner = {(r, c): (LNG0 + (c + rnd.uniform(-0.3, 0.3)) * STEP, LAT0 + (r + rnd.uniform(-0.3, 0.3)) * STEP)
              for r in range(rows + 1) for c in range(cols + 1)}
    ids = rnd.sample(range(1, 10 * rows * cols), rows * cols + 2)
    grids = []
    for r in range(rows):
        for c in range(cols):
            ring = [corner[r, c], corner[r, c + 1], corner[r + 1, c + 1], corner[r + 1, c], corner[r, c]]
            grids.append((ids.pop(), {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}))
    grids.append((ids.pop(), square(cols + 1, 0, size=rows)))  # a rural giant next door
    grids.append((ids.pop(), {"type": "Polygon", "coordinates": [[[LNG0 - STEP, LAT0 - STEP],
                  [LNG0 - STEP + 1e-5, LAT0 - STEP], [LNG0 - STEP, LAT0 - STEP + 1e-5], [LNG0 - STEP, LAT0 - STEP]]]}))
    return grids


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_agrees_with_brute_force_including_edges_and_vertices(seed, data):
    grids = jittered_tiling(6, 7, seed)
    index = GridIndex(grids)
    assert not index.rejects
    rnd = random.Random(seed)
    points = [(LAT0 + rnd.uniform(-2, 8) * STEP, LNG0 + rnd.uniform(-2, 15) * STEP) for _ in range(200)]
    for _, gj in grids:  # every vertex, and a point along every edge
        ring = gj["coordinates"][0]
        for (x0, y0), (x1, y1) in zip(ring, ring[1:]):
            t = data.draw(st.sampled_from([0.0, 0.25, 0.5]))
            points.append((y0 + t * (y1 - y0), x0 + t * (x1 - x0)))
    expected = brute_force(grids)
    for lat, lng in points:
        assert index.locate(lat, lng) == expected(lat, lng), (lat, lng)


def test_one_huge_grid_does_not_blow_up_the_cell_table():
    grids = [(1, square(0, 0, size=400))] + [(n, square(n, -1)) for n in range(2, 6)]
    index = GridIndex(grids)
    assert len(index._cells) <= 24 * len(grids) + 4096  # the budget in _cell_size
    expected = brute_force(grids)
    rnd = random.Random(1)
    for _ in range(500):
        lat, lng = LAT0 + rnd.uniform(-2, 401) * STEP, LNG0 + rnd.uniform(-1, 401) * STEP
        assert index.locate(lat, lng) == expected(lat, lng)
    assert index.locate(LAT0, LNG0 + 2.5 * STEP) == 1  # the giant's south edge, shared with grid 2
