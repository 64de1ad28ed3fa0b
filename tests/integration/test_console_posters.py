"""Building QR posters: decode a generated poster's QR and resolve it to the same unit."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from backend import posters
from backend.models import Building, BuildingUnit
from backend.qr import unit_for_scan, unit_url
from tests.integration.test_console_fixtures import console_app, cworld, logged_in  # noqa: F401


def decode_all(image) -> list[str]:
    array = np.array(image.convert("L")) if hasattr(image, "convert") else image
    ok, texts, _points, _ = cv2.QRCodeDetector().detectAndDecodeMulti(array)
    return [t for t in texts if t] if ok else []


@pytest.fixture
def units(cworld):
    world = cworld.world
    building = Building.create(area=world.grid_a, name="3号楼", address="金源路3号")
    return [BuildingUnit.create(building=building, name=f"{n}单元", qr_token=f"tok{n}abcdEFGH") for n in (1, 2, 3)]


def test_unit_poster_png_round_trip(console_app, cworld, units):
    admin = logged_in(console_app, "admin")
    response = admin.get(f"/console/admin/units/{units[1].id}/poster.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = cv2.imdecode(np.frombuffer(response.get_data(), np.uint8), cv2.IMREAD_GRAYSCALE)
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert text == unit_url(units[1].qr_token)
    assert unit_for_scan(text).id == units[1].id


def test_community_sheet_pdf_round_trip(console_app, cworld, units):
    world = cworld.world
    admin = logged_in(console_app, "admin")
    response = admin.get(f"/console/admin/areas/{world.community.id}/posters.pdf")
    assert response.status_code == 200 and response.get_data().startswith(b"%PDF")
    assert response.get_data().count(b"/Type /Page\n") + response.get_data().count(b"/Type /Page ") >= 1
    pages = posters.sheet_pages(posters.labels_for(world.community), "金源社区")
    found = sorted(decode_all(pages[0]))
    assert found == sorted(unit_url(u.qr_token) for u in units)
    assert sorted(unit_for_scan(t).name for t in found) == ["1单元", "2单元", "3单元"]
    labels = posters.labels_for(world.community)
    assert [(label.community, label.grid, label.building) for label in labels][0] == ("金源社区", "金源第一网格", "3号楼")


def test_posters_are_limited_to_the_admins_scope(console_app, cworld, units):
    from backend.models import Staff
    from tests.integration.test_console_fixtures import give_login

    world = cworld.world
    give_login(Staff.create(name="外街道管理员", role="admin", area=world.other_street), "other-admin")
    other = logged_in(console_app, "other-admin")
    assert other.get(f"/console/admin/units/{units[0].id}/poster.png").status_code == 404
    assert other.get(f"/console/admin/areas/{world.community.id}/posters.pdf").status_code == 404


def test_a_missing_cjk_font_fails_with_a_clear_message(monkeypatch):
    posters.cjk_font.cache_clear()
    monkeypatch.setattr(posters, "FONT_QUERIES", ("No Such Font Family 12345",))
    monkeypatch.setattr(posters, "_draws_chinese", lambda path, index: False)
    try:
        with pytest.raises(posters.FontMissing, match="fonts-noto-cjk"):
            posters.unit_poster_png(posters.PosterLabel("abcdefgh1234", "社区", "网格", "1号楼", "1单元"))
    finally:
        posters.cjk_font.cache_clear()
