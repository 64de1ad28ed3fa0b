"""Staff in chat: binding, 待办, 接单/办结/退回/上报 N, and 即报即办.

N is the full number (20261126-0003) or the short daily sequence shown in 待办 ([3]); the
shell resolves it to a ``TaskFact`` within the staff member's own tasks, so an event outside
their scope is simply “not found”. 办结 in their own grid closes in one step (the workflow
decides), so closing an event from chat takes two actions: 接单 N, then 办结 N with a photo —
and after 接单, two messages in any order: "办结 N 已清理干净" + a photo, a photo + "办结 N"
(or, with one case in hand, + a sentence), or "办结 N" + a photo (the sentence is optional).
A photo that follows a 办结 or a 核查 is added to that case; it never starts a resident report.
"""
from __future__ import annotations

from wechat.dialog import texts
from wechat.dialog.commands import BindStaff, QuickRecord, Result, StaffAction
from wechat.dialog.intents import TEXT_LIMIT, meaningful
from wechat.dialog.state import State

MAX_PHOTOS = 9
WORDS = {"accept": "接单", "resolve": "办结", "return": "退回", "escalate": "上报"}


def _task_line(task) -> str:
    parts = [f"[{task.short}] {texts.short(task.description, 14)}"]
    if task.place:
        parts.append(task.place)
    if task.deadline:
        parts.append(task.deadline + ("，已超时" if task.overdue else ""))
    return " · ".join(parts)


def _first_short(facts) -> int | None:
    tasks = facts.tasks_todo + facts.tasks_doing
    return tasks[0].short if tasks else None


def todo(turn) -> str:
    facts = turn.facts
    if facts.staff is None:
        return texts.NOT_STAFF
    if not facts.tasks_todo and not facts.tasks_doing:
        return texts.NO_TASKS
    lines = []
    if facts.tasks_todo:
        lines += [texts.TODO_HEAD] + [_task_line(t) for t in facts.tasks_todo]
    if facts.tasks_doing:
        lines += [texts.DOING_HEAD] + [_task_line(t) for t in facts.tasks_doing]
    if facts.tasks_more:
        lines.append(texts.TODO_MORE.format(n=facts.tasks_more))
    lines.append(texts.TODO_FOOT.format(n=_first_short(facts)))
    return "\n".join(lines)


def command(state: State, turn) -> tuple[State, str | None, list]:
    """接单 / 办结 / 退回 / 上报 N: a plain refusal when it cannot be done; nothing changes then."""
    intent, facts = turn.intent, turn.facts
    staff = facts.staff
    if staff is None:
        return state, texts.NOT_STAFF, []
    word = WORDS[intent.action]
    if not intent.ref:
        return state, texts.NEED_REF.format(word=word), []
    task = facts.task
    if task is None:
        return state, texts.TASK_NOT_FOUND.format(ref=intent.ref), []
    carried = tuple(state.draft.get("photos") or ()) if state.flow == "resolve" else ()
    if intent.action == "accept":
        return state, None, [StaffAction(staff.id, task.number, "accept")]
    if intent.action in ("return", "escalate"):
        if not intent.arg:
            return state, texts.NEED_REASON.format(word=word, short=task.short), []
        return state, None, [StaffAction(staff.id, task.number, intent.action, note=intent.arg[:TEXT_LIMIT])]
    return _start_resolve(state, turn, task, carried)


def _start_resolve(state: State, turn, task, photos: tuple = ()):
    staff = turn.facts.staff
    if task.status == "assigned":
        return state, texts.ACCEPT_FIRST.format(short=task.short), []
    if task.status == "resolved" and task.own_grid:
        after = State(flow="resolve", step="after", draft={"number": task.number, "photos": []})
        return after, None, [StaffAction(staff.id, task.number, "verify", wechat_media_ids=tuple(photos))]
    if task.status != "processing":
        return state, texts.CANNOT_RESOLVE.format(status=task.status_name), []
    note = turn.intent.arg[:TEXT_LIMIT] if turn.intent.arg else None
    draft = {"number": task.number, "short": task.short, "photo_required": task.photo_required,
             "note": note, "photos": list(photos)}
    new = State(flow="resolve", step="collect", draft=draft)
    if _resolve_ready(draft):
        return _finish_resolve(new, staff.id)
    if note:
        return new, texts.ASK_RESOLVE_PHOTO, []
    return new, texts.ASK_RESOLVE.format(number=task.number, description=texts.short(task.description, 14)), []


