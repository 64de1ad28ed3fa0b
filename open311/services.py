"""Discovery, the service list and service definitions (GeoReport v2 "services").

A service is a leaf event category (小类); its group is the major category (大类). Every
service has the same two optional attributes, so ``metadata`` is always true:

- ``building_unit_qr`` — what a building unit's entrance QR says (its URL or bare code):
  the report is placed at that building and unit, and its grid is known without coordinates.
- ``datum`` — the datum of ``lat``/``long``: ``wgs84`` (the spec's, the default) or ``gcj02``
  (what 高德/腾讯 maps and WeChat locations give), converted before the grid look-up.
"""
from __future__ import annotations

from backend import config
from backend.models import Category
from open311.formats import MIME_TYPES
from open311.params import Open311Error

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# Bump when this adapter's behaviour or documents change (sortable ISO 8601).
CHANGESET = "2026-11-25T00:00:00+08:00"
PREFIX = "/open311/v2"

ATTRIBUTES = [
    {
        "variable": True, "code": "building_unit_qr", "datatype": "string", "required": False,
        "datatype_description": "扫描楼栋单元门口二维码得到的文字（网址或码值）",
        "order": 1,
        "description": "楼栋单元二维码：填写后自动带出楼栋、单元和所属网格，无需坐标",
    },
    {
        "variable": True, "code": "datum", "datatype": "singlevaluelist", "required": False,
        "datatype_description": "lat/long 的坐标系，不填即 wgs84",
        "order": 2,
        "description": "坐标系",
        "values": [
            {"key": "wgs84", "name": "WGS-84（GPS，GeoReport v2 默认）"},
            {"key": "gcj02", "name": "GCJ-02（高德、腾讯地图、微信位置）"},
        ],
    },
]
ATTRIBUTE_CODES = {a["code"]: a for a in ATTRIBUTES}


def leaf_categories(active_only: bool = True):
    query = Category.select().where(Category.parent.is_null(False))
    if active_only:
        query = query.where(Category.active == True)  # noqa: E712
    return query


def find_service(code: str) -> Category | None:
    """The active leaf category with this code, or None."""
    if not code or len(code) > 16:
        return None
    return leaf_categories().where(Category.code == code).first()


def public_url(path: str) -> str:
    """``/open311`` + path on PUBLIC_BASE_URL (what a client outside reaches)."""
    return config.current().public_base_url.rstrip("/") + "/open311" + path


def discovery_document() -> dict:
    settings = config.current()
    base = settings.public_base_url.rstrip("/") + PREFIX
    return {
        "changeset": CHANGESET,
        "contact": "e家 综治中心（通过控制台“意见反馈”或所在街道综治中心联系）",
        "key_service": public_url("/api-key"),  # a page: how to ask for a key, scopes, limits
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": base,
            "changeset": CHANGESET,
            "type": "production" if settings.production else "test",
            "formats": [MIME_TYPES["xml"], MIME_TYPES["json"]],
        }],
    }


def services_document() -> list[dict]:
    categories = list(leaf_categories().order_by(Category.sort_order, Category.code))
    parent_ids = {c.parent_id for c in categories}
    groups = {p.id: p.name for p in Category.select(Category.id, Category.name).where(Category.id.in_(parent_ids))}
    return [{
        "service_code": c.code,
        "service_name": c.name,
        "description": c.plain_name,
        "metadata": True,
        "type": "realtime",
        "keywords": ",".join(str(k) for k in (c.keywords or [])),
        "group": groups.get(c.parent_id, ""),
    } for c in categories]


def definition_document(code: str) -> dict:
    category = find_service(code)
    if category is None:
        raise Open311Error(404, f"没有这个服务：service_code {code}")
    return {"service_code": category.code, "attributes": ATTRIBUTES}
