"""Serialisation for GeoReport v2: one document shape, two formats (XML required, JSON optional).

Documents are plain dicts/lists. XML element names follow the spec's samples: a list under
a plural key becomes ``<key><singular>…</singular></key>`` (``attributes/attribute``,
``values/value``, ``endpoints/endpoint``, ``formats/format``); a top-level list is wrapped in
the resource's root element (``services/service``, ``service_requests/request``,
``errors/error``). XML is only ever written here, never parsed (POST bodies are form data).
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from flask import Response

FORMATS = ("xml", "json")
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
MIME_TYPES = {"xml": "text/xml", "json": "application/json"}
SINGULAR = {
    "attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format",
    "errors": "error", "notes": "note",
}
# Characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def format_of(path: str) -> str:
    """The format a URL asks for by its suffix; XML (the required one) when it names none we know."""
    return "json" if path.lower().endswith(".json") else "xml"


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _append(parent: ET.Element, name: str, value) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, item in value.items():
            _append(element, key, item)
    elif isinstance(value, (list, tuple)):
        child = SINGULAR.get(name, "item")
        for item in value:
            _append(element, child, item)
    else:
        element.text = _text(value)


def to_xml(document, root: str, item: str | None = None) -> bytes:
    """``document`` as UTF-8 XML with the declaration the spec asks for."""
    element = ET.Element(root)
    if isinstance(document, (list, tuple)):
        for entry in document:
            _append(element, item or "item", entry)
    else:
        for key, value in document.items():
            _append(element, key, value)
    body = ET.tostring(element, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def to_json(document) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render(document, fmt: str, root: str, item: str | None = None, status: int = 200) -> Response:
    body = to_json(document) if fmt == "json" else to_xml(document, root, item)
    response = Response(body, status=status, content_type=CONTENT_TYPES[fmt])
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def render_errors(status: int, description: str, fmt: str) -> Response:
    """The spec's error document: ``<errors><error><code/><description/></error></errors>``,
    JSON ``[{"code", "description"}]``; the code is the HTTP status, as in the spec's samples."""
    return render([{"code": status, "description": description}], fmt, "errors", "error", status=status)
