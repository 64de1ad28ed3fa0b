"""Control calls under ``/_sandbox/``: the call log, fault injection, configuration, fixtures.

Bad control input answers 400 ``{"error": {"code", "message"}}`` — never a 500.
"""
from __future__ import annotations

import base64
import binascii
import re
import secrets
import time

from flask import Blueprint, current_app, jsonify, request

from sandbox.state import DEFAULT_CONFIG, Fault, SandboxState

bp = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")
PHONE_RE = re.compile(r"^\+?[0-9]{5,20}$")
MEDIA_KINDS = ("image", "voice", "video", "thumb")
MAX_MEDIA = 10 << 20


class BadRequest(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@bp.errorhandler(BadRequest)
def _bad_request(err: BadRequest):
    return jsonify({"error": {"code": "bad_request", "message": err.message}}), 400


def _state() -> SandboxState:
    return current_app.extensions["sandbox.state"]


def _json() -> dict:
    data = request.get_json(silent=True, force=True)
    if data is None and request.get_data():
        raise BadRequest("body must be a JSON object")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def _int(data: dict, key: str, low: int, high: int, default=None):
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key} must be an integer from {low} to {high}")
    return value


def _str(data: dict, key: str, max_len: int = 128):
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise BadRequest(f"{key} must be a string of 1–{max_len} characters")
    return value


@bp.get("/calls")
def calls():
    """Every API call received, oldest first; ``?api=message/template/send`` filters."""
    api = request.args.get("api")
    with _state().lock:
        items = [c for c in _state().calls if api is None or c["api"] == api]
    return jsonify(items)


@bp.delete("/calls")
def clear_calls():
    with _state().lock:
        _state().calls.clear()
    return jsonify({"ok": True})


def fault_from(data: dict) -> Fault:
    """{errcode?, http_status?, latency_ms?, count?, api?, openid?} → Fault (validated)."""
    known = {"errcode", "http_status", "latency_ms", "count", "api", "openid"}
    unknown = set(data) - known
    if unknown:
        raise BadRequest(f"unknown fields: {', '.join(sorted(unknown))} (use {', '.join(sorted(known))})")
    fault = Fault(errcode=_int(data, "errcode", -1, 99999999), http_status=_int(data, "http_status", 400, 599),
                  latency_ms=_int(data, "latency_ms", 0, 120000, 0), count=_int(data, "count", 1, 1000000),
                  api=_str(data, "api"), openid=_str(data, "openid", 64))
    if fault.errcode == 0:
        raise BadRequest("errcode 0 is success; omit it to inject only latency")
    if fault.errcode is None and fault.http_status is None and not fault.latency_ms:
        raise BadRequest("give errcode, http_status or latency_ms")
    if fault.api:
        fault.api = fault.api.removeprefix("/").removeprefix("cgi-bin/")
    return fault


@bp.post("/inject")
def inject():
    """Examples: {"openid": "o1", "errcode": 43004} · {"errcode": -1, "count": 2} ·
    {"errcode": 40001, "count": 1, "api": "message/template/send"} · {"latency_ms": 3000}."""
    fault = fault_from(_json())
    _state().add_fault(fault)
    return jsonify(fault.to_dict()), 201


@bp.get("/inject")
def list_faults():
    with _state().lock:
        return jsonify([f.to_dict() for f in _state().faults])


@bp.delete("/inject")
def clear_faults():
    with _state().lock:
        _state().faults.clear()
    return jsonify({"ok": True})


@bp.post("/reset")
def reset():
    """Back to a fresh WeChat: calls, tokens, faults, media, codes and config as started."""
    _state().reset()
    return jsonify({"ok": True})


@bp.get("/config")
def get_config():
    return jsonify(_state().config)


