"""The dialog engine: ``handle(state, message, facts) → Outcome(state, reply, commands)``.

Pure: no Redis, no database, no clock — everything it needs arrives in ``facts`` (looked up
by the shell beforehand) and everything it wants done leaves as ``commands`` (run by the
shell afterwards). ``conclude(outcome, command, result)`` — also pure — turns each command's
result into the rest of the reply. The flows live in engine_resident, engine_followup and
engine_staff; this module routes a message to them and owns what is the same everywhere:
取消, 帮助, menu keys, subscribe, expiry, truncation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from wechat.dialog import engine_emergency as urgent
from wechat.dialog import engine_followup as followup
from wechat.dialog import engine_resident as resident
from wechat.dialog import engine_staff as staff
from wechat.dialog import texts
from wechat.dialog.commands import (
    AddToReport,
    BindStaff,
    AnswerRevisit,
    EraseMyData,
    KeepPhone,
    SetFollowing,
    FollowEvent,
    QuickRecord,
    RememberLocation,
    ResidentAction,
    Result,
    StaffAction,
    SubmitReport,
)
from wechat.dialog.facts import Facts
from wechat.dialog.intents import REVISIT_ANSWERS, TEXT_LIMIT, Intent, clip, parse
from wechat.dialog.state import State
from wechat.messages import Incoming

MEDIA_KINDS = ("image", "video", "shortvideo")
SCAN_EVENTS = ("scancode_waitmsg", "scancode_push")
MENU_KEYS = {"REPORT": "report", "PROGRESS": "progress", "HELP": "help", "TODO": "todo", "QUICK": "quick"}  # wechat/menu.py
# Pushes nobody typed: they must not touch the conversation (no expiry, no new TTL).
SILENT_EVENTS = ("LOCATION", "VIEW", "TEMPLATESENDJOBFINISH", "location_select")
BIND_PREFIX = "bind:"
UNIT_PREFIX = "unit:"  # a building-unit token as a parametric-QR scene (the printed QR is a URL)


@dataclass
class Outcome:
    state: State
    reply: str | None
    commands: list = field(default_factory=list)


@dataclass
class Turn:
    """One incoming message with what the engine has read from it."""

    msg: Incoming
    facts: Facts
    text: str = ""  # the text, or what the voice recognition heard; clipped
    intent: Intent = field(default_factory=lambda: Intent("text", arg=""))
    expired: bool = False

    @property
    def heard(self) -> bool:
        return self.msg.kind == "voice" and bool(self.text)

    @property
    def is_media(self) -> bool:
        return self.msg.kind in MEDIA_KINDS

    @property
    def is_scan(self) -> bool:
        """A building QR: scanned from the menu, or a parametric QR with a ``unit:`` scene."""
        msg = self.msg
        if msg.kind != "event":
            return False
        return msg.event in SCAN_EVENTS or (
            msg.event in ("SCAN", "subscribe_scan") and (msg.key or "").startswith(UNIT_PREFIX))


def is_silent(msg: Incoming) -> bool:
    return msg.kind == "event" and msg.event in SILENT_EVENTS


def handle(state: State, msg: Incoming, facts: Facts) -> Outcome:
    if is_silent(msg):
        return _event(state, Turn(msg=msg, facts=facts))
    notices: list[str] = []
    state, expired = _expire(state, facts)
    if expired:
        notices.append(texts.EXPIRED.format(minutes=max(1, facts.ttl // 60)))
    turn = Turn(msg=msg, facts=facts, expired=expired)
    if msg.kind in ("text", "voice") and msg.text:
        turn.text, truncated = clip(msg.text)
        if truncated:
            notices.append(texts.TRUNCATED.format(limit=TEXT_LIMIT))
        turn.intent = parse(turn.text)
    outcome = _event(state, turn) if msg.kind == "event" else _message(state, turn)
    if not outcome.state.idle:
        outcome.state = outcome.state.copy(updated_at=facts.now)  # never mutate the caller's state
    if notices and (outcome.reply is not None or outcome.commands):
        outcome.reply = texts.join(*notices, outcome.reply)
    outcome.reply = texts.fit(outcome.reply)
    return outcome


def conclude(outcome: Outcome, command, result: Result) -> Outcome:
    """Fold one command's result into the outcome (the state may change, the reply grows)."""
    if isinstance(command, (RememberLocation, SetFollowing)):
        return outcome
    if isinstance(command, AnswerRevisit):
        if not result.ok:
            return Outcome(outcome.state, texts.REFUSED.format(message=result.message), outcome.commands)
        text = texts.REVISIT_THANKS if result.data.get("status") == "closed" else texts.REVISIT_REOPENED
        return Outcome(outcome.state, text.format(number=command.number), outcome.commands)
    if isinstance(command, KeepPhone):
        text = (texts.PHONE_KEPT.format(phone=result.data["phone"]) if result.ok
                else texts.REFUSED.format(message=result.message))
        reminder = texts.RESUME if outcome.state.flow in ("report", "resolve", "quick") else None
        return Outcome(outcome.state, texts.join(text, reminder), outcome.commands)
    if isinstance(command, EraseMyData):
        text = (texts.ERASED.format(**result.data) if result.ok
                else texts.REFUSED.format(message=result.message))
        return Outcome(State(), texts.fit(texts.join(outcome.reply, text)), outcome.commands)
    if isinstance(command, AddToReport) or (isinstance(command, SubmitReport) and command.emergency):
        state, text = urgent.conclude(outcome.state, command, result)
    elif isinstance(command, (SubmitReport, FollowEvent)):
        state, text = resident.conclude(outcome.state, command, result)
    elif isinstance(command, ResidentAction):
        state, text = followup.conclude(outcome.state, command, result)
    elif isinstance(command, (StaffAction, QuickRecord, BindStaff)):
        state, text = staff.conclude(outcome.state, command, result)
    else:  # pragma: no cover - a command without a conclusion is a programming error
        raise TypeError(f"no conclusion for {type(command).__name__}")
    return Outcome(state, texts.fit(texts.join(outcome.reply, text)), outcome.commands)


