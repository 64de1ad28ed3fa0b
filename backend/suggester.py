"""Which 小类 a resident's words mean: the matcher behind ``backend.taxonomy.suggest``.

Every 小类 brings its terms: its keywords (editable in the console), its name and its plain
name. A text is read in five steps:

1. **Normalise**: full-width → half-width (NFKC), lower case; the first ``MAX_TEXT``
   characters only (a report is short; a 4 000-character paste is answered, not studied).
2. **Find the terms**, each with where it stands in the text:
   - a term of two or more characters wherever it occurs;
   - a one-character term (火, 偷, 骗, 灯) only where jieba cuts it out as a word of its own,
     so 火车站 is not a fire and 抽烟 not smoke;
   - a term of two or more characters said with a homophone typo — "拉圾", "景盖", "拆签"
     (``backend.sounds``: same toneless syllables, one character in common) — counts three
     quarters of its length, unless the typo is a word in its own right: a common dictionary
     word ("上方" is not 上访), a window that cuts a word in two ("地方放东西" holds no 房东), or
     one whose different character is a function word ("老是" is not 老师, "推到" not 推倒).
3. **The longer term claims its characters**: a term lying inside (or across) a longer term
   found for another category does not count for that category — 楼道灯 is a lamp, not 楼道堆物;
   停车费 is 物业, not 乱停车; 建筑垃圾 is 乱堆物料, not 暴露垃圾. A few everyday phrases claim
   their characters for no category at all, not even in step 5 (``NOT_TERMS``: 火车, 香烟 …).
4. **Score**: each distinct term adds its length; a context word (``CONTEXT_WORDS``: 楼道, 路边,
   邻居, 老人 … — where something is or whom it concerns, not what is wrong) a quarter of it.
5. **What the terms left unexplained** still counts a little: each character pair and each
   uncommon character of the rest of the text that also occurs in a category's terms adds
   ``GRAM_WEIGHT`` / (number of categories whose terms hold it), a single character half of it
   unless it is a one-character term itself (赌 in 赌场, 摊 in 小摊) — "裂纹" shares 裂 with 裂缝
   and 开裂 only, "征迁" shares 征 with 征地 and 征收. Enough to break a tie or to offer something
   when no term matched, never enough to outweigh one whole term. Function words (``STOP_CHARS``)
   never count, so "你好" or "哈哈哈" still suggest nothing.

Best first; ties go to the lower code, so the answer never depends on the order of the rows.

Pure and deterministic; ``taxonomy`` compiles the terms once per category set, and nothing
here reads the database.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from backend import segmenter, sounds

MAX_TEXT = 1000
SOUND_WEIGHT = 0.75
CONTEXT_WEIGHT = 0.25
GRAM_WEIGHT = 0.4  # a character pair found in one category's terms only; one character counts half
GRAM_MIN = 0.25  # characters alone suggest a category only above one shared character
MAX_GRAM_CATEGORIES = 4  # a character in the terms of more categories than this says nothing
COMMON_WORD_FREQUENCY = 100  # a window jieba knows this well is a word, not a typo ("上方", "电视")

# Where a problem is, or whom it concerns, rather than what it is: they help tell 楼道堆物 from
# 乱堆物料, but a lamp in a 楼道 is still a lamp, and a neighbour's fire hazard is not a dispute.
CONTEXT_WORDS = frozenset({
    "楼道", "楼梯", "楼梯间", "楼梯口", "走廊", "过道", "楼下", "楼上", "门口", "路边", "路口", "马路", "人行道",
    "小区", "空地", "巷子", "家里", "屋里", "室内", "电梯", "空地上", "绿地", "河道", "店外", "门外", "院子",
    "邻居", "邻居家", "隔壁", "对门", "厝边", "楼上那家", "楼下那家", "老人", "老人家", "老伴", "业主", "学生",
})
# Everyday words that hold a term (or its characters) but never mean it.
NOT_TERMS = frozenset({"火车", "火锅", "打火机", "一堆", "一大堆", "烟酒", "香烟", "抽烟", "吸烟", "灯笼"})


# Characters too common to tell one problem from another.
STOP_CHARS = frozenset(
    "的了是在有我你他她它们这那个就都也还又很太不没无人家里上下来去到说要会能可以和跟与把被给让对为着过吗呢吧啊"
    "呀哦嘛么什怎样一二三四五六七八九十几多少大小好天年月日点时候边前后中外面内再才只真")


@dataclass(frozen=True)
class Terms:
    """One category set, compiled: terms by their first character."""
    by_first: dict  # first character → ((term, codes), …) longest first
    single: dict  # one-character term → codes
    heard: sounds.SoundIndex  # multi-character terms, by sound
    codes_of: dict  # multi-character term → codes
    grams: dict  # character or character pair of the terms → codes whose terms hold it
    keyword_chars: frozenset  # one-character terms: inside another word they still weigh as a pair


class _TypoFilter:
    """``accept(start, end, word)`` for ``SoundIndex.find``: see the module docstring, step 2."""

    def __init__(self, text: str):
        self.text = text
        self._cuts: set | None = None

    def cuts(self) -> set:
        """Positions inside a word of two or more characters, as jieba segments the text."""
        if self._cuts is None:
            self._cuts = {i for _token, start, end in segmenter.tokenizer().tokenize(self.text, HMM=False)
                          for i in range(start + 1, end)}
        return self._cuts

    def __call__(self, start: int, end: int, word: str) -> bool:
        window = self.text[start:end]
        if sounds.particle_typo(window, word):
            return False
        if segmenter.frequency(window) >= COMMON_WORD_FREQUENCY:
            return False
        cuts = self.cuts()
        return start not in cuts and end not in cuts


def compile_terms(spec: tuple) -> Terms:
    """``spec``: ((code, (term, …)), …) for the 小类 that may be suggested."""
    codes_of: dict[str, set] = {}
    single: dict[str, list] = {}
    for code, terms in spec:
        for term in terms:
            if len(term) == 1:
                single.setdefault(term, []).append(code)
            else:
                codes_of.setdefault(term, set()).add(code)
    for term in NOT_TERMS:
        codes_of.setdefault(term, set())
    by_first: dict[str, list] = {}
    for term in sorted(codes_of, key=lambda t: (-len(t), t)):
        by_first.setdefault(term[0], []).append((term, tuple(sorted(codes_of[term]))))
    segmenter.teach(sorted(t for t, codes in codes_of.items() if codes))
    heard = sounds.SoundIndex([t for t, codes in codes_of.items() if codes])
    grams: dict[str, set] = {}
    for code, terms in spec:
        for term in terms:
            for gram in _grams(term):
                grams.setdefault(gram, set()).add(code)
    keyword_chars = {term for term in single if _content(term)}
    return Terms({k: tuple(v) for k, v in by_first.items()}, {k: tuple(v) for k, v in single.items()}, heard,
                 {k: tuple(sorted(v)) for k, v in codes_of.items()},
                 {g: tuple(sorted(codes)) for g, codes in grams.items() if len(codes) <= MAX_GRAM_CATEGORIES},
                 frozenset(keyword_chars))


def _content(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" and ch not in STOP_CHARS


def _grams(text: str) -> set[str]:
    """The uncommon Chinese characters of ``text`` and its pairs of adjacent Chinese characters
    with at least one uncommon one."""
    grams = {ch for ch in text if _content(ch)}
    for a, b in zip(text, text[1:]):
        if "\u4e00" <= a <= "\u9fff" and "\u4e00" <= b <= "\u9fff" and (_content(a) or _content(b)):
            grams.add(a + b)
    return grams


def normalise(text: str | None) -> str:
    return unicodedata.normalize("NFKC", text or "")[:MAX_TEXT].strip().lower()


def _inside_number(text: str, start: int, end: int) -> bool:
    """A term that begins or ends with a digit never matches inside a longer number (12345 ≠ 123456)."""
    return ((text[start].isdigit() and start > 0 and text[start - 1].isdigit())
            or (text[end - 1].isdigit() and end < len(text) and text[end].isdigit()))


def _hits(text: str, terms: Terms) -> list[tuple[int, int, str, tuple, float]]:
    """(start, end, term, codes, weight) for every term found in ``text``."""
    hits = []
    for i, ch in enumerate(text):
        for term, codes in terms.by_first.get(ch, ()):
            if text.startswith(term, i) and not _inside_number(text, i, i + len(term)):
                weight = len(term) * (CONTEXT_WEIGHT if term in CONTEXT_WORDS else 1.0)
                hits.append((i, i + len(term), term, codes, weight))
    if terms.single and any(ch in terms.single for ch in text):
        for word, start, end in segmenter.tokenizer().tokenize(text, HMM=False):
            if word in terms.single:
                hits.append((start, end, word, terms.single[word], 1.0))
    if terms.heard:
        for start, end, term in terms.heard.find(text, _TypoFilter(text)):
            hits.append((start, end, term, terms.codes_of[term], len(term) * SOUND_WEIGHT))
    return hits


def score(text: str | None, terms: Terms) -> dict[str, float]:
    """Each category's score for ``text`` (categories with no term found are absent)."""
    text = normalise(text)
    if not text:
        return {}
    hits = sorted(_hits(text, terms), key=lambda h: (-(h[1] - h[0]), -h[4], h[0]))
    kept: list[tuple[int, int, tuple]] = []
    counted: dict[str, set] = {}
    scores: dict[str, float] = {}
    explained = [False] * len(text)
    for start, end, term, codes, weight in hits:
        claimed = [k_codes for k_start, k_end, k_codes in kept
                   if k_end - k_start > end - start and k_start < end and start < k_end]
        kept.append((start, end, codes))
        explained[start:end] = [True] * (end - start)
        for code in codes:
            if any(code not in k_codes for k_codes in claimed) or term in counted.setdefault(code, set()):
                continue
            counted[code].add(term)
            scores[code] = scores.get(code, 0.0) + weight
    rest = "".join(ch if not seen else " " for ch, seen in zip(text, explained))
    by_grams: dict[str, float] = {}
    for gram in _grams(rest):
        codes = terms.grams.get(gram, ())
        for code in codes:
            strong = len(gram) == 2 or gram in terms.keyword_chars
            by_grams[code] = by_grams.get(code, 0.0) + GRAM_WEIGHT * (1.0 if strong else 0.5) / len(codes)
    for code, extra in by_grams.items():
        if code in scores or extra >= GRAM_MIN:
            scores[code] = scores.get(code, 0.0) + extra
    return scores
