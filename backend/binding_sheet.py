"""The sheet of one-time binding codes handed out after a staff import: A4 pages of slips
(two by four), each with the person's name, role and area, their code in large letters, until
when it works and how to use it — in the official account (发送“绑定 code”) or the
mini-program. A new console user's one-time password goes on their slip too.

Drawn like the QR posters (backend/posters.py): Pillow, bilevel 300 dpi pages, CJK font via
fontconfig (``posters.FontMissing`` names the package when there is none). The file holds
secrets: the CLI writes it readable by its owner only, the console lets it be downloaded once.
"""
from __future__ import annotations

from PIL import Image, ImageDraw

from backend.posters import _centered, _font, cut_sheets, pages_pdf

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
    """Bilevel A4 pages of slips; ``entries``: dicts with name, role, area, code, expires_at, and
    username/password when set."""
    return cut_sheets(entries, f"{title}　请沿虚线剪开，当面交给本人",
                      lambda page, draw, box, entry: _slip(draw, box, entry), PER_ROW, PER_COLUMN)


def sheet_pdf(entries: list[dict], title: str) -> bytes:
    return pages_pdf(sheet_pages(entries, title), title)