def _expire(state: State, facts: Facts) -> tuple[State, bool]:
    if not state.idle and state.updated_at and facts.now - state.updated_at > facts.ttl:
        return State(), True
    if state.idle and facts.expired_flow:
        return State(), True
    return state, False


# ------------------------------------------------------------------ messages


def _message(state: State, turn: Turn) -> Outcome:
    danger = urgent.check(state, turn)  # emergencies first: before any other reading of the text
    if danger is not None:
        return Outcome(*danger)
    if state.flow == "resolve" and state.step == "after" and not turn.is_media:
        state = State()  # the case is done; anything but a photo is read afresh
    if turn.facts.revisit_asked and turn.text.strip() in REVISIT_ANSWERS:  # the centre's 回访 question
        return Outcome(state, None, [AnswerRevisit(turn.facts.revisit_asked, turn.text.strip())])
    if turn.text:
        routed = _global(state, turn)
        if routed is not None:
            return routed
    if state.flow == "emergency":
        return Outcome(*urgent.continue_flow(state, turn))
    if state.flow == "erase":
        return _erase_answer(turn)
    if state.flow == "report":
        return Outcome(*resident.continue_report(state, turn))
    if state.flow == "rate":
        handled = followup.continue_rate(state, turn)
        if handled is not None:
            return Outcome(*handled)
        state = State()
    if state.flow in ("resolve", "quick"):
        return Outcome(*staff.continue_flow(state, turn))
    return _idle(state, turn)


def _global(state: State, turn: Turn) -> Outcome | None:
    """Intents that mean the same at every step; None lets the current flow read the text."""
    intent, facts = turn.intent, turn.facts
    name = intent.name
    if name == "staff" and facts.staff is None and intent.action == "escalate":
        turn.intent = Intent("text", arg=turn.text)  # “上报 3 号楼…” from a resident is a description
        return None
    if name == "cancel":
        if state.idle:
            return Outcome(State(), texts.NOTHING_TO_CANCEL)
        if state.flow == "emergency" and state.draft.get("number"):
            return Outcome(State(), texts.EMERGENCY_CANCEL.format(number=state.draft["number"]))
        return Outcome(State(), texts.CANCELLED)
    if name == "help":
        return _keep(state, texts.join(texts.HELP, texts.STAFF_HELP if facts.staff else None))
    if name == "progress":
        return _keep(state, followup.progress(turn))
    if name == "phone" and facts.staff is None:
        return Outcome(state, None, [KeepPhone(intent.arg or turn.text)])
    if name == "mydata":
        return _keep(state, _my_data(facts))
    if name == "erase":
        data = facts.my_data
        return Outcome(State(flow="erase", step="confirm"),
                       texts.ERASE_ASK.format(ended=data.reports_ended if data else 0,
                                              open=data.reports_open if data else 0))
    if name == "query":
        new_state, reply = followup.query(state, turn)
        return _keep(new_state, reply) if new_state is state else Outcome(new_state, reply)
    if name == "withdraw":
        return Outcome(state, *followup.withdraw(turn))
    if name == "rate" and intent.ref:
        return Outcome(state, *followup.rate_named(turn))
    if name == "todo":
        return _keep(state, staff.todo(turn))
    if name == "bind":  # 绑定 ABCD2345: the code on the sheet a staff import printed
        bound = f"{facts.staff.role_name} {facts.staff.name}" if facts.staff else None
        return Outcome(state, None, [BindStaff(token=intent.arg, already_bound_as=bound)])
    if name == "staff":
        return Outcome(*staff.command(state, turn))
    if name == "quick":
        return Outcome(*staff.start_quick(state, turn))
    if name == "report":
        return _report_intent(state, turn)
    return None


