"""Building QR posters: one PNG per unit entrance, one printable PDF sheet per community.

The QR encodes ``backend.qr.unit_url(token)``, which both the chat (a scan) and the
mini-program resolve to that building and unit (``backend.qr.unit_for_scan``), so a resident
never types 楼栋/单元. Labels are Chinese, so a CJK font is required: Debian's
fonts-noto-cjk (installed by scripts/setup.sh), found through fontconfig; without one we
fail with a message naming the package rather than print tofu boxes on a thousand doors.

Pillow draws both: the PDF is bilevel pages at 300 dpi (CCITT G4, lossless, so every QR
scans and the file stays small).
"""
from __future__ import annotations

import functools
import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import qrcode
from PIL import Image, ImageDraw, ImageFont

from backend.qr import unit_url

FONT_QUERIES = ("Noto Sans CJK SC:lang=zh-cn", "Source Han Sans SC", "WenQuanYi Zen Hei", "Droid Sans Fallback")
FONT_HINT = ("找不到中文字体，无法生成二维码海报。请安装 fonts-noto-cjk"
             "（Debian: apt-get install fonts-noto-cjk；scripts/setup.sh 会自动安装）")
A4_MM = (210, 297)
DPI = 300
RED = "#c8102e"


class FontMissing(RuntimeError):
    """No CJK font: posters would print empty boxes instead of 楼栋/单元."""


@dataclass(frozen=True)
class PosterLabel:
    """What a poster says besides its QR code."""

    token: str
    community: str
    grid: str
    building: str
    unit: str
    address: str = ""


@functools.lru_cache(maxsize=1)
def cjk_font() -> tuple[str, int]:
    """(file, face index) of a font that can draw Chinese, via fontconfig; FontMissing otherwise."""
    if shutil.which("fc-match") is None:
        raise FontMissing(FONT_HINT + "（缺少 fontconfig 的 fc-match）")
    for query in FONT_QUERIES:
        try:
            answer = subprocess.run(["fc-match", "-f", "%{file}\t%{index}", query], capture_output=True,
                                    text=True, timeout=10, check=True).stdout
        except (subprocess.SubprocessError, OSError):
            continue
        path, _, index = answer.partition("\t")
        if path and Path(path).is_file() and _draws_chinese(path, int(index or 0)):
            return path, int(index or 0)
    raise FontMissing(FONT_HINT)


def _draws_chinese(path: str, index: int) -> bool:
    """fc-match always answers something (DejaVu when nothing better exists): make sure the
    face really has the glyphs, by comparing a CJK character with a missing-glyph box."""
    try:
        font = ImageFont.truetype(path, 40, index=index)
    except OSError:
        return False
    probe = font.getmask("楼").getbbox()
    tofu = font.getmask("\U000f0000").getbbox()  # a private-use code point no font draws
    return probe is not None and probe != tofu


def _font(size: int) -> ImageFont.FreeTypeFont:
    path, index = cjk_font()
    return ImageFont.truetype(path, size, index=index)


def qr_image(text: str, size: int) -> Image.Image:
    """A black-and-white QR of ``text`` scaled (nearest neighbour, crisp modules) to ``size`` px."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=10)
    code.add_data(text)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white").get_image().convert("L")
    return image.resize((size, size), Image.NEAREST)


def _centered(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], y: int, text: str,
              font: ImageFont.FreeTypeFont, fill) -> int:
    """Draw ``text`` centred in box's width at ``y``, shrinking to fit; returns the next y."""
    left, _top, right, _bottom = box
    width = right - left - 20
    while font.getlength(text) > width and font.size > 12:
        font = font.font_variant(size=font.size - 2)
    x = left + (right - left - font.getlength(text)) / 2
    draw.text((x, y), text, font=font, fill=fill)
    ascent, descent = font.getmetrics()
    return y + ascent + descent


