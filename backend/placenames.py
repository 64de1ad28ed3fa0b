"""Typed or spoken addresses → buildings, units and areas: the one matcher of every channel (DESIGN §7).

``AddressIndex(areas, buildings, units)`` holds the registry in comparable form and is pure;
``backend.services.address`` builds it from the database. ``index.resolve(text)`` answers
with one place, a few choices, "too many" or nothing. Ambiguity is answered by asking, never by
guessing: a wrong single answer is the worst outcome.

How a phrase is read:

1. **Normalise**: full-width → half-width, lower case, spaces and punctuation dropped; Chinese
   numerals (also 壹贰叁) before 号楼/栋/幢/座/单元/号/网格 become digits; 号楼/栋/幢/座 and "3#楼"
   are one word ("3栋"); "一网格", "3网格" are "第1网格", "第3网格".
2. **Areas by name**: each area is found by its name without its level's suffix (金源, 通北, 芗城)
   followed by any suffix of its level (社区/小区/居委会, 街道/街道办/办事处, 区, 市) — so
   "金源小区" is 金源社区. Where two names overlap, the longer reading claims the characters:
   in "通北街道" the street is meant, not 通北社区 inside it; a bare "通北" names both, and both
   are offered. A name heard with a homophone typo (金园, 通背, 兰田 — ``backend.sounds``) counts
   when its suffix follows ("金园社区", never a bare "金园").
3. **Local names**: a building's name ("3栋") and a grid's name without its community ("第1网格")
   are shared by many places. Found together with an area above them ("金源3栋", "金源第二网格"),
   they name that place; a building's registered address found whole ("金源社区3号楼") does too;
   a long, distinctive building name (``DISTINCT_NAME``) names it alone. A local name with nothing
   above it ("3号楼", "第二网格") is only a guess: every place so named is offered as a choice.
   A number never matches inside a longer one ("1栋" is not in "11栋").
4. **Evidence and score**: each candidate keeps the characters that support it. An area is
   dropped when a candidate below it says more than the area's own name ("金源社区3号楼" is the
   building, not the community). Buildings outrank grids, grids outrank areas named alone;
   within a rank, more supporting characters win; equal scores are a tie, answered by choices.
5. **Units**: "2单元" picks that unit of the building (when it has one).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from backend import sounds

MAX_TEXT = 255  # longest text looked at (Open311's address_string)
MAX_PHRASE = 60  # a longer message is a description, not an address (the chat's rule)
MAX_CHOICES = 6  # more than this many equally good places: ask for more detail
MIN_ALIAS = 2
DISTINCT_NAME = 4  # a building name this long ("金源花园3栋") needs no area named with it
LEVEL_RANK = {"city": 0, "district": 1, "street": 2, "community": 3, "grid": 4}
SUFFIXES = {  # the words a level's name may end with, longest first
    "community": ("社区居民委员会", "社区居委会", "居民委员会", "居委会", "社区", "小区", "居委"),
    "street": ("街道办事处", "街道办", "办事处", "街道", "镇", "乡"),
    "district": ("区", "县", "市"),
    "city": ("市",),
    "grid": ("网格",),
}
SCORE_BUILDING, SCORE_GRID, SCORE_AREA, SCORE_GUESS = 300, 200, 100, 0
LOCAL_WEIGHT = 2  # what a building's or grid's own name adds to the characters naming the areas above it


@dataclass(frozen=True)
class Candidate:
    kind: str  # "building" | "area"
    id: int
    name: str  # the registered name: "3号楼", "金源社区第一网格"
    grid_id: int | None  # the grid it lies in (a grid is its own); None above grid level
    lat: float | None  # WGS-84; buildings only
    lng: float | None
    level: str = ""  # building / grid / community / street / district / city
    label: str = ""  # for echoing back: "金源社区3号楼", "通北街道金源社区"
    score: float = 0.0
    address: str = ""  # a building's registered address
    guess: bool = False  # found by a local name alone: offer it, never take it
    unit_id: int | None = None  # the unit named with it ("2单元"), when the building has it
    unit_name: str = ""


@dataclass(frozen=True)
class Resolution:
    outcome: str  # "one" · "choices" · "too_many" · "none"
    places: tuple = ()  # Candidate: the one place, or the choices (at most MAX_CHOICES + 1)


# ------------------------------------------------------------------ normalisation

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9, "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5, "陆": 6, "柒": 7, "捌": 8, "玖": 9}
_CN_NUMBER = re.compile(r"([零〇一二两三四五六七八九十壹贰叁肆伍陆柒捌玖拾]{1,4})(?=号楼|号栋|号幢|栋|幢|座|单元|号|网格|#)")
_HASH_BUILDING = re.compile(r"(\d+)#(?:楼|栋|幢)?")
_BUILDING_WORD = re.compile(r"(\d+)(?:号楼|号栋|号幢|栋|幢|座)")
_GRID_WORD = re.compile(r"第?(\d+)网格")
_UNIT_WORD = re.compile(r"(\d+)单元")
_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def _cn_to_int(text: str) -> int | None:
    """一..九十九 (also 〇/零 digits written one by one, e.g. 一〇二); None if not a number."""
    text = text.replace("拾", "十")
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
    """The comparable form of an address: see the module docstring, step 1."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = _CN_NUMBER.sub(_digits_for, text)
    text = _HASH_BUILDING.sub(r"\1栋", text)
    text = _DROP.sub("", text)
    text = _BUILDING_WORD.sub(r"\1栋", text)
    return _GRID_WORD.sub(r"第\1网格", text)


