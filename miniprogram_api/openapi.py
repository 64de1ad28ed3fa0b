"""OpenAPI 3.1 generated from the operation registry and its pydantic models, plus a docs page.

Nothing here is written by hand per endpoint: paths, parameters, bodies, responses and
schemas all come from ``Operation`` declarations (api.py) and the models they name, so
``/mp/v1/openapi.json`` always describes the code that is running. pydantic emits JSON
Schema 2020-12, which is OpenAPI 3.1's schema dialect, so its output is used as it is.
"""
from __future__ import annotations

import copy
import re

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from miniprogram_api.api import MAX_ID, Operation
from miniprogram_api.errors import HTTP_MESSAGES
from miniprogram_api.schemas import ErrorBody

REF = "#/components/schemas/{model}"
TAG_NAMES = {
    "auth": "登录与绑定", "residents": "居民", "events": "事件", "staff": "工作人员",
    "roster": "实有人口", "media": "图片与语音", "feedback": "意见反馈", "privacy": "我的信息",
}
STATUS_TEXT = {
    400: "输入不正确（字段、坐标、文件内容…）", 401: "未登录、令牌过期或伪造", 403: "身份或辖区不允许",
    404: "没有找到", 409: "冲突（状态已变、重复登记…）", 413: "内容太大", 415: "内容类型不对",
    429: "请求太频繁", 503: "依赖的服务暂时不可用",
}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def _strip_titles(schema):
    """pydantic's auto titles add noise, not meaning; drop them (but keep property names)."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "title" and isinstance(value, str):
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: _strip_titles(prop) for name, prop in value.items()}
            else:
                out[key] = _strip_titles(value)
        return out
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def _not_null(schema: dict) -> dict:
    """A query parameter is absent or a value; drop the JSON ``null`` branch of optionals."""
    options = schema.get("anyOf")
    if options and any(o == {"type": "null"} for o in options):
        rest = [o for o in options if o != {"type": "null"}]
        merged = {k: v for k, v in schema.items() if k != "anyOf"}
        if len(rest) == 1:
            merged.update(rest[0])
        else:
            merged["anyOf"] = rest
        if merged.get("default", 0) is None:
            del merged["default"]
        return merged
    return schema


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema(mode="validation", ref_template=REF)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = _strip_titles(_not_null(copy.deepcopy(prop)))
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop.pop("description")
        params.append(param)
    return params


def _path_parameters(op: Operation) -> list[dict]:
    params = []
    for name, converter in op.path_params:
        if name in op.path_schemas:
            schema = op.path_schemas[name]
        elif converter == "int":
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        else:
            schema = {"type": "string", "minLength": 1, "maxLength": 64}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _error(status: int) -> dict:
    return {"description": STATUS_TEXT.get(status, HTTP_MESSAGES.get(status, ("", "错误"))[1]),
            "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}}


def build_spec(operations: list[Operation], prefix: str, version: str = "1.0.0") -> dict:
    models: list[tuple[type[BaseModel], str]] = [(ErrorBody, "serialization")]
    for op in operations:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    refs, definitions = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    paths: dict = {}
    for op in operations:
        item: dict = {
            "operationId": op.endpoint, "summary": op.summary, "tags": [op.tag],
            "parameters": _path_parameters(op) + (_query_parameters(op.query) if op.query else []),
            "responses": {},
        }
        if op.description:
            item["description"] = op.description
        if op.auth is not None:
            item["security"] = [{"bearerAuth": []}]
        if op.body is not None:
            body_schema = op.body.model_json_schema(mode="validation")
            item["requestBody"] = {"required": bool(body_schema.get("required")), "content": {
                "application/json": {"schema": refs[(op.body, "validation")]}}}
        if op.upload:
            item["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"], "additionalProperties": False,
                "properties": {"file": {"type": "string", "format": "binary"}}}}}}
        if op.binary:
            ok = {"description": "文件内容", "content": {
                mime: {"schema": {"type": "string", "format": "binary"}} for mime in op.binary}}
        else:
            ok = {"description": "成功", "content": {"application/json": {
                "schema": refs[(op.response, "serialization")]}}}
        item["responses"][str(op.ok)] = ok
        if op.ok == 201:  # a repeated client_key answers the earlier record with 200
            item["responses"]["200"] = ok
        for status in op.status_codes():
            item["responses"][str(status)] = _error(status)
        if not item["parameters"]:
            del item["parameters"]
        paths.setdefault(prefix + _openapi_path(op.rule), {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "e家 小程序接口 (mini-program API)", "version": version,
            "description": "Residents report and follow neighbourhood problems; staff handle them "
                           "and keep the population roster. Errors: {\"error\": {\"code\", \"message\"}}. "
                           "Times are ISO 8601 with zone. See docs/miniprogram-api.md.",
        },
        "tags": [{"name": key, "description": name} for key, name in TAG_NAMES.items()],
        "paths": paths,
        "components": {
            "schemas": _strip_titles(definitions.get("$defs", {})),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "token from POST /mp/v1/auth/login"}},
        },
    }


DOCS_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>e家 小程序接口文档</title>
<link rel="stylesheet" href="{static}/vendor/swagger-ui-dist-5.35.0/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec="{spec}"></div>
<script src="{static}/vendor/swagger-ui-dist-5.35.0/swagger-ui-bundle.js"></script>
<script src="{static}/docs.js"></script>
</body>
</html>
"""


def docs_page(prefix: str) -> str:
    return DOCS_PAGE.format(static=prefix + "/static", spec=prefix + "/openapi.json")
