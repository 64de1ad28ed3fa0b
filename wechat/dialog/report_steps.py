"""The report flow's questions: which one comes next, and how each is worded. Pure.

``advance`` asks for the first thing still missing — description, then place — and, when
nothing is, shows the confirmation. Photos are never a question of their own (see docs/chat.md).
"""
from __future__ import annotations

from wechat.dialog import texts
from wechat.dialog.facts import PlaceFact
from wechat.dialog.state import State


def advance(state: State, turn, ack: str | None = None):
    draft = dict(state.draft)
    if not draft.get("description"):
        state = state.copy(step="describe", draft=draft)
    elif not draft.get("place") and not draft.get("place_skipped"):
        recent = turn.facts.recent_place
        draft["offered"] = recent.to_dict() if recent else None
        state = state.copy(step="place", draft=draft, choices=[])
    else:
        state = state.copy(step="confirm", draft=draft, choices=[])
    return state, texts.join(ack, prompt(state)), []


def prompt(state: State) -> str:
    """The question for the current step, asked again after a hint."""
    draft, step = state.draft, state.step
    if step == "describe":
        return texts.VOICE_KEPT if draft.get("voices") and not draft.get("description") else texts.ASK_DESCRIPTION
    if step == "place":
        offered = draft.get("offered")
        if offered:
            return texts.ASK_RECENT.format(place=place_text(PlaceFact.from_dict(offered)))
        return texts.ASK_PLACE
    if step in ("place_choice", "category"):
        head = texts.PLACE_CHOOSE if step == "place_choice" else texts.ASK_CATEGORY
        return texts.join(head, texts.numbered(c["label"] for c in state.choices))
    if step == "duplicate":
        return duplicate_text(state.draft)
    if step == "switch":
        return switch_text(state.draft)
    return summary(draft)


def switch_text(draft: dict) -> str:
    return texts.SWITCH.format(text=texts.short(draft.get("description") or "照片、位置", 20))


def place_text(place: PlaceFact) -> str:
    """The words echoed for a place: 社区 and 网格 first, then the building or map label."""
    if place.outside:
        return texts.OUTSIDE
    area = place.area_text
    label = place.label or ""
    if place.grid_id is None and place.community_name:
        area = texts.CENTRE_ROUTED.format(community=place.community_name).strip("（）")
    elif place.grid_id is None and place.source == "area" and label:  # a street or district named
        return texts.CENTRE_ROUTED.format(community=label).strip("（）")
    if place.community_name and label.startswith(place.community_name):
        label = label[len(place.community_name):].strip()
    if label and label in area:
        label = ""
    return " ".join(p for p in (area, label) if p) or "（位置）"


def summary(draft: dict) -> str:
    place = PlaceFact.from_dict(draft["place"]) if draft.get("place") else None
    category = draft.get("category")
    lines = [texts.SUMMARY_HEAD, f"事情：{texts.short(draft.get('description'), 40)}",
             f"地点：{place_text(place) if place else texts.NO_PLACE}",
             f"类别：{category['label'] if category else texts.OTHER_LABEL}"]
    photos = len(draft.get("photos") or [])
    if photos:
        lines.append(f"照片：{photos}张")
    lines.append(texts.SUMMARY_FOOT)
    lines.append(texts.PHOTO_MORE if not photos else texts.PHOTO_MORE_AGAIN)
    return "\n".join(lines)


def duplicates(draft: dict, include_seen: bool = False) -> list:
    """Open events of the chosen category near the chosen place (gathered with the place)."""
    category = draft.get("category")
    if not draft.get("place") or not category or not category.get("code"):
        return []
    if draft.get("dup_seen") and not include_seen:
        return []
    place = PlaceFact.from_dict(draft["place"])
    return [n for n in place.nearby if n.category_code == category["code"]]


def duplicate_text(draft: dict) -> str:
    nearby = duplicates(draft, include_seen=True)
    if not nearby:
        return summary(draft)
    first = nearby[0]
    return texts.DUPLICATE.format(number=first.number, category=first.category_label, status=first.status_name,
                                  distance=max(10, round(first.distance_m / 10) * 10))
