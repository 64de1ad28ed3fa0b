"""Sound-alike words: a pinyin typo or a voice-recognition slip read back as the word meant.

Residents type with pinyin input methods and speak to voice recognition, so a word often
arrives as a homophone: "拉圾" for 垃圾, "景盖" for 井盖, "通背社区" for 通北社区. A window of text
*sounds like* a word when every character shares a toneless reading with the word's character
in the same place and at least one character is the same (so "运到" never becomes "晕倒", and a
word is never read into text that shares nothing with it). The caller may veto a window that
is a word in its own right ("上方" is not a typo of 上访).

Readings come from pypinyin's single-character table, read directly: importing pypinyin
would also load its phrase table (≈ 55 MB per process), which none of this needs. Only the
common characters (GB 2312, 6 763 of them) are kept — ≈ 1 MB, built once per process and
shared by the emergency recogniser, the category suggester and the address matcher.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import unicodedata
from pathlib import Path
from typing import Callable, Iterable, Iterator


# Particles and prepositions: a typo never has one standing for another character ("老是" is not
# 老师, "推到" is not 推倒) — they are far commoner as themselves than as slips.
PARTICLES = frozenset("的了是在到着过吗呢吧啊呀嘛么就都也还又很太不没把被给让对为和跟与得地")


def particle_typo(window: str, word: str) -> bool:
    """True when ``window`` differs from ``word`` in a particle (then it is not a typo of it)."""
    return any(ch in PARTICLES for ch, meant in zip(window, word) if ch != meant)


def toneless(reading: str) -> str:
    """"zhuó" → "zhuo"; ü is written v."""
    plain = "".join(ch for ch in unicodedata.normalize("NFD", reading) if not unicodedata.combining(ch))
    return plain.replace("ü", "v")


def _common(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def readings() -> dict[str, frozenset[str]]:
    """Every common character → its toneless readings (all of them: polyphones keep each)."""
    spec = importlib.util.find_spec("pypinyin")
    path = Path(spec.origin).parent / "pinyin_dict.json"
    table = json.loads(path.read_text(encoding="utf-8"))
    interned: dict[frozenset, frozenset] = {}
    out: dict[str, frozenset[str]] = {}
    for code, spelled in table.items():
        ch = chr(int(code))
        if _common(ch):
            sounds = frozenset(toneless(r) for r in spelled.split(","))
            out[ch] = interned.setdefault(sounds, sounds)
    return out


class SoundIndex:
    """Find where a text says one of ``words`` with a homophone typo.

    Words shorter than two characters are never matched by sound.
    """

    def __init__(self, words: Iterable[str]):
        table = readings()
        self._by_start: dict[tuple[str, str], list[tuple[str, tuple[frozenset, ...]]]] = {}
        for word in sorted(set(words)):
            if len(word) < 2 or any(ch not in table for ch in word):
                continue
            sounds = tuple(table[ch] for ch in word)
            for first in sounds[0]:
                for second in sounds[1]:
                    self._by_start.setdefault((first, second), []).append((word, sounds))

    def __bool__(self) -> bool:
        return bool(self._by_start)

    def find(self, text: str, accept: Callable[[int, int, str], bool] | None = None
             ) -> Iterator[tuple[int, int, str]]:
        """(start, end, word) for each window of ``text`` that sounds like a word but is not it,
        and that ``accept(start, end, word)`` (when given) lets through."""
        table = readings()
        empty = frozenset()
        for i in range(len(text) - 1):
            firsts, seconds = table.get(text[i]), table.get(text[i + 1])
            if not firsts or not seconds:
                continue
            seen = set()
            for first in firsts:
                for second in seconds:
                    for word, sounds in self._by_start.get((first, second), ()):
                        end = i + len(word)
                        window = text[i:end]
                        if (word in seen or len(window) != len(word) or window == word
                                or not any(a == b for a, b in zip(window, word))
                                or not all(table.get(window[k], empty) & sounds[k] for k in range(2, len(word)))):
                            continue
                        if accept is not None and not accept(i, end, word):
                            continue
                        seen.add(word)
                        yield i, end, word
