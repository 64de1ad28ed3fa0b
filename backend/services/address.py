"""Typed or spoken addresses → buildings (楼栋) and areas (社区/网格/…), DESIGN §7.

``match_address(text)`` ranks what a piece of text could mean; ``unambiguous(candidates)``
picks one only when one clearly wins. Ambiguity is answered by asking (or, where no one
can be asked, by leaving the place to the centre) — never by guessing.

Text is normalised before matching: full-width → half-width (NFKC), spaces and punctuation
dropped, Chinese numerals before 号楼/栋/幢/座/单元/号 turned into digits, and 号楼/栋/幢/座
read as one word, so "金源社区三栋" finds the building registered as "金源社区3号楼". A number
never matches inside a longer number ("1号楼" is not in "11号楼").

The registry is held in a per-process index rebuilt when a cheap fingerprint of the area
and building tables changes (checked on every call, so edits are seen at once).
"""
from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass

import peewee

from backend.models import Area, Building

MAX_TEXT = 255
MIN_ALIAS = 2
AREA_SUFFIXES = ("社区居民委员会", "社区居委会", "居委会", "社区", "网格", "街道办事处", "街道", "办事处",
                 "镇", "乡", "村", "区", "市")
LEVEL_RANK = {"city": 0, "district": 1, "street": 2, "community": 3, "grid": 4}
# A building name alone ("3号楼") is too common to stand for one building unless the text also
# names an area above it, or the name itself is this long ("金源花园3号楼").
DISTINCT_NAME = 4


@dataclass(frozen=True)
class Candidate:
    kind: str  # "building" | "area"
    id: int
    name: str  # the registered name: "3号楼", "金源第一网格"
    grid_id: int | None  # the grid it lies in (a grid is its own); None above grid level
    lat: float | None  # WGS-84; buildings only
    lng: float | None
    level: str = ""  # building / grid / community / street / district / city
    label: str = ""  # for echoing back: "通北街道金源社区3号楼"
    score: float = 0.0


# ------------------------------------------------------------------ normalisation

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_NUMBER = re.compile(r"([零〇一二两三四五六七八九十]{1,4})(?=号楼|号栋|号幢|栋|幢|座|单元|号)")
_BUILDING_WORD = re.compile(r"(\d+)(?:号楼|号栋|号幢|栋|幢|座)")
_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def _cn_to_int(text: str) -> int | None:
    """一..九十九 (also 〇/零 digits written one by one, e.g. 一〇二); None if not a number."""
    if "十" not in text:
        digits = [_CN_DIGITS.get(ch) for ch in text]
        return None if None in digits else int("".join(str(d) for d in digits))
    tens, _, ones = text.partition("十")
    if "十" in ones or len(tens) > 1 or len(ones) > 1:
        return None
    high = _CN_DIGITS.get(tens, None) if tens else 1
    low = _CN_DIGITS.get(ones, None) if ones else 0
    return None if high is None or low is None else high * 10 + low


def _digits_for(match: re.Match) -> str:
    value = _cn_to_int(match.group(1))
    return match.group(1) if value is None else str(value)


