"""Tencent Cloud SMS ``SendSms`` (API 2021-01-11) stand-in, answering ``POST /`` like
sms.tencentcloudapi.com does — after checking the TC3-HMAC-SHA256 signature.

https://cloud.tencent.com/document/api/382/55981 (SendSms)
https://cloud.tencent.com/document/api/213/30654 (signature v3)

Point the tencent provider at it with ``SMS_TENCENT_ENDPOINT=127.0.0.1:<port>``,
``SMS_TENCENT_SCHEME=http`` and the sandbox credentials below (or the ones in settings).
Every request is recorded as api ``tencent/SendSms`` in ``GET /_sandbox/calls``; faults
injected for that api apply (``errcode`` is mapped to a Tencent error code, see FAULT_CODES;
``http_status`` and ``latency_ms`` work as for WeChat APIs).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import time

API = "tencent/SendSms"
SERVICE = "sms"
VERSION = "2021-01-11"
SANDBOX_SECRET_ID = "AKIDsandboxEjia0000000000000000000"
SANDBOX_SECRET_KEY = "sandboxEjiaTencentSecretKey000000"
TIMESTAMP_WINDOW = 300
AUTH_RE = re.compile(r"^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z0-9]+)/tc3_request, "
                     r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")
PHONE_RE = re.compile(r"^\+?[0-9]{6,20}$")
FAULT_CODES = {
    -1: "InternalError.Timeout",
    45009: "LimitExceeded.AppDailyLimit",
    45011: "RequestLimitExceeded",
    40003: "InvalidParameterValue.IncorrectPhoneNumber",
    47003: "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
}


def credentials(settings) -> dict[str, str]:
    """SecretId → SecretKey the stand-in accepts: the sandbox pair, plus the settings' pair."""
    pairs = {SANDBOX_SECRET_ID: SANDBOX_SECRET_KEY}
    extra = getattr(settings, "extra", None) or {}
    secret_id = getattr(settings, "sms_tencent_secret_id", None) or extra.get("SMS_TENCENT_SECRET_ID")
    secret_key = getattr(settings, "sms_tencent_secret_key", None) or extra.get("SMS_TENCENT_SECRET_KEY")
    if secret_id and secret_key:
        pairs[secret_id] = secret_key
    return pairs


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def tc3_signature(secret_key: str, *, method: str, uri: str, query: str, content_type: str, host: str,
                  body: bytes, timestamp: str, date: str, service: str = SERVICE) -> str:
    """The v3 signature, computed from the request as received."""
    canonical = "\n".join([method, uri, query, f"content-type:{content_type}\nhost:{host}\n",
                           "content-type;host", hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def check_request(headers, body: bytes, method: str, uri: str, query: str, keys: dict[str, str],
                  now: float | None = None) -> tuple[str, str] | None:
    """None if the request is correctly signed, else (Tencent error code, message)."""
    match = AUTH_RE.match(headers.get("Authorization", ""))
    if not match:
        return "AuthFailure.InvalidAuthorization", "Authorization header is not TC3-HMAC-SHA256"
    secret_id, date, service, signed_headers, signature = match.groups()
    if secret_id not in keys:
        return "AuthFailure.SecretIdNotFound", "unknown SecretId"
    if service != SERVICE or signed_headers != "content-type;host":
        return "AuthFailure.InvalidAuthorization", "credential scope or signed headers are wrong"
    timestamp = headers.get("X-TC-Timestamp", "")
    if not timestamp.isdigit():
        return "MissingParameter", "X-TC-Timestamp is missing"
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TIMESTAMP_WINDOW:
        return "AuthFailure.SignatureExpire", "request timestamp is outside the 5-minute window"
    if dt.datetime.fromtimestamp(int(timestamp), dt.timezone.utc).strftime("%Y-%m-%d") != date:
        return "AuthFailure.InvalidAuthorization", "credential date does not match X-TC-Timestamp"
    expected = tc3_signature(keys[secret_id], method=method, uri=uri, query=query,
                             content_type=headers.get("Content-Type", ""), host=headers.get("Host", ""),
                             body=body, timestamp=timestamp, date=date)
    if not hmac.compare_digest(expected, signature):
        return "AuthFailure.SignatureFailure", "the request signature does not match"
    return None


def check_send(params) -> tuple[str, str] | None:
    if not isinstance(params, dict):
        return "InvalidParameter", "body must be a JSON object"
    for name in ("PhoneNumberSet", "SmsSdkAppId", "TemplateId"):
        if not params.get(name):
            return "MissingParameter", f"{name} is required"
    phones = params["PhoneNumberSet"]
    if not isinstance(phones, list) or not 1 <= len(phones) <= 200:
        return "InvalidParameterValue.ParameterValueError", "PhoneNumberSet must list 1–200 numbers"
    if not all(isinstance(p, str) and PHONE_RE.match(p) for p in phones):
        return "InvalidParameterValue.IncorrectPhoneNumber", "a phone number is malformed"
    template_params = params.get("TemplateParamSet", [])
    if not isinstance(template_params, list) or not all(isinstance(p, str) for p in template_params):
        return "InvalidParameterValue.TemplateParameterFormatError", "TemplateParamSet must be strings"
    return None


def register(app, state) -> None:
    from flask import Response, jsonify, request

    def error(code: str, message: str, entry: dict | None = None):
        if entry is not None:
            entry["errcode"] = code
        return jsonify({"Response": {"Error": {"Code": code, "Message": message},
                                     "RequestId": secrets.token_hex(16)}})

    @app.post("/")
    def tencent_cloud_api():
        body = request.get_data(cache=True)
        try:
            params = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, ValueError):
            params = None
        action = request.headers.get("X-TC-Action", "")
        entry = state.record(API if action == "SendSms" else f"tencent/{action or '?'}", {},
                             params if isinstance(params, dict) else {"_unparsed": body[:2000].decode("utf-8", "replace")})
        problem = check_request(request.headers, body, "POST", "/", request.query_string.decode(), credentials(state.settings))
        if problem:
            return error(*problem, entry)
        if action != "SendSms" or request.headers.get("X-TC-Version") != VERSION:
            return error("InvalidAction", f"the stand-in implements SendSms {VERSION} only", entry)
        problem = check_send(params)
        if problem:
            return error(*problem, entry)
        phones = params["PhoneNumberSet"]
        fault, latency_ms = state.take_fault(API, phones[0])
        if latency_ms:
            time.sleep(latency_ms / 1000)
        if fault is not None and fault.http_status:
            entry["errcode"] = fault.http_status
            return Response(f"sandbox: injected HTTP {fault.http_status}", status=fault.http_status)
        if fault is not None:
            code = FAULT_CODES.get(fault.errcode, "FailedOperation")
            if code.startswith(("InternalError", "RequestLimitExceeded")):
                return error(code, "sandbox injected error", entry)
            entry["errcode"] = code
            statuses = [_status(p, params, code, "sandbox injected error") for p in phones]
        else:
            entry["errcode"] = 0
            statuses = [_status(p, params, "Ok", "send success") for p in phones]
        return jsonify({"Response": {"SendStatusSet": statuses, "RequestId": secrets.token_hex(16)}})


def _status(phone: str, params: dict, code: str, message: str) -> dict:
    return {"SerialNo": f"sbx:{secrets.token_hex(8)}" if code == "Ok" else "", "PhoneNumber": phone,
            "Fee": 1 if code == "Ok" else 0, "SessionContext": str(params.get("SessionContext", "")),
            "Code": code, "Message": message, "IsoCode": "CN"}
