"""One plain shape for everything WeChat pushes: ``Incoming``.

The callback (wechat/web.py) parses XML with wechatpy and converts it here once; the dialog
engine (wechat/dialog) only ever sees ``Incoming`` — a frozen dataclass that serialises to
JSON — so it stays a pure function, testable without wechatpy, HTTP or Redis.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Incoming:
    openid: str
    kind: str  # text image voice video shortvideo location link event unknown
    create_time: int = 0
    msg_id: int = 0
    text: str | None = None  # text content; voice Recognition; scan_result
    media_id: str | None = None
    pic_url: str | None = None
    voice_format: str | None = None
    lat: float | None = None  # location message / LOCATION event / location_select (as sent)
    lng: float | None = None
    label: str | None = None  # location label / poiname
    url: str | None = None  # link / VIEW
    title: str | None = None
    event: str | None = None  # subscribe subscribe_scan SCAN LOCATION CLICK VIEW scancode_waitmsg …
    key: str | None = None  # CLICK key, subscribe/SCAN scene (qrscene_ prefix removed)
    status: str | None = None  # TEMPLATESENDJOBFINISH status

    def to_dict(self) -> dict:
        # Shallow on purpose (every field is a scalar): asdict's deep copy showed in /wechat profiles.
        return {k: v for k in self.__dataclass_fields__ if (v := getattr(self, k)) is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "Incoming":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def dedupe_key(self) -> str:
        """MsgId for messages; FromUserName + CreateTime + Event for events (DESIGN §4)."""
        if self.kind != "event" and self.msg_id:
            return f"msg:{self.msg_id}"
        return f"evt:{self.openid}:{self.create_time}:{self.event or self.kind}"


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def from_wechatpy(msg) -> Incoming:
    """Convert a wechatpy parsed message or event into ``Incoming``."""
    data = getattr(msg, "_data", {}) or {}
    base = dict(openid=str(msg.source or ""), create_time=int(data.get("CreateTime") or 0),
                msg_id=int(getattr(msg, "id", 0) or 0))
    kind = msg.type
    if kind == "text":
        return Incoming(kind="text", text=msg.content, **base)
    if kind == "image":
        return Incoming(kind="image", media_id=msg.media_id, pic_url=msg.image, **base)
    if kind == "voice":
        return Incoming(kind="voice", media_id=msg.media_id, voice_format=msg.format,
                        text=(msg.recognition or None), **base)
    if kind in ("video", "shortvideo"):
        return Incoming(kind=kind, media_id=msg.media_id, **base)
    if kind == "location":
        return Incoming(kind="location", lat=_float(msg.location_x), lng=_float(msg.location_y),
                        label=msg.label, **base)
    if kind == "link":
        return Incoming(kind="link", title=msg.title, text=msg.description, url=msg.url, **base)
    if kind == "event":
        return _event(msg, data, base)
    return Incoming(kind="unknown", text=str(data.get("MsgType") or ""), **base)


def _event(msg, data: dict, base: dict) -> Incoming:
    event = msg.event
    base["msg_id"] = 0
    if event in ("subscribe_scan", "scan"):
        scene = str(getattr(msg, "scene_id", "") or "")
        return Incoming(kind="event", event="subscribe_scan" if event == "subscribe_scan" else "SCAN",
                        key=scene, **base)
    if event == "subscribe":
        return Incoming(kind="event", event="subscribe", **base)
    if event == "unsubscribe":
        return Incoming(kind="event", event="unsubscribe", **base)
    if event == "location":
        return Incoming(kind="event", event="LOCATION", lat=_float(msg.latitude), lng=_float(msg.longitude), **base)
    if event == "click":
        return Incoming(kind="event", event="CLICK", key=msg.key, **base)
    if event == "view":
        return Incoming(kind="event", event="VIEW", url=msg.url, **base)  # wechatpy: EventKey is .url
    if event in ("scancode_push", "scancode_waitmsg"):
        return Incoming(kind="event", event=event, key=msg.key, text=msg.scan_result, **base)
    if event == "location_select":
        return Incoming(kind="event", event="location_select", key=msg.key, lat=_float(msg.location_x),
                        lng=_float(msg.location_y), label=msg.poiname or msg.label, **base)
    if event == "templatesendjobfinish":
        return Incoming(kind="event", event="TEMPLATESENDJOBFINISH", status=msg.status,
                        msg_id=int(getattr(msg, "id", 0) or 0), **{k: v for k, v in base.items() if k != "msg_id"})
    return Incoming(kind="event", event=str(data.get("Event") or event), key=str(data.get("EventKey") or "") or None,
                    **base)