def config_changes(data: dict) -> dict:
    """Validated sandbox settings (the keys of state.DEFAULT_CONFIG)."""
    unknown = set(data) - set(DEFAULT_CONFIG)
    if unknown:
        raise BadRequest(f"unknown settings: {', '.join(sorted(unknown))}")
    changes = {}
    if "single_use_codes" in data:
        if not isinstance(data["single_use_codes"], bool):
            raise BadRequest("single_use_codes must be true or false")
        changes["single_use_codes"] = data["single_use_codes"]
    if "callback_url" in data:
        url = data["callback_url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 500:
            raise BadRequest("callback_url must be an http(s) URL")
        changes["callback_url"] = url
    for key in ("templates", "subscribe_templates"):
        if key in data:
            ids = data[key]
            if not isinstance(ids, list) or len(ids) > 50 or not all(
                    isinstance(i, str) and 1 <= len(i) <= 64 for i in ids):
                raise BadRequest(f"{key} must be a list of up to 50 template ids (1–64 characters)")
            changes[key] = list(ids)
    for key, low, high in (("token_ttl", 1, 86400), ("latency_ms", 0, 120000), ("phone_code_ttl", 1, 86400)):
        if key in data:
            changes[key] = _int(data, key, low, high)
    return changes


@bp.post("/config")
def set_config():
    """Change settings until the next reset, e.g. {"single_use_codes": true, "token_ttl": 5}."""
    changes = config_changes(_json())
    with _state().lock:
        _state().config.update(changes)
        return jsonify(_state().config)


@bp.post("/tokens/expire")
def expire_tokens():
    """Make every issued token expired (the next call answers 42001)."""
    state = _state()
    with state.lock:
        state.tokens = {t: (appid, 0.0) for t, (appid, _) in state.tokens.items()}
    return jsonify({"expired": len(state.tokens)})


@bp.post("/media")
def register_media():
    """Register media a user "sent": multipart ``file`` (+ ``kind``), or JSON
    {"content_base64", "content_type", "kind"}. Answers {"media_id"} for media/get."""
    if request.files:
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest("multipart field 'file' is missing")
        content, content_type = upload.read(MAX_MEDIA + 1), upload.mimetype or "application/octet-stream"
        kind = request.form.get("kind", "image")
    else:
        data = _json()
        try:
            content = base64.b64decode(data.get("content_base64") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise BadRequest("content_base64 is not base64") from None
        content_type = _str(data, "content_type") or "application/octet-stream"
        kind = data.get("kind", "image")
    if kind not in MEDIA_KINDS:
        raise BadRequest(f"kind must be one of {', '.join(MEDIA_KINDS)}")
    if not content:
        raise BadRequest("media is empty")
    if len(content) > MAX_MEDIA:
        raise BadRequest("media is larger than 10 MB")
    media_id = _state().add_media(content, content_type, kind)
    return jsonify({"media_id": media_id, "kind": kind, "size": len(content)}), 201


@bp.post("/phone-codes")
def register_phone_code():
    """{"phone": "13800000000", "code"?: "…", "reusable"?: false} → {"code"} for getuserphonenumber."""
    data = _json()
    phone = data.get("phone")
    if not isinstance(phone, str) or not PHONE_RE.match(phone):
        raise BadRequest("phone must be digits, e.g. 13800000000")
    code = _str(data, "code", 64) or secrets.token_hex(16)
    reusable = data.get("reusable", False)
    if not isinstance(reusable, bool):
        raise BadRequest("reusable must be true or false")
    state = _state()
    with state.lock:
        state.phone_codes[code] = {"phone": phone, "reusable": reusable,
                                   "expires_at": time.time() + int(state.config["phone_code_ttl"])}
    return jsonify({"code": code, "phone": phone, "reusable": reusable}), 201


@bp.get("/qrcodes")
def qrcodes():
    """Parametric QR codes created through qrcode/create (the simulator offers their scenes)."""
    with _state().lock:
        return jsonify(list(_state().qrcodes.values()))


@bp.get("/qrcodes/<ticket>")
def qrcode_info(ticket: str):
    info = _state().qrcodes.get(ticket)
    if info is None:
        return jsonify({"error": {"code": "not_found", "message": "unknown ticket"}}), 404
    return jsonify(info)


@bp.get("/menu")
def menu():
    return jsonify(_state().menu or {})
