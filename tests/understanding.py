"""Category and address understanding, measured on the labelled corpora in tests/data/.

``category_figures()`` runs ``backend.taxonomy.suggest`` over a category set (``CATEGORY_SETS``);
``address_figures()`` runs ``backend.services.address.resolve_address`` over an address set
(``ADDRESS_SETS``) against the demo areas (``backend.seed.seed_demo``; needs an open database). The suite asserts the goals (tests/unit/test_understanding.py,
tests/integration/test_address_corpus.py); docs/understanding.md publishes the figures.

    PYTHONPATH=. .venv/bin/python -m tests.understanding     # prints both tables (temporary SQLite)
"""
from __future__ import annotations

import csv
import platform
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).parent / "data"
CATEGORY_SETS = ("category_corpus.tsv", "category_holdout.tsv", "category_unseen.tsv")
ADDRESS_SETS = ("address_corpus.tsv", "address_holdout.tsv")


def load(name: str, header: list[str]) -> list[list[str]]:
    with open(DATA / name, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == header, (name, rows[0])
    return rows[1:]


# ------------------------------------------------------------------ categories


@dataclass
class CategoryFigures:
    n: int = 0
    top1: int = 0
    top3: int = 0
    nothing: int = 0
    misses: list = field(default_factory=list)  # (expected, text, ranked) where top-1 is wrong

    @property
    def top1_rate(self) -> float:
        return self.top1 / self.n

    @property
    def top3_rate(self) -> float:
        return self.top3 / self.n


def category_figures(name: str = "category_corpus.tsv", categories=None) -> CategoryFigures:
    from backend.taxonomy import DEFAULT_CATEGORIES, suggest

    categories = DEFAULT_CATEGORIES if categories is None else categories
    figures = CategoryFigures()
    for code, text in load(name, ["code", "text"]):
        ranked = [c for c, _ in suggest(text, categories, limit=3)]
        figures.n += 1
        figures.top1 += ranked[:1] == [code]
        figures.top3 += code in ranked
        figures.nothing += not ranked
        if ranked[:1] != [code]:
            figures.misses.append((code, text, ranked))
    return figures


# ------------------------------------------------------------------ addresses


@dataclass
class AddressFigures:
    n: int = 0
    outcomes: Counter = field(default_factory=Counter)  # resolved / choices / none / wrong / missed
    ranked_n: int = 0  # phrases naming one place: where it stands among the candidates
    top1: int = 0
    top3: int = 0
    wrong: list = field(default_factory=list)
    missed: list = field(default_factory=list)

    @property
    def answered_rate(self) -> float:
        """Resolved, offered as choices, or rightly told nothing was found."""
        return (self.outcomes["resolved"] + self.outcomes["choices"] + self.outcomes["none"]) / self.n

    @property
    def wrong_rate(self) -> float:
        return self.outcomes["wrong"] / self.n


def place_name(place) -> str:
    """How the corpus names a resolved place: a building by its registered address, an area by name."""
    return place.address if place.kind == "building" else place.name


def judge(expected: str, resolution) -> str:
    """resolved / choices / none (all right) · wrong (a single wrong answer) · missed (asked or
    said nothing, but not with the right place among the choices)."""
    kind, _, target = expected.partition(":")
    places = resolution.places
    if resolution.outcome == "one":
        place = places[0]
        if kind in ("choices", "none"):
            return "wrong"
        if kind == "unit":
            building, unit = target.split("/")
            return "resolved" if place.kind == "building" and place_name(place) == building \
                and place.unit_name == unit else "wrong"
        return "resolved" if place.level == kind and place_name(place) == target else "wrong"
    if resolution.outcome == "choices":
        offered = {place_name(p) for p in places}
        if kind == "none":
            return "none"  # asking is never wrong
        wanted = set(target.split("|")) if kind == "choices" else {target.split("/")[0]}
        return "choices" if wanted <= offered else "missed"
    return "none" if kind == "none" else "missed"


def address_figures(name: str = "address_corpus.tsv") -> AddressFigures:
    from backend.services.address import match_address, resolve_address

    figures = AddressFigures()
    for text, expected in load(name, ["text", "expected"]):
        resolution = resolve_address(text)
        verdict = judge(expected, resolution)
        figures.n += 1
        figures.outcomes[verdict] += 1
        if verdict == "wrong":
            figures.wrong.append((text, expected, [place_name(p) for p in resolution.places]))
        elif verdict == "missed":
            figures.missed.append((text, expected, resolution.outcome, [place_name(p) for p in resolution.places]))
        kind, _, target = expected.partition(":")
        if kind not in ("choices", "none"):
            names = [place_name(c) for c in match_address(text, limit=3)]
            figures.ranked_n += 1
            figures.top1 += names[:1] == [target.split("/")[0]]
            figures.top3 += target.split("/")[0] in names
    return figures


# ------------------------------------------------------------------ report


def hardware() -> str:
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{cpu or platform.processor()} · Python {platform.python_version()} · {platform.system()}"


def _print_category(name: str) -> None:
    f = category_figures(name)
    print(f"{name}: {f.n} reports · top-1 {f.top1_rate:.1%} · top-3 {f.top3_rate:.1%} · no suggestion {f.nothing}")
    for code, text, ranked in f.misses:
        print(f"   {code} {text} → {ranked}")


def main() -> None:
    import tempfile

    from backend import config
    from backend.db import init_database, migrate
    from backend.seed import seed_demo

    print(hardware())
    for name in CATEGORY_SETS:
        if (DATA / name).exists():
            _print_category(name)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/understanding.db"
        config.install(config.load_settings(environ={}, env="test", var_dir=Path(tmp), database_url=url,
                                            redis_url=""))
        database = init_database(url)
        migrate(database)
        with database.connection_context():
            seed_demo(history=False)  # the places are what the addresses are read against
            for name in ADDRESS_SETS:
                f = address_figures(name)
                print(f"{name}: {f.n} phrases · {dict(f.outcomes)} · answered {f.answered_rate:.1%} · "
                      f"silently wrong {f.wrong_rate:.1%} · one-place phrases top-1 {f.top1 / f.ranked_n:.1%} "
                      f"top-3 {f.top3 / f.ranked_n:.1%}")
                for row in f.wrong:
                    print("   WRONG", *row)
                for row in f.missed:
                    print("   MISSED", *row)


if __name__ == "__main__":
    main()