def draw_poster(canvas: Image.Image, box: tuple[int, int, int, int], label: PosterLabel, colour=RED) -> None:
    """One poster inside ``box`` of ``canvas``: header, 楼栋 单元, QR, how-to line."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    draw = ImageDraw.Draw(canvas)
    header = int(height * 0.12)
    draw.rectangle((left, top, right, top + header), fill=colour)
    _centered(draw, box, top + int(header * 0.18), "e家 · 扫码反映问题", _font(int(header * 0.5)), "white")
    y = top + header + int(height * 0.03)
    y = _centered(draw, box, y, f"{label.community} {label.grid}", _font(int(height * 0.04)), "black")
    y = _centered(draw, box, y + int(height * 0.01), f"{label.building} {label.unit}",
                  _font(int(height * 0.085)), "black")
    qr_size = min(width - int(width * 0.2), bottom - y - int(height * 0.16))
    canvas.paste(qr_image(unit_url(label.token), qr_size), (left + (width - qr_size) // 2, y + int(height * 0.01)))
    y += qr_size + int(height * 0.02)
    y = _centered(draw, box, y, "微信扫一扫，自动填写楼栋和单元", _font(int(height * 0.035)), "black")
    if label.address:
        _centered(draw, box, y, label.address, _font(int(height * 0.025)), "#5a5a5a")


def unit_poster_png(label: PosterLabel, width: int = 1000) -> bytes:
    """A poster for one unit entrance (A5-ish proportions), as PNG bytes."""
    height = int(width * 1.414)
    canvas = Image.new("RGB", (width, height), "white")
    draw_poster(canvas, (0, 0, width, height), label)
    out = io.BytesIO()
    canvas.save(out, "PNG", optimize=True)
    return out.getvalue()


def cut_sheets(items: list, title: str, draw_item: Callable, per_row: int, per_column: int,
               dpi: int = DPI) -> list[Image.Image]:
    """Bilevel A4 pages of ``per_row × per_column`` cells with dashed cutting lines and a title;
    ``draw_item(page, draw, box, item)`` fills one cell. Posters and binding-code slips alike."""
    page_w, page_h = (round(mm / 25.4 * dpi) for mm in A4_MM)
    margin = round(10 / 25.4 * dpi)
    title_h = round(12 / 25.4 * dpi)
    cell_w = (page_w - 2 * margin) // per_row
    cell_h = (page_h - 2 * margin - title_h) // per_column
    per_page = per_row * per_column
    total = max(1, -(-len(items) // per_page))
    pages = []
    for number in range(total):
        page = Image.new("L", (page_w, page_h), 255)
        draw = ImageDraw.Draw(page)
        _centered(draw, (0, 0, page_w, page_h), margin, f"{title}　第 {number + 1}/{total} 页",
                  _font(round(title_h * 0.5)), 0)
        for slot, item in enumerate(items[number * per_page:(number + 1) * per_page]):
            col, row = slot % per_row, slot // per_row
            x0, y0 = margin + col * cell_w, margin + title_h + row * cell_h
            pad = round(4 / 25.4 * dpi)
            draw_item(page, draw, (x0 + pad, y0 + pad, x0 + cell_w - pad, y0 + cell_h - pad), item)
            # dark enough to survive the bilevel threshold below (a lighter grey printed nothing)
            for dash in range(x0, x0 + cell_w, 40):
                for y in (y0, y0 + cell_h):
                    draw.line((dash, y, min(dash + 20, x0 + cell_w), y), fill=96, width=2)
            for dash in range(y0, y0 + cell_h, 40):
                for x in (x0, x0 + cell_w):
                    draw.line((x, dash, x, min(dash + 20, y0 + cell_h)), fill=96, width=2)
        pages.append(page.point(lambda v: 255 if v > 140 else 0, mode="1"))
    return pages


def pages_pdf(pages: list[Image.Image], title: str) -> bytes:
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=DPI, title=title,
                  author="e家", producer="e家")
    return out.getvalue()


def sheet_pages(labels: list[PosterLabel], title: str, per_row: int = 2, per_column: int = 3,
                dpi: int = DPI) -> list[Image.Image]:
    """A4 pages with ``per_row × per_column`` posters each and dashed cutting lines."""
    return cut_sheets(labels, title, lambda page, draw, box, label: draw_poster(page, box, label, colour="black"),
                      per_row, per_column, dpi)


def sheet_pdf(labels: list[PosterLabel], title: str) -> bytes:
    """The printable sheet for a community: every unit's poster, six to an A4 page."""
    return pages_pdf(sheet_pages(labels, title), title)


def labels_for(area) -> list[PosterLabel]:
    """Poster labels for every unit under an area (a community or a grid), in building order."""
    from backend.models import Area
    from backend.services.admin_buildings import units_of_area

    grids = {a.id: a for a in Area.select().where(Area.path.startswith(area.path))}
    labels = []
    for building, units in units_of_area(area):
        grid = grids.get(building.area_id)
        community = None
        if grid is not None and grid.parent_id:
            community = grids.get(grid.parent_id) or Area.get_or_none(Area.id == grid.parent_id)
        for unit in units:
            labels.append(PosterLabel(
                token=unit.qr_token, community=community.name if community else area.name,
                grid=grid.name if grid else "", building=building.name, unit=unit.name,
                address=building.address or "",
            ))
    return labels


def label_for_unit(unit) -> PosterLabel:
    building = unit.building
    grid = building.area
    community = grid.parent if grid.parent_id else grid
    return PosterLabel(token=unit.qr_token, community=community.name, grid=grid.name,
                       building=building.name, unit=unit.name, address=building.address or "")
