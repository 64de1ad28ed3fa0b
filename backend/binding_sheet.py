"""The sheet of one-time binding codes handed out after a staff import: A4 pages of slips
(two by four), each with the person's name, role and area, their code in large letters, until
when it works and how to use it — in the official account (发送“绑定 code”) or the
mini-program. A new console user's one-time password goes on their slip too.

Drawn like the QR posters (backend/posters.py): Pillow, bilevel 300 dpi pages, CJK font via
fontconfig (``posters.FontMissing`` names the package when there is none). The file holds
secrets: the CLI writes it readable by its owner only, the console lets it be downloaded once.
"""
from __future__ import annotations

import io

from PIL import Image, ImageDraw

from backend.posters import A4_MM, DPI, _centered, _font

PER_ROW, PER_COLUMN = 2, 4


def _slip(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], entry: dict) -> None:
    left, top, right, bottom = box
    height = bottom - top
    y = top + int(height * 0.05)
    y = _centered(draw, box, y, "e家 · 工作人员微信绑定", _font(int(height * 0.075)), 0)
    y = _centered(draw, box, y + int(height * 0.02), f"{entry['name']}　{entry['role']}", _font(int(height * 0.09)), 0)
    y = _centered(draw, box, y, entry["area"], _font(int(height * 0.06)), 0)
    if entry.get("code"):
        y = _centered(draw, box, y + int(height * 0.03), " ".join(entry["code"][i:i + 4] for i in (0, 4)),
                      _font(int(height * 0.15)), 0)
        y = _centered(draw, box, y, f"有效期至 {entry['expires_at']}，只能用一次", _font(int(height * 0.05)), 0)
        y = _centered(draw, box, y + int(height * 0.02), f"公众号里发送：绑定 {entry['code']}", _font(int(height * 0.055)), 0)
        y = _centered(draw, box, y, "或在小程序“工作人员绑定”里输入绑定码", _font(int(height * 0.05)), 0)
    else:
        y = _centered(draw, box, y + int(height * 0.06), "已绑定微信，无需再绑定", _font(int(height * 0.07)), 0)
    if entry.get("password"):
        _centered(draw, box, y + int(height * 0.02),
                  f"管理后台 登录名 {entry['username']}　一次性密码 {entry['password']}（首次登录后修改）",
                  _font(int(height * 0.045)), 0)


def sheet_pages(entries: list[dict], title: str) -> list[Image.Image]:
    """Bilevel A4 pages; ``entries``: dicts with name, role, area, code, expires_at, and
    username/password when set."""
    page_w, page_h = (round(mm / 25.4 * DPI) for mm in A4_MM)
    margin = round(10 / 25.4 * DPI)
    title_h = round(12 / 25.4 * DPI)
    cell_w = (page_w - 2 * margin) // PER_ROW
    cell_h = (page_h - 2 * margin - title_h) // PER_COLUMN
    per_page = PER_ROW * PER_COLUMN
    total = max(1, -(-len(entries) // per_page))
    pages = []
    for number in range(total):
        page = Image.new("L", (page_w, page_h), 255)
        draw = ImageDraw.Draw(page)
        _centered(draw, (0, 0, page_w, page_h), margin, f"{title}　第 {number + 1}/{total} 页　请沿虚线剪开，当面交给本人",
                  _font(round(title_h * 0.45)), 0)
        for slot, entry in enumerate(entries[number * per_page:(number + 1) * per_page]):
            x0 = margin + (slot % PER_ROW) * cell_w
            y0 = margin + title_h + (slot // PER_ROW) * cell_h
            pad = round(3 / 25.4 * DPI)
            _slip(draw, (x0 + pad, y0 + pad, x0 + cell_w - pad, y0 + cell_h - pad), entry)
            for dash in range(x0, x0 + cell_w, 40):
                for y in (y0, y0 + cell_h):
                    draw.line((dash, y, min(dash + 20, x0 + cell_w), y), fill=120, width=2)
            for dash in range(y0, y0 + cell_h, 40):
                for x in (x0, x0 + cell_w):
                    draw.line((x, dash, x, min(dash + 20, y0 + cell_h)), fill=120, width=2)
        pages.append(page.point(lambda v: 255 if v > 140 else 0, mode="1"))
    return pages


def sheet_pdf(entries: list[dict], title: str) -> bytes:
    pages = sheet_pages(entries, title)
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=DPI, title=title,
                  author="e家", producer="e家")
    return out.getvalue()
