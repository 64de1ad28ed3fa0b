"""Typed or spoken addresses, against the registry in the database: the one matcher every channel
that takes words for a place uses (the chat, Open311; the mini-program sends coordinates or a
building QR). How a phrase is read: ``backend.placenames``.

``resolve_address(text)`` is what a channel asks: one place, choices, too many, or none.
``match_address(text)`` ranks the candidates; ``unambiguous(candidates)`` picks one only when
it clearly wins.

The registry is held in a per-process index rebuilt when a cheap fingerprint of the area,
building and unit tables changes (checked on every call, so edits are seen at once).
"""
from __future__ import annotations

import threading

import peewee

from backend.models import Area, Building, BuildingUnit
from backend.placenames import (MAX_PHRASE, MAX_TEXT, AddressIndex, Candidate, Resolution, normalize,
                                unambiguous, unit_number)

__all__ = ["AddressIndex", "Candidate", "Resolution", "MAX_PHRASE", "MAX_TEXT", "address_index",
           "invalidate_address_index", "match_address", "normalize", "resolve_address", "unambiguous",
           "unit_number"]

_cache_lock = threading.Lock()
_cache: dict = {"index": None, "fingerprint": None}


def _fingerprint() -> tuple:
    """Changes when any area, building or unit row is added, removed, renamed, moved or re-pointed."""
    areas = (Area.select(peewee.fn.COUNT(Area.id), peewee.fn.MAX(Area.id),
                         peewee.fn.SUM(peewee.fn.LENGTH(Area.name)), peewee.fn.SUM(peewee.fn.LENGTH(Area.path)))
             .tuples().get())
    buildings = (Building.select(
        peewee.fn.COUNT(Building.id), peewee.fn.MAX(Building.id), peewee.fn.SUM(Building.area),
        peewee.fn.SUM(peewee.fn.LENGTH(Building.name) + peewee.fn.LENGTH(peewee.fn.COALESCE(Building.address, ""))),
        peewee.fn.SUM(peewee.fn.COALESCE(Building.lat, 0) + peewee.fn.COALESCE(Building.lng, 0)),
    ).tuples().get())
    units = (BuildingUnit.select(peewee.fn.COUNT(BuildingUnit.id), peewee.fn.MAX(BuildingUnit.id),
                                 peewee.fn.SUM(peewee.fn.LENGTH(BuildingUnit.name)))
             .tuples().get())
    return tuple(areas) + tuple(buildings) + tuple(units)


def invalidate_address_index() -> None:
    _cache["fingerprint"] = None


def address_index() -> AddressIndex:
    """The process-wide index (needs an open connection). Limit: renaming a row to another name
    of the same length, keeping everything else, is invisible to the fingerprint; services that
    edit names call ``invalidate_address_index()``."""
    fingerprint = _fingerprint()
    if _cache["index"] is not None and _cache["fingerprint"] == fingerprint:
        return _cache["index"]
    with _cache_lock:
        areas = Area.select(Area.id, Area.name, Area.level, Area.path).tuples()
        buildings = Building.select(Building.id, Building.name, Building.address, Building.area,
                                    Building.lat, Building.lng).tuples()
        units = BuildingUnit.select(BuildingUnit.id, BuildingUnit.building, BuildingUnit.name).tuples()
        _cache["index"], _cache["fingerprint"] = AddressIndex(areas, buildings, units), fingerprint
        return _cache["index"]


def match_address(text: str | None, limit: int = 5) -> list[Candidate]:
    """What ``text`` may name, best first (at most ``limit``); [] when nothing fits."""
    if not text or not text.strip():
        return []
    return address_index().match(text, limit=limit)


def resolve_address(text: str | None, max_length: int = MAX_PHRASE) -> Resolution:
    """What a channel does with a typed or spoken place: use the one place, offer the choices,
    ask for more detail (too many), or say nothing was found. Texts longer than ``max_length``
    are descriptions, not addresses (the chat's rule; Open311 passes its own 255)."""
    if not text or not text.strip() or len(text) > max_length:
        return Resolution("none")
    return address_index().resolve(text, max_length=max_length)
