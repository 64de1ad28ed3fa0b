"""The area tree for the console: choices in administrative order.

Importing boundaries is ``backend.services.imports.areas`` (CLI and console alike).
"""
from __future__ import annotations

from backend.models import Area
from backend.models.areas import LEVELS
from backend.services.imports.areas import DATUMS  # noqa: F401  (the console's datum choices)


def area_choices(scope_path: str | None, max_level: str = "community") -> list[Area]:
    """Areas under the scope, down to ``max_level``, in administrative (tree) order."""
    query = Area.select().where(Area.level.in_(LEVELS[:LEVELS.index(max_level) + 1]))
    if scope_path:
        query = query.where(Area.path.startswith(scope_path))
    areas = list(query)
    return tree_order(areas)


def tree_order(areas: list[Area]) -> list[Area]:
    """Depth-first by (sort_order, code) among siblings: the administrative order."""
    by_parent: dict[int | None, list[Area]] = {}
    ids = {a.id for a in areas}
    for area in areas:
        parent = area.parent_id if area.parent_id in ids else None
        by_parent.setdefault(parent, []).append(area)
    out: list[Area] = []

    def walk(parent):
        for area in sorted(by_parent.get(parent, ()), key=lambda a: (a.sort_order, a.code)):
            out.append(area)
            walk(area.id)

    walk(None)
    return out