def photo_first(state: State, turn):
    """A photo from staff with cases in hand, before any 办结: keep it for the one they mean."""
    facts, staff = turn.facts, turn.facts.staff
    doing = [t for t in facts.tasks_doing if t.status == "processing"]
    draft = {"photos": [turn.msg.media_id], "photo_required": True, "note": None}
    if len(doing) == 1:
        task = doing[0]
        draft.update(number=task.number, short=task.short, photo_required=task.photo_required)
        return (State(flow="resolve", step="collect", draft=draft),
                texts.PHOTO_FOR_TASK.format(short=task.short, description=texts.short(task.description, 14)), [])
    lines = [texts.PHOTO_WHICH_TASK] + [_task_line(t) for t in doing]
    return State(flow="resolve", step="which", draft=draft), "\n".join(lines), []


def start_quick(state: State, turn):
    staff = turn.facts.staff
    if staff is None:
        return state, texts.NOT_STAFF, []
    msg = turn.msg
    key = f"wechat-quick:{msg.openid}:{msg.create_time}:{msg.msg_id or msg.kind}"[:128]
    description = turn.intent.arg if turn.intent.arg and meaningful(turn.intent.arg) else None
    new = State(flow="quick", step="collect",
                draft={"key": key, "description": description, "photos": [], "place": None})
    return _next_quick(new, staff.id)


def continue_flow(state: State, turn):
    staff = turn.facts.staff
    if staff is None:  # unbound meanwhile
        return State(), texts.NOT_STAFF, []
    if state.flow == "resolve":
        return _continue_resolve(state, turn, staff.id)
    return _continue_quick(state, turn, staff.id)


# ------------------------------------------------------------------ 办结 with photo and note


def _resolve_prompt(draft) -> str:
    if draft["photo_required"] and not draft["photos"]:
        return texts.ASK_RESOLVE_PHOTO if draft.get("note") else texts.ASK_RESOLVE.format(
            number=draft["number"], description="")
    return texts.ASK_RESOLVE_NOTE


def _resolve_ready(draft) -> bool:
    """A photo is enough (the sentence is optional); without one, a sentence where none is needed."""
    return bool(draft["photos"]) or (bool(draft.get("note")) and not draft["photo_required"])


def _continue_resolve(state: State, turn, staff_id: int):
    draft = dict(state.draft)
    intent = turn.intent
    if state.step == "after":  # after 办结 / 核查: a photo belongs to that case
        if turn.is_media and turn.msg.media_id:
            return state, None, [StaffAction(staff_id, draft["number"], "comment", note=texts.PHOTO_ADDED_STAFF,
                                             wechat_media_ids=(turn.msg.media_id,))]
        return state, texts.HINT, []
    if state.step == "which":  # a photo came first and several cases are in hand
        if turn.is_media and turn.msg.media_id:
            draft["photos"] = (draft["photos"] + [turn.msg.media_id])[:MAX_PHOTOS]
            return state.copy(draft=draft), texts.PHOTO_WHICH_TASK, []
        return state, texts.PHOTO_WHICH_TASK, []
    if turn.is_media and turn.msg.media_id:
        if len(draft["photos"]) < MAX_PHOTOS:
            draft["photos"] = draft["photos"] + [turn.msg.media_id]
        if draft.get("photos") and draft.get("note"):
            return _finish_resolve(state.copy(draft=draft), staff_id)
        if state.draft.get("photos"):  # a second photo before the sentence: keep collecting
            return state.copy(draft=draft), texts.ASK_RESOLVE_NOTE, []
    elif turn.text and intent.name == "text" and meaningful(turn.text):
        draft["note"] = turn.text[:TEXT_LIMIT]
    elif intent.name == "skip" and draft["photo_required"]:
        return state, texts.RESOLVE_SKIP_PHOTO, []
    elif intent.name not in ("done", "skip"):
        return state, texts.join(texts.HINT, _resolve_prompt(draft)), []
    new = state.copy(draft=draft)
    if _resolve_ready(draft):
        return _finish_resolve(new, staff_id)
    return new, _resolve_prompt(draft), []


