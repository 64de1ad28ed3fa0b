"""How every sandbox API answers: record the call, apply injected faults and latency, check
the access token (issued here, unexpired, of the right app), then the JSON body.

Errors are HTTP 200 with ``{"errcode", "errmsg"}``, as WeChat does.
"""
from __future__ import annotations

import json
import secrets
import time
from functools import wraps

from flask import Response, current_app, jsonify, request

from sandbox.state import Fault, SandboxState


def state() -> SandboxState:
    return current_app.extensions["sandbox.state"]


def err(errcode: int, errmsg: str) -> dict:
    return {"errcode": errcode, "errmsg": f"{errmsg} rid: sandbox-{secrets.token_hex(4)}"}


def _body() -> dict | None:
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _masked(mapping: dict) -> dict:
    return {k: ("***" if k == "secret" else v) for k, v in mapping.items()}


def wechat_api(name: str, app: str | None = "oa", token: bool = True, json_body: bool = True):
    """Record, apply faults, check token (``app`` 'oa'/'mp'/None = either) and body."""

    def decorate(handler):
        @wraps(handler)
        def view():
            sandbox = state()
            body = _body() if json_body and request.method == "POST" else {}
            logged = body if body is not None else {"_unparsed": request.get_data()[:2000].decode("utf-8", "replace")}
            if not json_body and request.files:
                logged = {"files": [{"field": k, "filename": f.filename, "content_type": f.mimetype}
                                    for k, f in request.files.items()]}
            entry = sandbox.record(name, _masked(request.args.to_dict()), _masked(logged) if isinstance(logged, dict) else logged)
            openid = (body or {}).get("touser") or request.args.get("openid")
            fault, latency_ms = sandbox.take_fault(name, openid if isinstance(openid, str) else None)
            if latency_ms:
                time.sleep(latency_ms / 1000)
            result = _answer(sandbox, handler, fault, body, app, token)
            if isinstance(result, Response):
                entry["errcode"] = 0 if result.status_code < 400 else result.status_code
                return result
            entry["errcode"] = result.get("errcode", 0)
            return jsonify(result)

        return view

    return decorate


def _answer(sandbox: SandboxState, handler, fault: Fault | None, body, app, token):
    if fault is not None and fault.http_status:
        return Response(f"sandbox: injected HTTP {fault.http_status}", status=fault.http_status)
    if fault is not None:
        return err(fault.errcode, "sandbox injected error")
    if token:
        errcode, appid = sandbox.check_token(request.args.get("access_token"))
        if errcode:
            return err(errcode, {41001: "access_token missing", 42001: "access_token expired"}.get(
                errcode, "invalid credential, access_token is invalid or not latest"))
        if app and sandbox.app_kind(appid) != app:
            return err(48001, "api unauthorized")
    if body is None:
        return err(47001, "data format error")
    return handler(body)
