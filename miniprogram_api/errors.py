"""One error shape for the whole API: ``{"error": {"code", "message"[, "fields"]}}`` with a 4xx.

``install(blueprint, app)`` registers the handlers. Blueprint handlers cover everything a
matched /mp/v1 route raises (domain errors, validation, 413, 429); unmatched URLs under
/mp/v1 reach the blueprint's catch-all route (web.py), so they answer in the same shape.
Messages are plain Chinese for the person holding the phone; codes are for the page's code.
"""
from __future__ import annotations

import json
import logging

import peewee
import redis
from flask import Response, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from backend.errors import DomainError
from backend.media_store import MediaUnavailable

log = logging.getLogger("ejia.mp")

HTTP_MESSAGES = {
    400: ("bad_request", "请求格式不正确"),
    401: ("login_required", "请先登录"),
    403: ("forbidden", "没有权限"),
    404: ("not_found", "没有这个接口或内容"),
    405: ("method_not_allowed", "不支持这种请求方式"),
    409: ("conflict", "操作冲突，请刷新后重试"),
    413: ("too_large", "上传的内容太大了"),
    415: ("unsupported_media_type", "请求内容类型不正确，请用 application/json"),
    429: ("too_many_requests", "操作太频繁了，请稍后再试"),
    503: ("unavailable", "服务暂时不可用，请稍后再试"),
}
RETRY_AFTER = "5"
MEDIA_READ_UNAVAILABLE = "照片和语音暂时打不开，请稍后再试"

FIELD_LABELS = {
    "code": "登录凭证", "phone_code": "手机号授权码", "bind_code": "绑定码", "description": "描述",
    "category": "类别", "lat": "纬度", "lng": "经度", "datum": "坐标系", "client_key": "提交编号",
    "building_qr": "楼栋二维码", "media_ids": "图片", "anonymous": "匿名", "address": "地址",
    "score": "评分", "comment": "评价", "note": "说明", "department_id": "部门",
    "duplicate_of": "合并到的事件", "suggested_grid_id": "建议网格", "internal": "内部留言",
    "view": "列表", "page": "页码", "page_size": "每页条数", "q": "关键词", "qr": "二维码",
    "content": "反馈内容", "name": "姓名", "kind": "人员类别", "id_number": "证件号码",
    "phone": "电话", "care_tags": "关怀标签", "room": "房号", "include_moved_out": "含已迁出",
    "file": "文件",
}


class ApiError(Exception):
    """An answer decided by the adapter itself (auth, parsing, uploads)."""

    def __init__(self, status: int, code: str, message: str, fields: list[dict] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.fields = status, code, message, fields


def error_response(status: int, code: str, message: str, fields: list[dict] | None = None,
                   headers: dict | None = None) -> Response:
    body: dict = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response = Response(json.dumps({"error": body}, ensure_ascii=False), status=status,
                        mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def by_status(status: int) -> Response:
    """The API's error for a bare HTTP status: URLs no route matched (the app-level handlers
    use it for /mp/v1, e.g. a path with a newline in it) and a backing service that is down."""
    code, message = HTTP_MESSAGES.get(status, ("error", "请求无法处理"))
    return error_response(status, code, message, headers={"Retry-After": RETRY_AFTER} if status == 503 else None)


def _label(loc: tuple) -> str:
    names = [str(part) for part in loc if not isinstance(part, int)]
    name = names[-1] if names else ""
    return FIELD_LABELS.get(name, name or "请求内容")


def _problem(err: dict) -> str:
    """A pydantic error as plain Chinese; never echoes the input (it may be an ID number)."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return "必须填写"
    if kind == "extra_forbidden":
        return "不认识这个字段"
    if kind in ("string_too_short", "too_short"):
        return f"至少 {ctx.get('min_length', 1)} 个" + ("字" if kind.startswith("string") else "项")
    if kind in ("string_too_long", "too_long"):
        return f"最多 {ctx.get('max_length')} 个" + ("字" if kind.startswith("string") else "项")
    if kind in ("greater_than_equal", "greater_than"):
        return f"不能小于 {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"不能大于 {ctx.get('le', ctx.get('lt'))}"
    if kind in ("literal_error", "enum"):
        return f"只能是 {ctx.get('expected', '规定的值')}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "应为整数"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return "应为数字"
    if kind in ("bool_type", "bool_parsing"):
        return "应为 true 或 false"
    if kind in ("string_type", "string_unicode"):
        return "应为文字"
    if kind == "list_type":
        return "应为列表"
    if kind == "string_pattern_mismatch":
        return "格式不对"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "应为 JSON 对象"
    if kind == "value_error":
        return str(ctx.get("error", "取值不对"))
    return "取值不对"


def from_validation_error(exc: ValidationError) -> ApiError:
    errors = exc.errors(include_input=False, include_url=False)
    unknown = sorted({str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden"})
    fields = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "problem": _problem(e)} for e in errors]
    if unknown:
        return ApiError(400, "unknown_fields", "不认识这些字段：" + "、".join(unknown), fields)
    first = errors[0]
    message = f"{_label(tuple(first['loc']))}{_problem(first)}" if first["loc"] else _problem(first)
    return ApiError(400, "invalid_input", message, fields)


def install(blueprint) -> None:
    @blueprint.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err.status, err.code, err.message, err.fields)

    @blueprint.errorhandler(DomainError)
    def _domain_error(err: DomainError):
        return error_response(err.status, err.code, err.message)

    @blueprint.errorhandler(ValidationError)
    def _validation_error(err: ValidationError):
        api_error = from_validation_error(err)
        return error_response(api_error.status, api_error.code, api_error.message, api_error.fields)

    @blueprint.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        status = err.code or 400
        code, message = HTTP_MESSAGES.get(status, ("error", "请求无法处理"))
        headers = {}
        if status == 405 and getattr(err, "valid_methods", None):
            headers["Allow"] = ", ".join(err.valid_methods)
        if status == 429:
            retry = getattr(err, "retry_after", None)
            if retry:
                headers["Retry-After"] = str(retry)
        return error_response(status, code, message, headers=headers)

    @blueprint.errorhandler(peewee.OperationalError)
    @blueprint.errorhandler(peewee.InterfaceError)
    @blueprint.errorhandler(redis.exceptions.ConnectionError)
    @blueprint.errorhandler(redis.exceptions.TimeoutError)
    def _unavailable(err):
        log.error("mini-program API: a backing service is unavailable: %s", type(err).__name__)
        return by_status(503)

    @blueprint.errorhandler(MediaUnavailable)
    def _media_unavailable(err: MediaUnavailable):
        """The object store does not answer: nothing was stored (the object comes before its row)."""
        log.error("mini-program API: media store unavailable: %s", err)
        message = MEDIA_READ_UNAVAILABLE if request.method == "GET" else err.message
        return error_response(503, "media_unavailable", message, headers={"Retry-After": RETRY_AFTER})

    @blueprint.errorhandler(Exception)
    def _unexpected(err: Exception):
        # A bug: logged with its traceback, answered in the API's shape, never with details.
        log.exception("mini-program API: unexpected error")
        return error_response(500, "internal_error", "系统出了点问题，请稍后再试")
