"""The chat simulator: ``/_sandbox/chat`` lets a person play a follower of the account.

The browser only says *what* the person did; this server builds the push XML, encrypts and
signs it exactly as WeChat does (safe mode) and POSTs it to the project's ``/wechat``, then
decrypts the reply — so the browser needs no crypto and the callback sees real traffic.
"""
from __future__ import annotations

import math

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from sandbox import wire
from sandbox.control import BadRequest
from sandbox.state import SandboxState
from sandbox.validate import OPENID_RE
from sandbox.world import MENU_KEYS, load_world
from wechat.menu import click_buttons

bp = Blueprint("sandbox_simulator", __name__, url_prefix="/_sandbox")
MAX_TEXT = 2000
# A minimal AMR-NB file (header + one silent frame) for voice notes sent without a recording.
SILENT_AMR = b"#!AMR\n" + b"\x3c" + bytes(31)


def _state() -> SandboxState:
    return current_app.extensions["sandbox.state"]


@bp.get("/chat")
def chat_page():
    return render_template("chat.html")


@bp.get("/chat/world")
def world():
    """Seeded staff (by role), grid boundaries, building units, the menu and the callback URL."""
    state = _state()
    data = load_world()
    data["menu"] = _menu_items(state.menu) or [{"key": k, "name": n} for k, n in MENU_KEYS]
    data["callback_url"] = state.config["callback_url"]
    data["location_datum"] = state.settings.wechat_location_datum
    return jsonify(data)


def _menu_items(menu: dict | None) -> list[dict]:
    """CLICK buttons of a menu created through menu/create (flattened)."""
    return [{"key": key, "name": name} for key, name in click_buttons(menu or {})]


@bp.get("/media/<media_id>")
def media(media_id: str):
    """The picture behind a media_id, for the chat bubble (no token: a simulator convenience)."""
    item = _state().media.get(media_id)
    if item is None:
        return jsonify({"error": {"code": "not_found", "message": "unknown media_id"}}), 404
    return Response(item.content, content_type=item.content_type)


@bp.post("/chat/send")
def send():
    """{"openid", "kind", …} → push to /wechat → {"sent": xml, "status", "reply", "problems"}."""
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    openid = data.get("openid")
    if not isinstance(openid, str) or not OPENID_RE.match(openid):
        raise BadRequest("openid must be 1–64 characters without spaces, slashes or markup")
    state = _state()
    msg_type, fields, is_message = _build(state, data)
    create_time = state.create_time(openid)
    msg_id = (create_time << 20) | (state.new_msgid() & 0xFFFFF) if is_message else None  # unique, 64-bit like WeChat's
    plain = wire.message_xml(openid, create_time, msg_type, fields, msg_id)
    _track_subscription(state, openid, data["kind"])
    s = state.settings
    delivery = wire.deliver(state.config["callback_url"], plain, token=s.wechat_token, aes_key=s.wechat_aes_key,
                            app_id=s.wechat_app_id, openid=openid)
    return jsonify({"sent": plain, **delivery.to_dict()})


def _text(data: dict, key: str, max_len: int = MAX_TEXT, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > max_len or (required and not value.strip()):
        raise BadRequest(f"{key} must be text of 1–{max_len} characters")
    return value


def _coord(data: dict) -> tuple[float, float]:
    lat, lng = data.get("lat"), data.get("lng")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lng)):
        raise BadRequest("lat and lng must be numbers")
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise BadRequest("lat must be within ±90 and lng within ±180")
    return float(lat), float(lng)


def _in_datum(state: SandboxState, lat: float, lng: float) -> tuple[float, float]:
    """The map speaks WGS-84; WeChat's location messages carry GCJ-02 (setting-controlled)."""
    if state.settings.wechat_location_datum == "gcj02":
        from backend.geo import wgs84_to_gcj02

        lat, lng = wgs84_to_gcj02(lat, lng)
    return round(lat, 6), round(lng, 6)


def _build(state: SandboxState, data: dict) -> tuple[str, dict, bool]:
    """(MsgType, fields, is a message with MsgId) for one simulated action."""
    kind = data.get("kind")
    if kind == "text":
        return "text", {"Content": _text(data, "text")}, True
    if kind == "location":
        lat, lng = _in_datum(state, *_coord(data))
        return "location", {"Location_X": lat, "Location_Y": lng, "Scale": 16,
                            "Label": _text(data, "label", 200, required=False)}, True
    if kind == "location_event":
        lat, lng = _in_datum(state, *_coord(data))
        return "event", {"Event": "LOCATION", "Latitude": lat, "Longitude": lng, "Precision": 30.0}, False
    if kind == "image":
        media_id = _text(data, "media_id", 128)
        if media_id not in state.media:
            raise BadRequest("unknown media_id: upload the picture first (POST /_sandbox/media)")
        return "image", {"PicUrl": f"{request.host_url}_sandbox/media/{media_id}", "MediaId": media_id}, True
    if kind == "voice":
        recognition = _text(data, "recognition", 500, required=False)
        media_id = state.add_media(SILENT_AMR, "audio/amr", "voice")
        fields = {"MediaId": media_id, "Format": "amr"}
        if recognition:
            fields["Recognition"] = recognition
        return "voice", fields, True
    if kind == "click":
        return "event", {"Event": "CLICK", "EventKey": _text(data, "key", 128)}, False
    if kind == "scan_unit":
        return "event", {"Event": "scancode_waitmsg", "EventKey": _text(data, "key", 128, required=False) or "SCAN",
                         "ScanCodeInfo": {"ScanType": "qrcode", "ScanResult": _text(data, "scan_result", 512)}}, False
    if kind == "scan_qr":
        scene = _text(data, "scene", 64)
        ticket = _ticket_for(state, scene)
        if data.get("first_follow") is True:
            return "event", {"Event": "subscribe", "EventKey": "qrscene_" + scene, "Ticket": ticket}, False
        return "event", {"Event": "SCAN", "EventKey": scene, "Ticket": ticket}, False
    if kind in ("subscribe", "unsubscribe"):
        return "event", {"Event": kind, "EventKey": ""}, False
    raise BadRequest("kind must be one of text, location, location_event, image, voice, click, scan_unit, "
                     "scan_qr, subscribe, unsubscribe")


def _ticket_for(state: SandboxState, scene: str) -> str:
    with state.lock:
        for ticket, info in state.qrcodes.items():
            if info["scene"] == scene:
                return ticket
    return "sandbox-typed-scene"


def _track_subscription(state: SandboxState, openid: str, kind: str) -> None:
    with state.lock:
        if kind == "unsubscribe":
            state.unsubscribed.add(openid)
        elif kind in ("subscribe", "scan_qr"):
            state.unsubscribed.discard(openid)


@bp.errorhandler(BadRequest)
def _bad_request(err: BadRequest):
    return jsonify({"error": {"code": "bad_request", "message": err.message}}), 400
