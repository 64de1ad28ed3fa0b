"""The conversation state kept between messages: plain data that round-trips through JSON.

A resident is in at most one flow at a time (report, rate, emergency — the minutes after an
emergency was filed —, or a staff flow: resolve, quick).
``step`` names the question we last asked; ``choices`` are the numbered options shown with
it, so “2” means what the resident saw. Anything unreadable from Redis becomes a fresh state.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

FLOWS = ("report", "rate", "resolve", "quick", "emergency", "erase")


@dataclass
class State:
    flow: str | None = None
    step: str | None = None
    draft: dict = field(default_factory=dict)
    choices: list = field(default_factory=list)
    resume_step: str | None = None  # the step to go back to after “接着报这件？”
    updated_at: int = 0

    @property
    def idle(self) -> bool:
        return self.flow is None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data) -> "State":
        if not isinstance(data, dict):
            return cls()
        known = {f.name for f in fields(cls)}
        try:
            state = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            return cls()
        if state.flow not in FLOWS or not isinstance(state.draft, dict) or not isinstance(state.choices, list):
            return cls()
        if not isinstance(state.updated_at, int):
            state.updated_at = 0
        return state

    def copy(self, **changes) -> "State":
        data = self.to_dict()
        data.update(changes)
        return State(**data)


def fresh() -> State:
    return State()
