"""The end of a report: confirmation, category choice, the nearby-duplicate offer, results.

Confirmation echoes 社区/网格 and category: ``1``/确认/是 submits, ``2`` changes the place,
``3`` the category. A photo sent here is just counted (“收到第1张照片…回复 1 确认上报”).
If an open event of the same category is near, ``1`` first offers 关注这件 or 继续上报.
"""
from __future__ import annotations

from wechat.dialog import texts
from wechat.dialog.commands import FollowEvent, Result, SubmitReport
from wechat.dialog.facts import PlaceFact
from wechat.dialog.intents import TEXT_LIMIT, meaningful
from wechat.dialog.report_steps import advance, duplicate_text, duplicates, prompt, summary
from wechat.dialog.state import State

STEPS = ("confirm", "category", "duplicate")


def answer(state: State, turn):
    if state.step == "category":
        return _category_choice(state, turn)
    if state.step == "duplicate":
        return _duplicate_choice(state, turn)
    return _confirm_text(state, turn)


def _chosen(intent) -> int | None:
    if intent.name == "choice":
        return intent.number
    return 1 if intent.name == "yes" else None


def _confirm_text(state: State, turn):
    intent = turn.intent
    number = _chosen(intent)
    if number == 1:
        return _confirm(state)
    if number == 2:
        return advance(state.copy(draft=dict(state.draft, place=None, place_skipped=False)), turn)
    if number == 3:
        return _category_menu(state, turn)
    if intent.name in ("done", "skip"):
        return state, summary(state.draft), []
    if intent.name == "text" and meaningful(turn.text, bool(turn.facts.suggestions)):
        description = f"{state.draft['description']}；{turn.text}"[:TEXT_LIMIT]
        state = state.copy(draft=dict(state.draft, description=description))
        return state, texts.join(texts.SUPPLEMENT, summary(state.draft)), []
    return state, texts.CONFIRM_AGAIN, []


def _confirm(state: State):
    nearby = duplicates(state.draft)
    if nearby:
        new = state.copy(step="duplicate", choices=[{"label": "关注这件", "number": nearby[0].number}])
        return new, duplicate_text(new.draft), []
    return _submit(state)


def _submit(state: State):
    draft = state.draft
    place = PlaceFact.from_dict(draft["place"]) if draft.get("place") else None
    category = draft.get("category") or {}
    command = SubmitReport(
        client_key=draft["key"], description=draft["description"], category_code=category.get("code"),
        lat=place.lat if place else None, lng=place.lng if place else None,
        datum=place.datum if place else "wgs84", address=(place.label or None) if place else None,
        building_unit_id=place.building_unit_id if place else None, located=place is not None,
        grid_id=place.grid_id if place and place.lat is None and not place.building_unit_id else None,
        wechat_media_ids=tuple(draft.get("photos") or ()) + tuple(draft.get("voices") or ()),
    )
    return state.copy(step="submitting"), None, [command]


def _duplicate_choice(state: State, turn):
    number = _chosen(turn.intent)
    if number == 1:
        return state.copy(step="following"), None, [FollowEvent(state.choices[0]["number"])]
    if number == 2:
        return _submit(state.copy(draft=dict(state.draft, dup_seen=True)))
    return state, texts.join(texts.HINT, duplicate_text(state.draft)), []


# ------------------------------------------------------------------ category


def _other(categories) -> dict:
    leaves = [c for c in categories if c.major]
    other = next((c for c in leaves if c.code == "9999"), None) or next(
        (c for c in leaves if c.label.startswith("其他")), None)
    return {"code": other.code if other else None, "label": texts.OTHER, "kind": "pick"}


def _category_menu(state: State, turn, level: str = "suggested", major: str | None = None):
    """Suggestions + 其他 + 看全部类别; 全部 lists the 大类, a 大类 lists its 小类."""
    categories = turn.facts.categories
    suggestions = state.draft.get("suggestions") or []
    if level == "suggested" and not suggestions:
        level = "majors"
    if level == "minors":
        choices = [{"code": c.code, "label": c.label, "kind": "pick"} for c in categories if c.major == major]
    elif level == "majors":
        choices = [{"code": c.code, "label": c.label, "kind": "major"} for c in categories if not c.major]
        choices = [c for c in choices if any(m.major == c["code"] for m in categories)]
    else:
        choices = [dict(c, kind="pick") for c in suggestions]
    if level != "minors":
        choices.append(_other(categories))
    if level == "suggested" and categories:
        choices.append({"label": texts.ALL_CATEGORIES, "kind": "all"})
    new = state.copy(step="category", choices=choices)
    return new, prompt(new), []


def _category_choice(state: State, turn):
    number = turn.intent.number if turn.intent.name == "choice" else None
    if not number or not 1 <= number <= len(state.choices):
        return state, texts.join(texts.HINT, prompt(state)), []
    choice = state.choices[number - 1]
    if choice["kind"] == "all":
        return _category_menu(state, turn, "majors")
    if choice["kind"] == "major":
        return _category_menu(state, turn, "minors", choice["code"])
    label = texts.OTHER_LABEL if choice["label"] == texts.OTHER or not choice.get("code") else choice["label"]
    draft = dict(state.draft, category={"code": choice.get("code"), "label": label}, dup_seen=False)
    return state.copy(step="confirm", draft=draft, choices=[]), summary(draft), []


# ------------------------------------------------------------------ results


def conclude(state: State, command, result: Result) -> tuple[State, str]:
    if isinstance(command, FollowEvent):
        if result.ok:
            return State(), texts.FOLLOWED.format(number=command.number)
        back = state.copy(step="confirm", draft=dict(state.draft, dup_seen=True), choices=[])
        return back, texts.join(texts.REFUSED.format(message=result.message), texts.SUMMARY_FOOT)
    if not result.ok:
        back = state.copy(step="confirm", choices=[])
        return back, texts.join(texts.SUBMIT_FAILED.format(message=result.message), texts.CONFIRM_AGAIN)
    data = result.data
    if data.get("grid_name"):
        where = texts.SUBMITTED_GRID.format(grid=data["grid_name"])
    elif command.lat is not None:
        where = texts.SUBMITTED_CENTRE
    elif command.located:
        where = texts.SUBMITTED_CENTRE_AREA
    else:
        where = texts.SUBMITTED_NOPLACE
    return State(), texts.join(texts.SUBMITTED.format(number=data["number"], where=where),
                               texts.PHONE_OFFER if data.get("offer_phone") else None)