def _my_data(facts: Facts) -> str:
    data = facts.my_data
    if data is None:
        return texts.MY_DATA.format(nickname=texts.NONE_LEFT, phone=texts.NONE_LEFT, open=0, ended=0, follows=0,
                                    opt_ins=0)
    return texts.MY_DATA.format(nickname=data.nickname or texts.NONE_LEFT, phone=data.phone or texts.NONE_LEFT,
                                open=data.reports_open, ended=data.reports_ended, follows=data.follows,
                                opt_ins=data.subscribe_opt_ins)


def _erase_answer(turn: Turn) -> Outcome:
    """删除我的信息 asked "回复 1 确认": only 1 / 确认 erases; anything else keeps everything."""
    intent = turn.intent
    if intent.name == "yes" or (intent.name == "choice" and intent.number == 1) or turn.text in ("确认删除", "删除"):
        return Outcome(State(), None, [EraseMyData()])
    return Outcome(State(), texts.NOT_ERASED)


def _keep(state: State, reply: str) -> Outcome:
    """Answer without touching an open flow, and remind that it is still open."""
    reminder = texts.RESUME if state.flow in ("report", "resolve", "quick") else None
    return Outcome(state, texts.join(reply, reminder))


def _report_intent(state: State, turn: Turn) -> Outcome:
    if state.flow == "report" and resident.has_content(state):
        return Outcome(*resident.ask_switch(state))
    return Outcome(*resident.start(turn))


def _idle(state: State, turn: Turn) -> Outcome:
    msg, intent = turn.msg, turn.intent
    if turn.is_media and turn.facts.staff and any(t.status == "processing" for t in turn.facts.tasks_doing):
        return Outcome(*staff.photo_first(state, turn))  # a case in hand: the photo is for it
    if msg.kind == "voice" or turn.is_media or msg.kind == "location":
        return Outcome(*resident.start(turn))
    if msg.kind == "link":
        return Outcome(state, texts.LINK)
    if msg.kind != "text":
        return Outcome(state, texts.HINT)
    if intent.name in ("rate", "choice"):
        return Outcome(state, *followup.rate_latest(turn))
    if intent.name == "complain":
        return Outcome(state, *followup.complain(turn))
    if intent.name == "greeting":
        return Outcome(state, texts.GREETING)
    if intent.name == "text" and resident.is_description(turn):
        return Outcome(*resident.start(turn))
    return Outcome(state, texts.HINT)


# ------------------------------------------------------------------ events


def _event(state: State, turn: Turn) -> Outcome:
    outcome = _event_outcome(state, turn)
    if turn.msg.event in ("subscribe", "subscribe_scan"):  # a follower again (a scan may also bind or report)
        outcome.commands = [SetFollowing(True)] + list(outcome.commands)
    elif turn.msg.event == "unsubscribe":
        outcome.commands = [SetFollowing(False)] + list(outcome.commands)
    return outcome


def _event_outcome(state: State, turn: Turn) -> Outcome:
    msg = turn.msg
    event = msg.event or ""
    if event == "subscribe":
        return Outcome(State(), texts.WELCOME)
    if event in ("subscribe_scan", "SCAN"):
        scene = msg.key or ""
        if scene.startswith(BIND_PREFIX) and len(scene) > len(BIND_PREFIX):
            bound = f"{turn.facts.staff.role_name} {turn.facts.staff.name}" if turn.facts.staff else None
            command = BindStaff(token=scene[len(BIND_PREFIX):], already_bound_as=bound)
            return Outcome(state, None, [command])
        if turn.is_scan:
            return _scan(state, turn)
        return Outcome(State() if event == "subscribe_scan" else state,
                       texts.WELCOME if event == "subscribe_scan" else texts.GREETING)
    if event == "unsubscribe":
        return Outcome(State(), None)
    if event == "LOCATION":
        if msg.lat is None or msg.lng is None:
            return Outcome(state, None)
        return Outcome(state, None, [RememberLocation(msg.lat, msg.lng, turn.facts.now)])
    if event == "CLICK":
        intent = MENU_KEYS.get((msg.key or "").upper())
        if intent is None:
            return Outcome(state, texts.HINT)
        turn.intent = Intent(intent)
        return _global(state, turn)
    if event in SCAN_EVENTS:
        return _scan(state, turn)
    return Outcome(state, None)  # VIEW, template-send receipts, location_select: nothing to say


def _scan(state: State, turn: Turn) -> Outcome:
    if state.flow == "emergency":
        return Outcome(*urgent.continue_flow(state, turn))
    if state.flow == "report":
        return Outcome(*resident.continue_report(state, turn))
    if turn.facts.scanned_place is None:
        return Outcome(state, texts.SCAN_BAD)
    return Outcome(*resident.start(turn))
