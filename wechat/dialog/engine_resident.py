"""The resident's report flow, gathering: description, place, photos and voice notes.

Any order works — a photo, a location or a building QR may come first — and each answer
fills one field of the draft; ``report_steps.advance`` then asks for the first thing still
missing. The confirmation and what follows it live in engine_confirm.
"""
from __future__ import annotations

from backend.placenames import MAX_CHOICES
from wechat.dialog import engine_confirm as confirm
from wechat.dialog import texts
from wechat.dialog.facts import PlaceFact
from wechat.dialog.intents import meaningful
from wechat.dialog.report_steps import advance, place_text, prompt, switch_text
from wechat.dialog.state import State

MAX_PHOTOS = 20  # bounds the state; a chat report never needs more
MAX_PLACE_CHOICES = MAX_CHOICES

conclude = confirm.conclude


def has_content(state: State) -> bool:
    draft = state.draft
    return bool(draft.get("description") or draft.get("photos") or draft.get("voices") or draft.get("place"))


def is_description(turn) -> bool:
    return meaningful(turn.text, bool(turn.facts.suggestions))


def _new_draft(turn) -> State:
    msg = turn.msg
    key = f"wechat:{msg.openid}:{msg.create_time}:{msg.msg_id or msg.event or msg.kind}"[:128]
    return State(flow="report", step="describe", draft={"key": key, "photos": [], "voices": []})


def _keep_voice(state: State, turn) -> State:
    """Every voice note in a report goes to the staff too: they can hear what recognition missed."""
    if turn.msg.kind != "voice" or not turn.msg.media_id:
        return state
    voices = list(state.draft.get("voices") or [])
    if turn.msg.media_id not in voices:
        voices.append(turn.msg.media_id)
    return state.copy(draft=dict(state.draft, voices=voices))


def start(turn) -> tuple[State, str | None, list]:
    """Begin a report from whatever this message carries (or from nothing: the menu)."""
    state = _keep_voice(_new_draft(turn), turn)
    answer = _by_message_kind(state, turn)
    if answer is not None:
        return answer
    if turn.text and turn.intent.name != "report":
        return _set_description(state, turn)
    return advance(state, turn)


def _by_message_kind(state: State, turn) -> tuple[State, str | None, list] | None:
    """A photo, a place (location or building QR) or a voice note without recognised text
    is handled the same whether it starts a report or arrives mid-way; None for the rest."""
    if turn.is_media:
        return _photo(state, turn)
    if turn.msg.kind == "location" or turn.is_scan:
        return _place_message(state, turn)
    if turn.msg.kind == "voice" and not turn.text:
        return _voice_kept(state, turn)
    return None


def ask_switch(state: State) -> tuple[State, str, list]:
    """A new report while one is open: keep it or start again? Never drop it silently."""
    return state.copy(step="switch", resume_step=state.step), switch_text(state.draft), []


def continue_report(state: State, turn) -> tuple[State, str | None, list]:
    step = state.step
    state = _keep_voice(state, turn)
    if step == "switch":
        return _switch_answer(state, turn)
    answer = _by_message_kind(state, turn)
    if answer is not None:
        return answer
    if not turn.text:
        return state, texts.join(texts.HINT, prompt(state)), []
    if step == "place":
        return _place_text(state, turn)
    if step == "place_choice":
        return _place_choice(state, turn)
    if step in confirm.STEPS:
        return confirm.answer(state, turn)
    return _describe_text(state, turn)


# ------------------------------------------------------------------ description, photos, voice


def _set_description(state: State, turn):
    if not is_description(turn):
        return state, texts.join(texts.DESCRIBE_AGAIN if not state.draft.get("voices") else None,
                                 texts.VOICE_KEPT if state.draft.get("voices") else None), []
    draft = dict(state.draft, description=turn.text)
    draft["suggestions"] = [{"code": c.code, "label": c.label} for c in turn.facts.suggestions[:3]]
    draft["category"] = draft["suggestions"][0] if draft["suggestions"] else None
    heard = texts.HEARD.format(text=texts.short(turn.text, 60)) if turn.heard else None
    return advance(state.copy(draft=draft), turn, heard)


