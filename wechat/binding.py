"""The staff-binding QR: a one-time token (backend.services.staff) shown as a WeChat QR.

WeChat turns ``bind:<token>`` into a temporary parametric QR; a staff member who scans it
sends us ``subscribe_scan`` (first follow) or ``SCAN`` with that scene, and the dialog binds
their openid. The token is created first: if WeChat then fails, the unused token simply expires.
https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from backend import clock
from backend.services import staff as staff_service

SCENE_PREFIX = "bind:"


@dataclass(frozen=True)
class BindQr:
    staff_id: int
    name: str
    scene: str
    expires_at: str  # ISO 8601, local time
    ticket: str
    qrcode_url: str  # the picture (showqrcode)
    content: str  # what the QR encodes

    def to_dict(self) -> dict:
        return asdict(self)


def make_bind_qr(staff_id: int, account, expire_seconds: int = staff_service.BIND_TOKEN_SECONDS) -> BindQr:
    """Create the token and its QR through ``account`` (a ``wechat.client.OfficialAccount``)."""
    staff, token, expires_at = staff_service.create_bind_token(staff_id, expire_seconds)
    scene = SCENE_PREFIX + token
    qr = account.create_temp_qrcode(scene_str=scene, expire_seconds=expire_seconds)
    return BindQr(staff_id=staff.id, name=staff.name, scene=scene, expires_at=clock.iso(expires_at),
                  ticket=qr["ticket"], qrcode_url=account.qrcode_image_url(qr["ticket"]), content=qr.get("url", ""))
