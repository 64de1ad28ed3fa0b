"""POST requests: a 311 client or department system files a report (GeoReport v2).

The event is created synchronously, so the answer carries its ``service_request_id`` (the
event number) *and* a ``token`` that ``tokens/{token}`` maps back to it. Rules:

- ``api_key`` (form or query) must be an active key with the ``write`` scope: otherwise 403,
  before anything else is read (open311/access.py).
- ``service_code`` must be an active leaf category: otherwise 400.
- The place: ``lat``+``long`` (WGS-84, or GCJ-02 with ``attribute[datum]=gcj02``), or
  ``attribute[building_unit_qr]``, or ``address_string`` matched against the building registry
  and area names. An address that matches one building with coordinates places the report there;
  anything vaguer is kept as text and the report goes to the 综治中心 to be placed by a person —
  never guessed. ``address_id`` alone is not supported (400).
- ``description``: plain text, at most 4,000 characters; HTML is refused (400), not stripped,
  because silently changing what someone reported is worse than asking the client to fix it.
  Empty → the service name.
- ``media_url``: http(s) only, kept as an internal note on the event; never fetched here.
- ``email``, ``phone``, ``first_name``, ``last_name``, ``device_id``, ``account_id`` are not stored:
  the client keeps its own contacts, and we keep no personal data we do not need (PIPL).
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import request
from werkzeug.datastructures import MultiDict

from backend import geo
from backend.errors import DomainError
from backend.qr import unit_for_scan
from backend.services.address import MAX_TEXT, resolve_address
from backend.services.events import MAX_DESCRIPTION, Submission, submit_event
from backend.workflow import Actor
from open311 import access, params
from open311.params import bad
from open311.service_requests import client_key_for, new_token
from open311.services import ATTRIBUTE_CODES, find_service

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_ADDRESS = 255
MAX_MEDIA_URL = 500
MAX_ATTRIBUTE = 512
_ATTRIBUTE_KEY = re.compile(r"attribute\[([^\[\]]{1,64})\](\[\])?")
# A tag, end tag, comment, doctype or processing instruction; "温度<30度>" is not one.
_HTML = re.compile(r"""<\s*(?:
      [a-zA-Z][a-zA-Z0-9:-]*(?:\s[^<>]*)?/?     # <b>, <a href=…>, <br/>
    | /\s*[a-zA-Z][a-zA-Z0-9:-]*\s*            # </b>
    | !--.*?--                                # <!-- … -->
    | ![a-zA-Z][^<>]*                         # <!DOCTYPE …>
    | \?[^<>]*                                # <?php …?>
    )>""", re.VERBOSE | re.DOTALL)


def _form() -> MultiDict:
    if request.content_length and request.mimetype not in FORM_TYPES:
        raise bad("POST 内容须为 application/x-www-form-urlencoded")
    return request.values  # form fields, plus any a client put in the query string


def attributes_of(values: MultiDict) -> dict[str, str]:
    """``attribute[code]=value`` (or ``attribute[code][]`` for lists) → {code: value}."""
    found: dict[str, str] = {}
    for name in values.keys():
        if not name.startswith("attribute"):
            continue
        match = _ATTRIBUTE_KEY.fullmatch(name)
        if match is None:
            raise bad(f"无法识别的参数 {name[:80]}，应为 attribute[code]")
        code = match.group(1)
        spec = ATTRIBUTE_CODES.get(code)
        if spec is None:
            raise bad(f"没有这个属性：attribute[{code}]（见 services/{{service_code}} 的定义）")
        entries = [v for v in values.getlist(name) if v.strip()]
        if len(entries) > 1 or (entries and match.group(2) and spec["datatype"] != "multivaluelist"):
            raise bad(f"attribute[{code}] 只能有一个值")
        value = params.text(MultiDict({code: entries[0]}), code, MAX_ATTRIBUTE) if entries else None
        if value is None:
            continue
        keys = [v["key"] for v in spec.get("values", ())]
        if keys and value not in keys:
            raise bad(f"attribute[{code}] 只能是 {' / '.join(keys)}")
        found[code] = value
    return found


def _description(values: MultiDict, service_name: str) -> str:
    text = params.text(values, "description", MAX_DESCRIPTION, keep_newlines=True)
    if text and _HTML.search(text):
        raise bad("description 只能是纯文本，不能含 HTML 标签")
    return text or service_name


def _media_url(values: MultiDict) -> str | None:
    url = params.text(values, "media_url", MAX_MEDIA_URL)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", url):
        raise bad("media_url 须为 http 或 https 网址")
    return url


def _place(values: MultiDict, attributes: dict[str, str], sub: Submission) -> list[str]:
    """Fill the place into ``sub``; return notes for the client about how it was found."""
    lat, lng = params.decimal(values, "lat"), params.decimal(values, "long")
    if (lat is None) != (lng is None):
        raise bad("lat 和 long 要一起提供")
    sub.address = params.text(values, "address_string", MAX_ADDRESS)
    address_id = params.text(values, "address_id", 64)
    qr_text = attributes.get("building_unit_qr")
    if qr_text:
        unit = unit_for_scan(qr_text)
        if unit is None:
            raise bad("attribute[building_unit_qr] 不是本系统的楼栋二维码")
        sub.building_unit_id, sub.location_confirmed = unit.id, True
    if lat is not None:
        try:
            geo.validate_coordinates(lat, lng)
        except DomainError:
            raise bad("lat/long 超出范围（纬度 -90…90，经度 -180…180）") from None
        sub.lat, sub.lng, sub.location_confirmed = lat, lng, True
        sub.datum = attributes.get("datum", "wgs84")
        return []
    if qr_text:
        return []
    if not sub.address:
        if address_id:
            raise bad("不支持 address_id，请提供 address_string 或 lat/long")
        raise bad("请提供位置：lat 和 long、address_string 或 attribute[building_unit_qr]")
    resolution = resolve_address(sub.address, max_length=MAX_TEXT)
    best = resolution.places[0] if resolution.outcome == "one" else None
    if best is not None and best.kind == "building" and best.lat is not None:
        sub.lat, sub.lng, sub.datum = best.lat, best.lng, "wgs84"
        return [f"地址已匹配到{best.label}"]
    if resolution.outcome in ("choices", "too_many"):
        options = "、".join(c.label for c in resolution.places[:3])
        return [f"地址可能是{options}，综治中心将核实位置后分派"]
    if best is not None and best.grid_id is not None:
        sub.grid_id = best.grid_id
        return [f"地址对应{best.label}，已分派到所在网格"]
    if best is not None:
        return [f"地址对应{best.label}，综治中心将确认具体位置后分派"]
    return ["地址未能对应到登记的楼栋或社区，综治中心将核实位置后分派"]


def create_request() -> list[dict]:
    values = _form()
    client = access.writer(values)
    code = params.text(values, "service_code", 16)
    if not code:
        raise bad("缺少 service_code")
    category = find_service(code)
    if category is None:
        raise bad(f"没有这个服务：service_code {code}")
    attributes = attributes_of(values)
    actor = Actor(kind="system", label=f"Open311 {client.name}"[:64])
    token = new_token()
    sub = Submission(description=_description(values, category.name), reporter=actor, source="open311",
                     category_code=category.code, client_key=client_key_for(token))
    media_url = _media_url(values)
    if media_url:
        sub.step_data = {"media_url": media_url}  # kept with the report, in the same transaction
    notes = _place(values, attributes, sub)
    result = submit_event(sub)
    event = result.event
    if result.nearby:
        numbers = "、".join(e.number for e in result.nearby[:3])
        notes.append(f"附近已有同类问题在办理：{numbers}")
    notice = "；".join([f"已受理，事件编号 {event.number}", *notes])
    if result.emergency is not None:  # emergencies first: the line to call before anything else
        notice = f"{result.emergency.advice}{notice}"
    return [{"service_request_id": event.number, "token": token, "service_notice": notice, "account_id": None}]