def _occurrences(hay: str, needle: str) -> list[int]:
    """Where ``needle`` stands in ``hay``, a number never inside a longer number."""
    found, start = [], hay.find(needle) if needle else -1
    while start != -1:
        end = start + len(needle)
        if not ((needle[0].isdigit() and start > 0 and hay[start - 1].isdigit())
                or (needle[-1].isdigit() and end < len(hay) and hay[end].isdigit())):
            found.append(start)
        start = hay.find(needle, start + 1)
    return found


def unit_number(text: str) -> str | None:
    """"2单元" for any way of saying the second unit; None when no unit is named."""
    match = _UNIT_WORD.search(normalize(text))
    return f"{int(match.group(1))}单元" if match else None


# ------------------------------------------------------------------ the index


@dataclass(frozen=True)
class _Area:
    id: int
    name: str
    level: str
    ancestors: tuple  # ids from the root down, without itself
    base: str  # normalised name without its level's suffix
    local: str  # a grid's name without its community's ("第1网格"), else ""


@dataclass(frozen=True)
class _Building:
    id: int
    name: str
    address: str
    norm_name: str
    norm_address: str
    area_id: int
    ancestors: tuple  # area ids, root first, its own area last
    lat: float | None
    lng: float | None


class AddressIndex:
    """The registry in comparable form; pure (built from rows, no database access).

    ``areas``: (id, name, level, path) · ``buildings``: (id, name, address, area_id, lat, lng) ·
    ``units``: (id, building_id, name).
    """

    def __init__(self, areas, buildings, units=()):
        rows = {id_: (name, level, path) for id_, name, level, path in areas}
        self.areas: dict[int, _Area] = {}
        for id_, (name, level, path) in rows.items():
            ancestors = tuple(int(p) for p in (path or "").strip("/").split("/") if p.isdigit() and int(p) != id_)
            self.areas[id_] = _Area(id_, name, level, ancestors, self._base(name, level), "")
        for area in list(self.areas.values()):
            parent = self.areas.get(area.ancestors[-1]) if area.ancestors and area.level == "grid" else None
            norm = normalize(area.name)
            for prefix in ((normalize(parent.name), parent.base) if parent else ()):
                if prefix and norm.startswith(prefix) and len(norm) > len(prefix):
                    self.areas[area.id] = replace(area, local=norm[len(prefix):])
                    break
        self.buildings = [
            _Building(id_, name, address or "", normalize(name), normalize(address), area_id,
                      self._chain(area_id), lat, lng)
            for id_, name, address, area_id, lat, lng in buildings]
        self._by_name: dict[str, list[_Building]] = {}
        self._unnamed_in_address: list[_Building] = []  # their address does not hold their name
        for b in self.buildings:
            self._by_name.setdefault(b.norm_name, []).append(b)
            if not _occurrences(b.norm_address, b.norm_name):
                self._unnamed_in_address.append(b)
        self.units: dict[int, dict[str, tuple[int, str]]] = {}
        for id_, building_id, name in units:
            number = unit_number(name)
            if number:
                self.units.setdefault(building_id, {})[number] = (id_, name)
        self._by_base: dict[str, list[_Area]] = {}
        for area in self.areas.values():
            self._by_base.setdefault(area.base, []).append(area)
        self.heard = sounds.SoundIndex({a.base for a in self.areas.values() if len(a.base) >= MIN_ALIAS})
        self.buildings_by_id = {b.id: b for b in self.buildings}

    @staticmethod
    def _base(name: str, level: str) -> str:
        norm = normalize(name)
        if level == "grid":
            return norm  # "金源第1网格" without 网格 would be found inside "金源第1栋"
        for suffix in SUFFIXES.get(level, ()):
            if norm.endswith(suffix) and len(norm) - len(suffix) >= MIN_ALIAS:
                return norm[: -len(suffix)]
        return norm

    def _chain(self, area_id: int) -> tuple:
        area = self.areas.get(area_id)
        return (*area.ancestors, area_id) if area else (area_id,)

    def area_label(self, area: _Area) -> str:
        chain = [self.areas[i] for i in (*area.ancestors, area.id) if i in self.areas]
        return "".join(a.name for a in chain if LEVEL_RANK.get(a.level, 9) >= LEVEL_RANK["street"]) or area.name

    # -------------------------------------------------------------- reading a phrase

    def _named_areas(self, hay: str) -> dict[int, frozenset]:
        """Areas named in ``hay`` → the characters naming them (step 2)."""
        found = []  # (start, end, area id)
        for area in self.areas.values():
            if len(area.base) < MIN_ALIAS:
                continue
            for start in _occurrences(hay, area.base):
                found.append((start, self._with_suffix(hay, start + len(area.base), area.level), area.id))
        for start, end, base in self.heard.find(hay, lambda s, e, word: not sounds.particle_typo(hay[s:e], word)):
            for area in self._by_base.get(base, ()):
                with_suffix = self._with_suffix(hay, end, area.level)
                if with_suffix > end:  # a name heard, not read: only with its suffix ("金园社区")
                    found.append((start, with_suffix, area.id))
        named: dict[int, frozenset] = {}
        for start, end, area_id in found:
            if any(o_end - o_start > end - start and o_start < end and start < o_end
                   for o_start, o_end, _ in found):
                continue  # a longer reading claims these characters
            named[area_id] = named.get(area_id, frozenset()) | frozenset(range(start, end))
        return named

    @staticmethod
    def _with_suffix(hay: str, end: int, level: str) -> int:
        for suffix in SUFFIXES.get(level, ()):
            if hay.startswith(suffix, end):
                return end + len(suffix)
        return end

    def match(self, text: str, limit: int = MAX_CHOICES + 1) -> list[Candidate]:
        """What ``text`` may name, best first (at most ``limit``); [] when nothing fits."""
        hay = normalize((text or "")[:MAX_TEXT])
        if len(hay) < MIN_ALIAS:
            return []
        named = self._named_areas(hay)
        evidence: dict[tuple[str, int], frozenset] = {("area", i): chars for i, chars in named.items()}
        guesses: set[tuple[str, int]] = set()
        for area in self.areas.values():  # grids by their local name (step 3)
            if not area.local:
                continue
            for start in _occurrences(hay, area.local):
                chars = frozenset(range(start, start + len(area.local)))
                above = [named[i] for i in area.ancestors if i in named]
                key = ("area", area.id)
                if above:
                    evidence[key] = evidence.get(key, frozenset()) | chars.union(*above)
                elif key not in evidence:
                    evidence[key] = chars
                    guesses.add(key)
        for b in self._buildings_to_check(hay):
            self._building_evidence(b, hay, named, evidence, guesses)
        return self._ranked(evidence, guesses)[:limit]

    def _buildings_to_check(self, hay: str) -> list[_Building]:
        """The buildings ``hay`` can name: by a name it holds (an address holds its building's name),
        plus those whose address lacks their name, plus those whose address holds the whole phrase.
        Each name is looked for once, however many buildings share it."""
        found = [b for name, group in self._by_name.items() if name and _occurrences(hay, name) for b in group]
        found += self._unnamed_in_address
        if len(hay) >= DISTINCT_NAME:
            found += [b for b in self.buildings if hay in b.norm_address]
        return list({b.id: b for b in found}.values())

    def _building_evidence(self, b: _Building, hay: str, named: dict, evidence: dict, guesses: set) -> None:
        key = ("building", b.id)
        above = [evidence[("area", i)] for i in b.ancestors if ("area", i) in evidence and ("area", i) not in guesses]
        if len(b.norm_address) >= MIN_ALIAS and (starts := _occurrences(hay, b.norm_address)):
            evidence[key] = frozenset(range(starts[0], starts[0] + len(b.norm_address))).union(*above)
            return
        if (len(b.norm_address) >= len(hay) >= DISTINCT_NAME and _occurrences(b.norm_address, hay)
                and not any(hay == self.areas[i].base or hay == normalize(self.areas[i].name) for i in named)):
            evidence[key] = frozenset(range(len(hay)))  # part of a registered address: "通北路88号"
            return
        starts = _occurrences(hay, b.norm_name)
        if not starts:
            return
        evidence[key] = frozenset(range(starts[0], starts[0] + len(b.norm_name))).union(*above)
        if not above and len(b.norm_name) < DISTINCT_NAME:
            guesses.add(key)

    def _ranked(self, evidence: dict, guesses: set) -> list[Candidate]:
        def below(key, area_id) -> bool:
            kind, id_ = key
            chain = self.buildings_by_id[id_].ancestors if kind == "building" else self.areas[id_].ancestors
            return area_id in chain

        out = []
        for key, chars in evidence.items():
            kind, id_ = key
            if kind == "area" and any(k != key and k not in guesses and below(k, id_) and not c <= chars
                                      for k, c in evidence.items()):
                continue  # a place below it says more than its name: the area adds nothing
            out.append(self._candidate(key, len(chars) - self._local_length(key, chars) + LOCAL_WEIGHT,
                                       key in guesses))
        out.sort(key=lambda c: (-c.score, c.kind, c.id))
        return out

    def _local_length(self, key, chars: frozenset) -> int:
        """How many of ``chars`` a place's own local name takes ("3栋", "11栋", "第1网格"): a local
        name counts ``LOCAL_WEIGHT`` however many digits it has, so 3号楼 and 11号楼 named in one
        phrase weigh the same."""
        kind, id_ = key
        local = self.buildings_by_id[id_].norm_name if kind == "building" else self.areas[id_].local
        return len(local) if local and len(chars) > len(local) else 0

    def _candidate(self, key, strength: int, guess: bool) -> Candidate:
        kind, id_ = key
        if kind == "building":
            b = self.buildings_by_id[id_]
            community = next((self.areas[i].name for i in b.ancestors
                              if i in self.areas and self.areas[i].level == "community"), "")
            label = b.address if b.address and b.norm_name in b.norm_address else f"{community}{b.name}"
            return Candidate("building", b.id, b.name, b.area_id, b.lat, b.lng,
                             level="building", label=label,
                             score=(SCORE_GUESS if guess else SCORE_BUILDING) + strength, address=b.address,
                             guess=guess)
        area = self.areas[id_]
        rank = SCORE_GRID if area.level == "grid" else SCORE_AREA
        return Candidate("area", area.id, area.name, area.id if area.level == "grid" else None, None, None,
                         level=area.level, label=self.area_label(area),
                         score=(SCORE_GUESS if guess else rank) + strength, guess=guess)

    def resolve(self, text: str, max_length: int = MAX_PHRASE) -> Resolution:
        """One place, choices, too many, or none (see ``Resolution``)."""
        if not text or not text.strip() or len(text) > max_length:
            return Resolution("none")
        candidates = self.match(text, limit=10_000)
        if not candidates:
            return Resolution("none")
        best = [c for c in candidates if c.score == candidates[0].score]
        unit = unit_number(text)
        best = [self._with_unit(c, unit) for c in best]
        if len(best) == 1 and not best[0].guess:
            return Resolution("one", (best[0],))
        if len(best) > MAX_CHOICES:
            return Resolution("too_many", tuple(best[:MAX_CHOICES + 1]))
        return Resolution("choices", tuple(best))

    def _with_unit(self, candidate: Candidate, unit: str | None) -> Candidate:
        if candidate.kind != "building" or unit is None:
            return candidate
        found = self.units.get(candidate.id, {}).get(unit)
        return replace(candidate, unit_id=found[0], unit_name=found[1]) if found else candidate


def unambiguous(candidates: list[Candidate]) -> Candidate | None:
    """The one candidate that clearly wins, or None when there is none, it is a tie or a guess."""
    if not candidates or candidates[0].guess:
        return None
    if len(candidates) > 1 and candidates[1].score >= candidates[0].score:
        return None
    return candidates[0]