def _finish_resolve(state: State, staff_id: int):
    draft = state.draft
    command = StaffAction(staff_id, draft["number"], "resolve", note=draft.get("note") or texts.RESOLVED_BY_PHOTO,
                          wechat_media_ids=tuple(draft["photos"]))
    return state.copy(step="submitting"), None, [command]


# ------------------------------------------------------------------ 即报即办


def _continue_quick(state: State, turn, staff_id: int):
    draft = dict(state.draft)
    intent, msg = turn.intent, turn.msg
    if turn.is_media and msg.media_id:
        draft["photos"] = (draft["photos"] + [msg.media_id])[:MAX_PHOTOS]
    elif msg.kind == "location":
        place = turn.facts.message_place
        if place is None:
            reason = texts.PLACE_BAD.format(reason=turn.facts.place_error or "位置不完整")
            return state, texts.join(reason, texts.ASK_QUICK_PLACE), []
        draft["place"] = {"lat": place.lat, "lng": place.lng, "datum": place.datum}
    elif intent.name == "skip":
        if not draft.get("description"):
            return state, texts.join(texts.HINT, texts.ASK_QUICK), []
        if not draft["photos"] and not draft.get("photo_skipped"):
            draft["photo_skipped"] = True
        else:
            draft["place_skipped"] = True
    elif turn.text and intent.name == "text" and meaningful(turn.text) and not draft.get("description"):
        draft["description"] = turn.text
    else:
        return state, texts.join(texts.HINT, _quick_prompt(draft)), []
    return _next_quick(state.copy(draft=draft), staff_id)


def _quick_prompt(draft) -> str | None:
    if not draft.get("description"):
        return texts.ASK_QUICK
    if not draft["photos"] and not draft.get("photo_skipped"):
        return texts.ASK_QUICK_PHOTO
    if not draft.get("place") and not draft.get("place_skipped"):
        return texts.ASK_QUICK_PLACE
    return None


def _next_quick(state: State, staff_id: int):
    question = _quick_prompt(state.draft)
    if question:
        return state, question, []
    draft = state.draft
    place = draft.get("place") or {}
    command = QuickRecord(staff_id=staff_id, client_key=draft["key"], description=draft["description"],
                          lat=place.get("lat"), lng=place.get("lng"), datum=place.get("datum", "wgs84"),
                          wechat_media_ids=tuple(draft["photos"]))
    return state.copy(step="submitting"), None, [command]


# ------------------------------------------------------------------ results


def conclude(state: State, command, result: Result) -> tuple[State, str]:
    if isinstance(command, BindStaff):
        if result.ok:
            return state, texts.BOUND.format(**result.data)
        if command.already_bound_as and result.code == "bind_token_invalid":
            return state, texts.ALREADY_BOUND.format(label=command.already_bound_as)
        return state, texts.REFUSED.format(message=result.message)
    if isinstance(command, QuickRecord):
        return _conclude_quick(state, result)
    if state.flow == "resolve" and state.step == "submitting":
        state = State()
        if result.ok and command.action == "resolve":  # photos that follow go to this case
            state = State(flow="resolve", step="after", draft={"number": command.number, "photos": []})
    if not result.ok:
        return (State() if state.step == "after" else state), texts.REFUSED.format(message=result.message)
    number, data = command.number, result.data
    if command.action == "comment":
        return state, texts.PHOTO_ADDED_TO.format(number=number)
    if command.action == "accept":
        return state, texts.ACCEPTED.format(number=number, short=data.get("short", number))
    if command.action == "resolve":
        return state, (texts.CLOSED if data.get("status") == "closed" else texts.RESOLVED).format(number=number)
    if command.action == "verify":
        return state, texts.VERIFIED.format(number=number)
    if command.action == "return":
        return state, texts.RETURNED.format(number=number)
    return state, texts.ESCALATED.format(number=number)


def _conclude_quick(state: State, result: Result) -> tuple[State, str]:
    if result.ok:
        return State(), texts.QUICK_DONE.format(number=result.data["number"])
    draft = dict(state.draft)
    message = texts.REFUSED.format(message=result.message)
    if result.code in ("out_of_area", "bad_coordinates"):
        draft.update(place=None, place_skipped=False)
    elif result.code == "photo_required":
        draft.update(photo_skipped=False)
    else:
        return State(), message
    return state.copy(step="collect", draft=draft), texts.join(message, _quick_prompt(draft))
