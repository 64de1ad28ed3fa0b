"""After reporting: 进度, 查 N (trajectory, staff names masked), rating 1–5, 撤回 N.

A bare score (“5”, “4分 很快”) rates the latest closed event the resident has not rated —
but never right after an expired conversation, where “1” most likely meant “确认”.
"""
from __future__ import annotations

from wechat.dialog import texts
from wechat.dialog.commands import ResidentAction, Result
from wechat.dialog.state import State

MAX_LISTED = 5
MAX_STEPS = 8


def _event_line(event) -> str:
    status = event.status_name
    if event.status == "closed" and not event.rated and not event.followed:
        status += "，待您打分"
    mark = "（关注）" if event.followed else ""
    line = f"· {event.number}{mark} {texts.short(event.description, 16)}\n  {status}"
    return line + (f"（{event.last_step}）" if event.last_step else "")


def progress(turn) -> str:
    events = turn.facts.my_events
    if not events:
        return texts.NO_EVENTS
    lines = [texts.PROGRESS_HEAD] + [_event_line(e) for e in events[:MAX_LISTED]] + [texts.PROGRESS_FOOT]
    return "\n".join(lines)


def query(state: State, turn) -> tuple[State, str]:
    event = turn.facts.event
    if event is None:
        return state, texts.EVENT_NOT_FOUND.format(ref=f" {turn.intent.ref} " if turn.intent.ref else "")
    lines = [f"{event.number} {texts.short(event.description, 24)}", f"现在：{event.status_name}"]
    lines += list(event.trajectory[-MAX_STEPS:])
    if event.status == "closed" and not event.rated and not event.followed and turn.facts.staff is None:
        lines.append(texts.ASK_RATE)
        if state.idle or state.flow == "rate":
            return State(flow="rate", step="score", draft={"number": event.number}), "\n".join(lines)
    return state, "\n".join(lines)


def withdraw(turn) -> tuple[str | None, list]:
    if not turn.intent.ref:
        return texts.WITHDRAW_WHICH, []
    event = turn.facts.event
    if event is None:
        return texts.EVENT_NOT_FOUND.format(ref=f" {turn.intent.ref} "), []
    return None, [ResidentAction(event.number, "withdraw")]


def rate_named(turn) -> tuple[str | None, list]:
    event = turn.facts.event
    if event is None:
        return texts.EVENT_NOT_FOUND.format(ref=f" {turn.intent.ref} "), []
    return None, [ResidentAction(event.number, "rate", score=turn.intent.number, comment=turn.intent.arg)]


def rate_latest(turn) -> tuple[str | None, list]:
    """A bare number while nothing is open: a score for the latest closed event, or a hint."""
    intent, event = turn.intent, turn.facts.rateable
    score = intent.number
    if turn.expired:
        return texts.ASK_DESCRIPTION, []
    if event is None or not score or not 1 <= score <= 5:
        return (texts.NOTHING_TO_RATE if intent.name == "rate" else texts.HINT), []
    return None, [ResidentAction(event.number, "rate", score=score, comment=intent.arg)]


def complain(turn) -> tuple[str | None, list]:
    """没修好 / 不满意 (+ why) after a closure: 返工 to whoever handled it."""
    event = turn.facts.complainable
    if event is None:
        return texts.NOTHING_TO_COMPLAIN, []
    reason = turn.intent.arg or turn.text
    return None, [ResidentAction(event.number, "complain", comment=f"居民说没修好：{reason}"[:500])]


def continue_rate(state: State, turn):
    """In the rate flow (after 查 N showed a closed event): a score rates that event.

    Anything else ends the flow and is read afresh (None), so a new problem still gets reported.
    """
    intent = turn.intent
    if intent.name in ("rate", "choice") and intent.number and 1 <= intent.number <= 5:
        number = state.draft.get("number")
        return state, None, [ResidentAction(number, "rate", score=intent.number, comment=intent.arg)]
    if intent.name == "complain":
        reason = intent.arg or turn.text
        return State(), None, [ResidentAction(state.draft.get("number"), "complain",
                                              comment=f"居民说没修好：{reason}"[:500])]
    return None


def conclude(state: State, command: ResidentAction, result: Result) -> tuple[State, str]:
    if state.flow == "rate":
        state = State()
    if not result.ok:
        return state, texts.REFUSED.format(message=result.message)
    if command.action == "withdraw":
        return state, texts.WITHDRAWN.format(number=command.number)
    if command.action == "complain":
        return state, texts.COMPLAINED.format(number=command.number)
    reply = texts.RATED.format(number=command.number, score=command.score)
    return state, texts.join(reply, texts.RATED_LOW if command.score <= 2 else None)
