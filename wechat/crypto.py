"""Callback signatures and the AES envelope of safe mode (消息加解密), with two keys for rotation.

Protocol (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html):
``signature = sha1(sorted([token, timestamp, nonce]))``; in safe mode
``msg_signature = sha1(sorted([token, timestamp, nonce, Encrypt]))``. EncodingAESKey is 43
base64 characters → a 32-byte key; AES-256-CBC with IV = key[:16]; the plaintext is 16
random bytes + 4-byte big-endian length + XML + AppId, PKCS#7-padded to 32-byte blocks.

Written on ``cryptography`` directly instead of wechatpy's ``PrpCrypto`` because the callback
needs what wechatpy 1.8 leaves out: constant-time signature comparison, strict padding and
length checks (a wrong key or a forged body must fail as ``DecryptError``, never as an
``IndexError`` that would become a 500), and two keys tried in turn during rotation.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class SignatureError(Exception):
    """The signature or msg_signature does not match: the sender does not know our token."""


class DecryptError(Exception):
    """The ciphertext does not open with any configured key."""


class AppIdMismatch(DecryptError):
    """The ciphertext opened, but it was sealed for another account's AppId."""


def sign(*parts: str) -> str:
    """SHA-1 hex digest over the parts sorted as byte strings and concatenated."""
    return hashlib.sha1(b"".join(sorted(p.encode() for p in parts))).hexdigest()


def signature_matches(expected_parts: tuple[str, ...], signature: str | None) -> bool:
    if not signature:
        return False
    # bytes, not str: compare_digest refuses non-ASCII str, and a query string can hold anything
    return hmac.compare_digest(sign(*expected_parts).encode(), signature.encode("utf-8", "replace"))


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 43-character EncodingAESKey → 32 key bytes (ValueError otherwise)."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes (43 characters)")
    return key


@dataclass(frozen=True)
class MessageCipher:
    """One EncodingAESKey bound to our AppId."""

    key: bytes
    app_id: str
    label: str = "current"  # "current" / "previous": which key opened a message (logged)
    _cipher: Cipher = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_cipher", Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])))

    def encrypt(self, xml: bytes) -> str:
        app_id = self.app_id.encode()
        body = secrets.token_hex(8).encode() + struct.pack(">I", len(xml)) + xml + app_id
        pad = BLOCK - len(body) % BLOCK
        body += bytes([pad]) * pad
        encryptor = self._cipher.encryptor()
        return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        """The XML inside ``encrypted``; raises DecryptError / AppIdMismatch."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError("ciphertext is not base64") from None
        if not raw or len(raw) % 16:
            raise DecryptError("ciphertext length is not a whole number of AES blocks")
        decryptor = self._cipher.decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise DecryptError("bad padding")
        content = plain[:-pad]
        if len(content) < 20:
            raise DecryptError("plaintext too short")
        (length,) = struct.unpack(">I", content[16:20])
        if 20 + length > len(content):
            raise DecryptError("declared XML length exceeds the plaintext")
        xml, app_id = content[20:20 + length], content[20 + length:]
        if not hmac.compare_digest(app_id, self.app_id.encode()):
            raise AppIdMismatch("ciphertext sealed for another AppId")
        return xml


class CallbackCrypto:
    """The token, our AppId and the current (then previous) EncodingAESKey of one account."""

    def __init__(self, token: str, app_id: str, aes_key: str = "", previous_aes_key: str = ""):
        self.token = token
        self.app_id = app_id
        ciphers = []
        for label, value in (("current", aes_key), ("previous", previous_aes_key)):
            if value:
                ciphers.append(MessageCipher(decode_aes_key(value), app_id, label))
        self.ciphers: tuple[MessageCipher, ...] = tuple(ciphers)

    @classmethod
    def from_settings(cls, settings) -> "CallbackCrypto":
        """Fails at start-up, naming the variable, when a configured key is not 43 base64 characters."""
        from backend.config import ConfigError

        for variable, value in (("WECHAT_AES_KEY", settings.wechat_aes_key),
                                ("WECHAT_AES_KEY_PREVIOUS", settings.wechat_aes_key_previous)):
            try:
                if value:
                    decode_aes_key(value)
            except ValueError as exc:
                raise ConfigError(f"{variable}: {exc}") from None
        return cls(settings.wechat_token, settings.wechat_app_id,
                   settings.wechat_aes_key, settings.wechat_aes_key_previous)

    def check_signature(self, signature: str | None, timestamp: str, nonce: str) -> None:
        """The plain ``signature`` of the URL check and of every push; raises SignatureError."""
        if not signature_matches((self.token, timestamp, nonce), signature):
            raise SignatureError("signature does not match")

    def open(self, encrypted: str, msg_signature: str | None, timestamp: str,
             nonce: str) -> tuple[bytes, MessageCipher]:
        """Check ``msg_signature`` and decrypt with the first key that works.

        Returns the inner XML and the cipher that opened it, so the reply is sealed with the
        same key (WeChat's advice during key rotation).
        """
        if not signature_matches((self.token, timestamp, nonce, encrypted), msg_signature):
            raise SignatureError("msg_signature does not match")
        error: DecryptError = DecryptError("no EncodingAESKey configured")
        for cipher in self.ciphers:
            try:
                return cipher.decrypt(encrypted), cipher
            except AppIdMismatch as exc:
                error = exc
            except DecryptError as exc:
                if not isinstance(error, AppIdMismatch):
                    error = exc
        raise error

    def seal(self, xml: str, cipher: MessageCipher, timestamp: str | None = None) -> str:
        """The encrypted reply envelope for ``xml`` (a passive reply)."""
        encrypted = cipher.encrypt(xml.encode())
        timestamp = timestamp or str(int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        signature = sign(self.token, timestamp, nonce, encrypted)
        return (f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
                f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
                f"<TimeStamp>{escape(timestamp)}</TimeStamp>"
                f"<Nonce><![CDATA[{nonce}]]></Nonce></xml>")
