"""Building-unit QR codes: one URL format that the chat scan and the mini-program both resolve.

A unit's QR encodes ``{PUBLIC_BASE_URL}/q/<qr_token>``. Anything scanned is accepted if its
path ends in ``/q/<token>`` (so a moved host still works) or is the bare token itself.
"""
from __future__ import annotations

import re
from urllib.parse import urlparse

from backend import config
from backend.models import BuildingUnit

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def unit_url(qr_token: str) -> str:
    return f"{config.current().public_base_url.rstrip('/')}/q/{qr_token}"


def parse_unit_token(scanned: str | None) -> str | None:
    """The token inside a scanned QR text, or None if it is not one of ours."""
    text = (scanned or "").strip()
    if not text or len(text) > 512:
        return None
    if TOKEN_RE.match(text):
        return text
    path = urlparse(text).path if "://" in text else text
    match = re.search(r"/q/([A-Za-z0-9_-]{8,64})/?$", path)
    return match.group(1) if match else None


def unit_for_scan(scanned: str | None) -> BuildingUnit | None:
    token = parse_unit_token(scanned)
    if token is None:
        return None
    return BuildingUnit.get_or_none(BuildingUnit.qr_token == token)