def _describe_text(state: State, turn):
    if turn.intent.name == "skip" and state.draft.get("voices"):
        draft = dict(state.draft, description=texts.VOICE_ONLY, suggestions=[], category=None)
        return advance(state.copy(draft=draft), turn)
    return _set_description(state, turn)


def _photo(state: State, turn):
    photos = list(state.draft.get("photos") or [])
    if len(photos) >= MAX_PHOTOS:
        return state, texts.join(texts.PHOTO_LIMIT.format(n=len(photos)), prompt(state)), []
    if turn.msg.media_id:
        photos.append(turn.msg.media_id)
    state = state.copy(draft=dict(state.draft, photos=photos))
    if state.step == "confirm":
        return state, texts.PHOTO_RECEIVED.format(n=len(photos)), []
    return state, texts.join(texts.PHOTO_FIRST, prompt(state)), []


def _voice_kept(state: State, turn):
    if not state.draft.get("description"):
        return state.copy(step="describe"), texts.VOICE_KEPT, []
    return state, texts.join(texts.VOICE_RECEIVED, prompt(state)), []


# ------------------------------------------------------------------ place


def _place_message(state: State, turn):
    facts = turn.facts
    place = facts.scanned_place if turn.is_scan else facts.message_place
    if place is None:
        reason = texts.SCAN_BAD if turn.is_scan else texts.PLACE_BAD.format(reason=facts.place_error or "位置不完整")
        return state, texts.join(reason, prompt(state)), []
    return use_place(state, turn, place)


def use_place(state: State, turn, place: PlaceFact):
    draft = dict(state.draft, place=place.to_dict(), place_skipped=False, offered=None, dup_seen=False)
    state = state.copy(draft=draft, choices=[])
    ack = texts.HEARD.format(text=texts.short(turn.text, 40)) if turn.heard else None
    if not draft.get("description"):
        ack = texts.join(ack, texts.PLACE_FIRST.format(place=place_text(place)))
    return advance(state, turn, ack)


def _place_text(state: State, turn):
    """A typed or spoken address, “1” for the offered recent location, or 跳过."""
    intent, facts = turn.intent, turn.facts
    offered = state.draft.get("offered")
    if offered and (intent.name == "yes" or (intent.name == "choice" and intent.number == 1)):
        return use_place(state, turn, PlaceFact.from_dict(offered))
    if intent.name == "skip":
        return advance(state.copy(draft=dict(state.draft, place=None, place_skipped=True, offered=None)), turn)
    matches = facts.address_matches
    if len(matches) == 1 and not facts.address_ask:
        return use_place(state, turn, matches[0])
    if len(matches) > MAX_PLACE_CHOICES:
        return state, texts.PLACE_TOO_MANY.format(text=texts.short(turn.text, 20)), []
    if matches:
        choices = [{"label": place_text(m), "place": m.to_dict()} for m in matches]
        new = state.copy(step="place_choice", choices=choices)
        return new, prompt(new), []
    if meaningful(turn.text):
        return state, texts.PLACE_NOT_FOUND.format(text=texts.short(turn.text, 20)), []
    return state, texts.join(texts.HINT, prompt(state)), []


def _place_choice(state: State, turn):
    number = turn.intent.number if turn.intent.name == "choice" else None
    if number and 1 <= number <= len(state.choices):
        return use_place(state, turn, PlaceFact.from_dict(state.choices[number - 1]["place"]))
    if turn.facts.address_matches or turn.intent.name == "skip":
        return _place_text(state.copy(step="place"), turn)
    return state, texts.join(texts.HINT, prompt(state)), []


def _switch_answer(state: State, turn):
    intent = turn.intent
    number = intent.number if intent.name == "choice" else (1 if intent.name == "yes" else None)
    if number == 1:
        new = state.copy(step=state.resume_step or "describe", resume_step=None)
        return new, prompt(new), []
    if number == 2:
        return _new_draft(turn), texts.ASK_DESCRIPTION, []
    return state, texts.join(texts.HINT, prompt(state)), []
