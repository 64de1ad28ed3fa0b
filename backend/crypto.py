"""Field encryption for personal data (DESIGN §6): AES-GCM at rest, HMAC blind index, masks.

Two sub-keys are derived from FIELD_KEY with HKDF so the index key never decrypts and the
encryption key never indexes. Ciphertext format: "v1:" + base64(nonce12 + ciphertext+tag).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(material: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ejia-field-key", info=info).derive(
        material.encode()
    )


@dataclass(frozen=True)
class FieldCipher:
    enc_key: bytes
    index_key: bytes

    @classmethod
    def from_key(cls, field_key: str) -> "FieldCipher":
        if not field_key:
            raise ValueError("FIELD_KEY is empty")
        return cls(_derive(field_key, b"enc"), _derive(field_key, b"index"))

    def encrypt(self, plaintext: str | None, context: str) -> str | None:
        """Encrypt; ``context`` (e.g. "person.id_number") is bound as associated data."""
        if plaintext is None or plaintext == "":
            return None
        nonce = os.urandom(12)
        sealed = AESGCM(self.enc_key).encrypt(nonce, plaintext.encode(), context.encode())
        return "v1:" + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, token: str | None, context: str) -> str | None:
        if not token:
            return None
        raw = base64.b64decode(token.removeprefix("v1:"))
        return AESGCM(self.enc_key).decrypt(raw[:12], raw[12:], context.encode()).decode()

    def blind_index(self, value: str | None, context: str) -> str | None:
        """Equality look-up without decrypting: HMAC-SHA256 of the normalised value."""
        if not value:
            return None
        normalised = value.strip().upper().replace(" ", "")
        return hmac.new(self.index_key, f"{context}:{normalised}".encode(), hashlib.sha256).hexdigest()


def mask_id_number(value: str | None) -> str | None:
    """350602199001011234 → 3506**********1234."""
    if not value:
        return value
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str | None:
    """13800138000 → 138****8000."""
    if not value:
        return value
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str | None:
    """张三丰 → 张**; staff names shown to residents."""
    if not value:
        return value
    return value[0] + "*" * (len(value) - 1 if len(value) > 1 else 1)
