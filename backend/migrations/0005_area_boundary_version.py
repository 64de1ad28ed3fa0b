"""Grid boundaries: a version bumped on every change, so every process sees an edit.

Each process keeps its grid index (backend/geo.py) and re-checks a cheap fingerprint of the
grids every 30 s. The fingerprint was COUNT, MAX(id) and SUM(LENGTH(boundary)): redrawing a
grid so that its GeoJSON text kept the same length (moving a vertex by the same number of
digits) went unseen by the other web and worker processes, which kept routing by the old
shape until a restart. ``Area.save()`` now bumps ``boundary_version`` whenever the boundary
changed, and the fingerprint includes SUM(boundary_version).
"""
from peewee import IntegerField


def up(migrator, db):
    migrator.migrate(migrator.add_column("area", "boundary_version", IntegerField(default=0)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column("area", "boundary_version"))
