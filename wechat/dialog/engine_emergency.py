"""Emergencies first (DESIGN §11): danger happening now is answered before anything else.

A text (or what voice recognition heard) that ``backend.emergency`` recognises is answered in
its first line with the number to call, and filed at once — no question about the category,
no confirmation — as urgent, with whatever the conversation already knows: the draft's words,
place and photos, or else the resident's location from the last minutes (not confirmed, and
said so). Staff up to the street centre are told at once by the workers.

Then the flow ``emergency`` keeps the report's number for a while, so what the resident sends
next lands on that report instead of starting another: a location, a building QR or a typed
address gives it its place (and routes it on from the centre to the grid: action ``locate``);
a photo or a few more words are added to it.
"""
from __future__ import annotations

from backend.emergency import recognise
from wechat.dialog import texts
from wechat.dialog.commands import AddToReport, Result, SubmitReport
from wechat.dialog.facts import PlaceFact
from wechat.dialog.intents import TEXT_LIMIT, meaningful
from wechat.dialog.report_steps import place_text
from wechat.dialog.state import State

# Intents that are commands even when their words sound alarming.
COMMANDS = ("cancel", "progress", "query", "withdraw", "rate", "todo", "staff", "quick", "choice", "yes", "no",
            "skip", "done")


def check(state: State, turn) -> tuple[State, str, list] | None:
    """The emergency path for this message, or None when it describes no danger now."""
    if not turn.text or turn.intent.name in COMMANDS or state.flow in ("resolve", "quick", "emergency"):
        return None
    danger = recognise(turn.text)
    if danger is None:
        return None
    return file_now(state, turn, danger)


def file_now(state: State, turn, danger) -> tuple[State, str, list]:
    draft = state.draft if state.flow == "report" else {}
    earlier = draft.get("description")
    description = f"{earlier}；{turn.text}" if earlier and turn.text not in earlier else turn.text
    place = PlaceFact.from_dict(draft["place"]) if draft.get("place") else None
    confirmed = place is not None
    if place is None and turn.facts.recent_place is not None:
        place = turn.facts.recent_place  # where the phone was minutes ago: a start, said to be unconfirmed
    msg = turn.msg
    key = draft.get("key") or f"wechat:{msg.openid}:{msg.create_time}:{msg.msg_id or msg.kind}"[:128]
    voices = list(draft.get("voices") or [])
    if msg.kind == "voice" and msg.media_id and msg.media_id not in voices:
        voices.append(msg.media_id)
    command = SubmitReport(
        client_key=key, description=description[:TEXT_LIMIT], category_code=None,
        lat=place.lat if place else None, lng=place.lng if place else None,
        datum=place.datum if place else "wgs84", address=(place.label or None) if place else None,
        building_unit_id=place.building_unit_id if place else None, located=confirmed,
        grid_id=place.grid_id if place and place.lat is None and not place.building_unit_id else None,
        wechat_media_ids=tuple(draft.get("photos") or ()) + tuple(voices),
        emergency=True,
    )
    new = State(flow="emergency", step="filing",
                draft={"place_known": place is not None, "place_confirmed": confirmed,
                       "place": place.to_dict() if place else None})
    return new, danger.advice, [command]


def conclude(state: State, command, result: Result) -> tuple[State, str]:
    """The lines after the number to call: filed (its number, who was told), and what next."""
    if isinstance(command, AddToReport):
        return _added(state, command, result)
    if not result.ok:
        return State(), texts.join(texts.SUBMIT_FAILED.format(message=result.message), texts.EMERGENCY_RETRY)
    data = result.data
    draft = dict(state.draft, number=data["number"])
    told = texts.EMERGENCY_TOLD_GRID if data.get("grid_name") else texts.EMERGENCY_TOLD_CENTRE
    lines = [texts.EMERGENCY_FILED.format(number=data["number"], told=told)]
    if not state.draft.get("place_known"):
        lines.append(texts.EMERGENCY_ASK_PLACE)
        return state.copy(step="place", draft=draft), texts.join(*lines)
    if not state.draft.get("place_confirmed"):
        place = PlaceFact.from_dict(state.draft["place"])
        lines.append(texts.EMERGENCY_RECENT.format(place=place_text(place)))
        return state.copy(step="place", draft=draft), texts.join(*lines)
    lines.append(texts.EMERGENCY_MORE)
    return state.copy(step="more", draft=draft), texts.join(*lines)


def continue_flow(state: State, turn) -> tuple[State, str | None, list]:
    """A message after the emergency was filed: its place, a photo, or more words."""
    number = state.draft.get("number")
    if not number:  # the filing itself failed; start over
        return State(), texts.HINT, []
    facts = turn.facts
    place = None
    if turn.msg.kind == "location":
        place = facts.message_place
        if place is None:
            return state, texts.PLACE_BAD.format(reason=facts.place_error or "位置不完整"), []
    elif turn.is_scan:
        place = facts.scanned_place
        if place is None:
            return state, texts.SCAN_BAD, []
    elif turn.text and state.step == "place" and len(facts.address_matches) == 1 and not facts.address_ask:
        place = facts.address_matches[0]
    if place is not None:
        return state, None, [AddToReport(number, place=place.to_dict())]
    if turn.is_media and turn.msg.media_id:
        return state, None, [AddToReport(number, wechat_media_ids=(turn.msg.media_id,))]
    if turn.msg.kind == "voice" and turn.msg.media_id and not turn.text:
        return state, None, [AddToReport(number, wechat_media_ids=(turn.msg.media_id,))]
    if turn.text and meaningful(turn.text):
        media = (turn.msg.media_id,) if turn.msg.kind == "voice" and turn.msg.media_id else ()
        return state, None, [AddToReport(number, note=turn.text[:TEXT_LIMIT], wechat_media_ids=media)]
    return state, texts.EMERGENCY_MORE, []


def _added(state: State, command: AddToReport, result: Result) -> tuple[State, str]:
    if not result.ok:
        return state, texts.REFUSED.format(message=result.message)
    if command.place:
        where = result.data.get("grid_name") or "综治中心"
        return state.copy(step="more"), texts.EMERGENCY_PLACED.format(
            place=place_text(PlaceFact.from_dict(command.place)), where=where)
    if command.note:
        return state, texts.EMERGENCY_NOTED.format(number=command.number)
    return state, texts.EMERGENCY_PHOTO.format(number=command.number)
