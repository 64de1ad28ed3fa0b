"""The operation registry: one declaration per endpoint drives routing, parsing and the spec.

Each view is declared with ``@api.operation(...)`` naming its auth, its query and body models
(pydantic) and its responses. ``web.register`` turns the declarations into Flask routes and
``openapi.build_spec`` into OpenAPI 3.1 — so the published spec is generated from the same
objects that validate requests and shape responses, and cannot drift from the code.

Input policy (DESIGN §10), the same on every endpoint:
* JSON bodies must be ``application/json`` objects; unknown fields are rejected with 400
  listing them (``unknown_fields``); so are unknown query parameters.
* Strings with NUL characters or unpaired surrogates are rejected (400) before any service
  sees them: PostgreSQL cannot store them and would otherwise fail mid-request.
* Integers in paths and bodies are database ids: 1 … 2**31-1; anything else is 404/400.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Response, request
from pydantic import BaseModel, ValidationError

from miniprogram_api.errors import ApiError, from_validation_error

MAX_ID = 2**31 - 1
JSON_BODY_LIMIT = 64 * 1024
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass
class Call:
    """What a view receives: who is calling and the already-validated input."""

    principal: Any = None
    body: Any = None
    query: Any = None
    path: dict = field(default_factory=dict)


@dataclass
class Operation:
    method: str
    rule: str  # Flask rule under the blueprint prefix, e.g. "/events/<number>"
    view: Callable[[Call], Any]
    summary: str
    tag: str
    auth: str | None  # None (public), "any", "resident", "staff"
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    ok: int = 200
    response: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    limit: str | None = None
    upload: bool = False  # multipart/form-data with one "file" part
    binary: tuple[str, ...] = ()  # response media types for a raw file answer
    description: str = ""
    path_schemas: dict = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.view.__name__

    @property
    def path_params(self) -> list[tuple[str, str]]:
        """[(name, converter)] in the order they appear."""
        return [(m.group(2), m.group(1) or "string") for m in _PARAM.finditer(self.rule)]

    def status_codes(self) -> list[int]:
        codes = set(self.errors) | {400, 429, 503}
        if self.auth is not None:
            codes |= {401, 403}
        if self.path_params:
            codes.add(404)
        if self.body is not None:
            codes |= {413, 415}
        if self.upload:
            codes |= {413, 415}
        return sorted(codes)


class Api:
    def __init__(self):
        self.operations: list[Operation] = []

    def operation(self, method: str, rule: str, *, summary: str, tag: str, auth: str | None = "any",
                  **options) -> Callable:
        def declare(view: Callable[[Call], Any]) -> Callable[[Call], Any]:
            self.operations.append(Operation(method.upper(), rule, view, summary, tag, auth, **options))
            return view
        return declare


# ---- input ----------------------------------------------------------------------------

def _clean_strings(value, where: str) -> None:
    """Reject text PostgreSQL cannot store (NUL, lone surrogates) anywhere in the input."""
    stack = [value]  # iterative: deeply nested JSON must not exhaust the Python stack
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ApiError(400, "bad_text", f"{where}含有不允许的控制字符")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError(400, "bad_text", f"{where}含有无法识别的字符") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_path(op: Operation, values: dict) -> dict:
    _clean_strings(values, "网址")
    for name, converter in op.path_params:
        if converter == "int" and not 1 <= values[name] <= MAX_ID:
            raise ApiError(404, "not_found", "没有找到这个内容")
        if converter == "string" and len(values[name]) > 64:
            raise ApiError(404, "not_found", "没有找到这个内容")
    return values


def parse_query(op: Operation):
    args = request.args
    _clean_strings(list(args.keys()) + list(args.values()), "查询参数")
    if op.query is None:
        if args:
            raise ApiError(400, "unknown_fields", "不认识这些参数：" + "、".join(sorted(args.keys())))
        return None
    repeated = sorted(k for k in args.keys() if len(args.getlist(k)) > 1)
    if repeated:
        raise ApiError(400, "repeated_parameter", "参数重复了：" + "、".join(repeated))
    try:
        return op.query.model_validate(args.to_dict(flat=True))
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def parse_json_body(op: Operation):
    request.max_content_length = JSON_BODY_LIMIT
    raw = request.get_data(cache=True)  # raises 413 past the limit
    if not raw.strip():
        data: Any = {}
    else:
        if request.mimetype != "application/json":
            raise ApiError(415, "unsupported_media_type", "请求内容类型不正确，请用 application/json")
        try:
            data = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise ApiError(400, "bad_json", "请求内容不是有效的 JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "请求内容应为 JSON 对象")
    _clean_strings(data, "请求内容")
    try:
        return op.body.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def finite(value: float, label: str) -> float:
    if not math.isfinite(value):
        raise ApiError(400, "invalid_input", f"{label}应为数字")
    return value


# ---- output ---------------------------------------------------------------------------

def render(op: Operation, result) -> Response:
    """A view returns a model (status ``op.ok``), ``(status, model)`` or a ready Response."""
    if isinstance(result, Response):
        return result
    status = op.ok
    if isinstance(result, tuple):
        status, result = result
    if op.response is not None and not isinstance(result, op.response):
        result = op.response.model_validate(result)
    body = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")
