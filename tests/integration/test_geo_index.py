"""The process-wide grid index notices boundary edits made by other processes (backend.geo)."""
from __future__ import annotations

import json

from backend import geo
from backend.models import Area
from tests.factories import make_world, square


def test_an_edit_of_equal_text_length_is_seen_by_other_processes(clean_db):
    world = make_world()
    grid = world.grid_a  # square(24.50, 117.64): 24.50–24.51 N, 117.64–117.65 E
    assert geo.grid_index().locate(24.505, 117.645) == grid.id
    before = len(json.dumps(grid.boundary))
    # Another process redraws the grid one digit east: the GeoJSON text keeps its length.
    moved = square(24.50, 117.66)
    edited = Area.get_by_id(grid.id)
    edited.boundary = moved
    edited.save()
    assert len(json.dumps(edited.boundary)) == before
    assert edited.boundary_version == grid.boundary_version + 1
    # This process was not told (no invalidate_grid_index()); its next re-check must see it.
    index = geo.grid_index(recheck_seconds=0)
    assert index.locate(24.505, 117.665) == grid.id
    assert index.locate(24.505, 117.645) != grid.id


def test_saving_without_touching_the_boundary_keeps_the_version(clean_db):
    world = make_world()
    area = Area.get_by_id(world.grid_a.id)
    area.name = "改个名字"
    area.save()
    assert Area.get_by_id(area.id).boundary_version == 0