def normalize(text: str | None) -> str:
    """The comparable form of an address: see the module docstring."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = _CN_NUMBER.sub(_digits_for, text)
    text = _DROP.sub("", text)
    return _BUILDING_WORD.sub(r"\1栋", text)


def _contains(haystack: str, needle: str) -> bool:
    """``needle in haystack`` where a number is never matched inside a longer number."""
    if not needle:
        return False
    start = haystack.find(needle)
    while start != -1:
        end = start + len(needle)
        before_ok = not (needle[0].isdigit() and start > 0 and haystack[start - 1].isdigit())
        after_ok = not (needle[-1].isdigit() and end < len(haystack) and haystack[end].isdigit())
        if before_ok and after_ok:
            return True
        start = haystack.find(needle, start + 1)
    return False


def _area_aliases(name: str) -> set[str]:
    full = normalize(name)
    aliases = {full} if len(full) >= MIN_ALIAS else set()
    for suffix in AREA_SUFFIXES:
        if full.endswith(suffix) and len(full) - len(suffix) >= MIN_ALIAS:
            aliases.add(full[: -len(suffix)])
            break
    return aliases


# ------------------------------------------------------------------ the index


@dataclass(frozen=True)
class _AreaEntry:
    id: int
    name: str
    level: str
    path: str
    aliases: frozenset


@dataclass(frozen=True)
class _BuildingEntry:
    id: int
    name: str
    norm_name: str
    norm_address: str
    area_id: int
    lat: float | None
    lng: float | None
    label: str


class AddressIndex:
    """The registry in comparable form; pure (built from rows, no database access)."""

    def __init__(self, areas, buildings):
        self.areas = {a.id: a for a in (
            _AreaEntry(id_, name, level, path, frozenset(_area_aliases(name)))
            for id_, name, level, path in areas)}
        self.buildings = []
        for id_, name, address, area_id, lat, lng in buildings:
            self.buildings.append(_BuildingEntry(
                id_, name, normalize(name), normalize(address), area_id, lat, lng,
                label=self._building_label(name, address, area_id)))

    def _ancestors(self, path: str) -> list[_AreaEntry]:
        ids = [int(p) for p in path.strip("/").split("/") if p.isdigit()]
        return [self.areas[i] for i in ids if i in self.areas]

    def area_label(self, area: _AreaEntry) -> str:
        chain = [a for a in self._ancestors(area.path) if LEVEL_RANK.get(a.level, 9) >= LEVEL_RANK["street"]]
        return "".join(a.name for a in chain) or area.name

    def _building_label(self, name: str, address: str | None, area_id: int) -> str:
        area = self.areas.get(area_id)
        community = next((a.name for a in self._ancestors(area.path) if a.level == "community"), "") if area else ""
        if address and normalize(name) in normalize(address):
            return address
        return f"{community}{name}"

    def match(self, text: str, limit: int = 5) -> list[Candidate]:
        hay = normalize((text or "")[:MAX_TEXT])
        if len(hay) < MIN_ALIAS:
            return []
        area_hits: dict[int, int] = {}
        for area in self.areas.values():
            best = max((len(a) for a in area.aliases if _contains(hay, a)), default=0)
            if best:
                area_hits[area.id] = best
        found: list[tuple[Candidate, str]] = []  # (candidate, path it lies under)
        for b in self.buildings:
            score = self._building_score(b, hay, area_hits)
            if score:
                area = self.areas.get(b.area_id)
                found.append((Candidate("building", b.id, b.name, b.area_id, b.lat, b.lng,
                                        level="building", label=b.label, score=score),
                              area.path if area else "/"))
        for area_id, alias_len in area_hits.items():
            area = self.areas[area_id]
            bonus = sum(1 for a in self._ancestors(area.path) if a.id != area.id and a.id in area_hits)
            score = 10 + alias_len + 2 * LEVEL_RANK.get(area.level, 0) + 3 * bonus
            found.append((Candidate("area", area.id, area.name, area.id if area.level == "grid" else None,
                                    None, None, level=area.level, label=self.area_label(area), score=score),
                          area.path))
        # An area that merely contains a more specific candidate adds nothing.
        covered = set()
        for cand, path in found:
            for ancestor in self._ancestors(path):
                if not (cand.kind == "area" and ancestor.id == cand.id):
                    covered.add(ancestor.id)
        kept = [c for c, _ in found if not (c.kind == "area" and c.id in covered)]
        kept.sort(key=lambda c: (-c.score, c.kind, c.id))
        return kept[:limit]

    def _names_an_area(self, hay: str, area_hits: dict[int, int]) -> bool:
        """True when the whole text is just an area's name ("金源社区"): the area is meant."""
        return any(hay in self.areas[i].aliases for i in area_hits)

    def _building_score(self, b: _BuildingEntry, hay: str, area_hits: dict[int, int]) -> float:
        if b.norm_address and len(b.norm_address) >= MIN_ALIAS and _contains(hay, b.norm_address):
            return 100 + len(b.norm_address)
        if (b.norm_address and len(hay) >= DISTINCT_NAME and _contains(b.norm_address, hay)
                and not self._names_an_area(hay, area_hits)):
            return 60 + len(hay)  # part of a registered address ("通北路88号" of "…通北路88号金源花园")
        if not _contains(hay, b.norm_name):
            return 0
        area = self.areas.get(b.area_id)
        named_above = [area_hits[a.id] for a in (self._ancestors(area.path) if area else []) if a.id in area_hits]
        if named_above:
            return 50 + len(b.norm_name) + max(named_above)
        if len(b.norm_name) >= DISTINCT_NAME:
            return 40 + len(b.norm_name)
        return 0


_cache_lock = threading.Lock()
_cache: dict = {"index": None, "fingerprint": None}


def _fingerprint() -> tuple:
    """Changes when any area or building row is added, removed, renamed, moved or re-pointed."""
    areas = (Area.select(peewee.fn.COUNT(Area.id), peewee.fn.MAX(Area.id),
                         peewee.fn.SUM(peewee.fn.LENGTH(Area.name)), peewee.fn.SUM(peewee.fn.LENGTH(Area.path)))
             .tuples().get())
    buildings = (Building.select(
        peewee.fn.COUNT(Building.id), peewee.fn.MAX(Building.id), peewee.fn.SUM(Building.area),
        peewee.fn.SUM(peewee.fn.LENGTH(Building.name) + peewee.fn.LENGTH(peewee.fn.COALESCE(Building.address, ""))),
        peewee.fn.SUM(peewee.fn.COALESCE(Building.lat, 0) + peewee.fn.COALESCE(Building.lng, 0)),
    ).tuples().get())
    return tuple(areas) + tuple(buildings)


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
        _cache["index"], _cache["fingerprint"] = AddressIndex(areas, buildings), fingerprint
        return _cache["index"]


def match_address(text: str | None, limit: int = 5) -> list[Candidate]:
    """What ``text`` may name, best first (at most ``limit``); [] when nothing fits."""
    if not text or not text.strip():
        return []
    return address_index().match(text, limit=limit)


def unambiguous(candidates: list[Candidate]) -> Candidate | None:
    """The one candidate that clearly wins, or None when there is none or it is a tie."""
    if not candidates:
        return None
    if len(candidates) > 1 and candidates[1].score >= candidates[0].score:
        return None
    return candidates[0]
