"""wechat/crypto.py against an encoder written here from the protocol text, on `cryptography`.

WeChat's side, as documented: AES-256-CBC with IV = key[:16]; plaintext = 16 random bytes +
4-byte big-endian XML length + XML + AppId, PKCS#7-padded to 32-byte blocks; base64.
Signatures: SHA-1 over the sorted token, timestamp, nonce (and Encrypt) concatenated.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import struct

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from wechat.crypto import AppIdMismatch, CallbackCrypto, DecryptError, SignatureError, decode_aes_key

TOKEN = "ejiatesttoken"
APP_ID = "wx1234567890abcdef"
KEY_OLD = base64.b64encode(hashlib.sha256(b"old").digest()).decode().rstrip("=")
KEY_NEW = base64.b64encode(hashlib.sha256(b"new").digest()).decode().rstrip("=")
KEY_OTHER = base64.b64encode(hashlib.sha256(b"other").digest()).decode().rstrip("=")


# ------------------------------------------------------------ WeChat's side, from the protocol

def _aes(key43: str) -> Cipher:
    key = base64.b64decode(key43 + "=")
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def their_encrypt(xml: bytes, key43: str, app_id: str = APP_ID, random16: bytes | None = None) -> str:
    plain = (random16 or os.urandom(16)) + struct.pack(">I", len(xml)) + xml + app_id.encode()
    padder = padding.PKCS7(256).padder()  # 256 bits = WeChat's 32-byte blocks
    padded = padder.update(plain) + padder.finalize()
    encryptor = _aes(key43).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def their_decrypt(encrypted: str, key43: str) -> tuple[bytes, str, int]:
    """(xml, app_id, padded length) — the padded length must be a multiple of 32."""
    decryptor = _aes(key43).decryptor()
    padded = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    unpadder = padding.PKCS7(256).unpadder()
    plain = unpadder.update(padded) + unpadder.finalize()
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20:20 + length], plain[20 + length:].decode(), len(padded)


def their_sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def crypto(previous: str = "") -> CallbackCrypto:
    return CallbackCrypto(TOKEN, APP_ID, KEY_NEW, previous)


def push(xml: bytes, key43: str = KEY_NEW, app_id: str = APP_ID) -> tuple[str, str, str, str]:
    encrypted = their_encrypt(xml, key43, app_id)
    timestamp, nonce = "1700000000", "271828"
    return encrypted, their_sign(TOKEN, timestamp, nonce, encrypted), timestamp, nonce


# ------------------------------------------------------------ tests

def test_encoding_aes_key_is_43_base64_characters():
    assert decode_aes_key(KEY_NEW) == hashlib.sha256(b"new").digest()
    for bad in (KEY_NEW[:-1], KEY_NEW + "A", "!" * 43):
        with pytest.raises(ValueError):
            decode_aes_key(bad)


def test_known_vector_opens():
    xml = b"<xml><Content><![CDATA[hi]]></Content></xml>"
    encrypted = their_encrypt(xml, KEY_NEW, random16=b"0123456789abcdef")
    assert encrypted == their_encrypt(xml, KEY_NEW, random16=b"0123456789abcdef")  # deterministic given r
    opened, cipher = crypto().open(encrypted, their_sign(TOKEN, "1", "2", encrypted), "1", "2")
    assert opened == xml and cipher.label == "current"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_we_open_what_wechat_sealed(content):
    xml = f"<xml><Content><![CDATA[{content}]]></Content></xml>".encode()
    opened, _ = crypto().open(*push(xml))
    assert opened == xml


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_wechat_opens_what_we_sealed(content):
    ours = crypto()
    xml = f"<xml><Content><![CDATA[{content}]]></Content></xml>"
    envelope = ours.seal(xml, ours.ciphers[0], timestamp="1700000001")
    encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", envelope).group(1)
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", envelope).group(1)
    nonce = re.search(r"<Nonce><!\[CDATA\[(.*?)\]\]>", envelope).group(1)
    assert "<TimeStamp>1700000001</TimeStamp>" in envelope
    assert signature == their_sign(TOKEN, "1700000001", nonce, encrypted)
    opened, app_id, padded = their_decrypt(encrypted, KEY_NEW)
    assert (opened.decode(), app_id, padded % 32) == (xml, APP_ID, 0)


def test_every_padding_length_round_trips():
    ours = crypto()
    for size in range(0, 70):  # covers pad 1 … 32, including a whole extra block
        xml = b"x" * size
        assert ours.open(*push(xml))[0] == xml
        assert their_decrypt(ours.ciphers[0].encrypt(xml), KEY_NEW)[0] == xml


def test_plain_signature():
    ours = crypto()
    ours.check_signature(their_sign(TOKEN, "1700000000", "42"), "1700000000", "42")
    for bad in (None, "", "0" * 40, their_sign("other", "1700000000", "42"), "签名" * 20):
        with pytest.raises(SignatureError):
            ours.check_signature(bad, "1700000000", "42")


def test_msg_signature_covers_the_ciphertext():
    encrypted, signature, timestamp, nonce = push(b"<xml/>")
    other = their_encrypt(b"<xml/>", KEY_NEW)
    with pytest.raises(SignatureError):
        crypto().open(other, signature, timestamp, nonce)
    with pytest.raises(SignatureError):
        crypto().open(encrypted, their_sign(TOKEN, timestamp, nonce), timestamp, nonce)


def test_rotation_accepts_the_previous_key_and_replies_with_it():
    ours = crypto(previous=KEY_OLD)
    xml, cipher = ours.open(*push(b"<xml>old</xml>", KEY_OLD))
    assert (xml, cipher.label) == (b"<xml>old</xml>", "previous")
    reply = re.search(r"CDATA\[(.*?)\]\]></Encrypt>", ours.seal("<xml>re</xml>", cipher)).group(1)
    assert their_decrypt(reply, KEY_OLD)[0] == b"<xml>re</xml>"
    with pytest.raises(ValueError):  # not sealed with the current key
        their_decrypt(reply, KEY_NEW)
    assert ours.open(*push(b"<xml>new</xml>", KEY_NEW))[1].label == "current"


def test_unknown_key_is_refused():
    for ours in (crypto(), crypto(previous=KEY_OLD)):
        with pytest.raises(DecryptError):
            ours.open(*push(b"<xml>x</xml>", KEY_OTHER))


def test_previous_key_is_not_accepted_without_rotation():
    with pytest.raises(DecryptError):
        crypto().open(*push(b"<xml>x</xml>", KEY_OLD))


def test_other_app_id_is_refused_with_either_key():
    for key in (KEY_NEW, KEY_OLD):
        with pytest.raises(AppIdMismatch):
            crypto(previous=KEY_OLD).open(*push(b"<xml>x</xml>", key, app_id="wxevil000000000000"))
    with pytest.raises(AppIdMismatch):  # a prefix of our AppId is not our AppId
        crypto().open(*push(b"<xml>x</xml>", app_id=APP_ID[:-1]))


def _signed(encrypted: str) -> tuple[str, str, str, str]:
    return encrypted, their_sign(TOKEN, "1", "2", encrypted), "1", "2"


def test_damaged_ciphertexts_fail_as_decrypt_errors():
    good = base64.b64decode(their_encrypt(b"<xml>ok</xml>", KEY_NEW))
    damaged = [
        "not base64 at all!", "", base64.b64encode(good[:-5]).decode(), base64.b64encode(good[:16]).decode(),
        base64.b64encode(good[:-1] + bytes([good[-1] ^ 1])).decode(),  # padding garbled
    ]
    # declared XML length larger than the plaintext
    plain = os.urandom(16) + struct.pack(">I", 10**6) + b"<xml/>" + APP_ID.encode()
    padder = padding.PKCS7(256).padder()
    encryptor = _aes(KEY_NEW).encryptor()
    damaged.append(base64.b64encode(encryptor.update(padder.update(plain) + padder.finalize())
                                    + encryptor.finalize()).decode())
    for encrypted in damaged:
        with pytest.raises(DecryptError):
            crypto(previous=KEY_OLD).open(*_signed(encrypted))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=200))
def test_random_bytes_never_raise_anything_but_decrypt_error(raw):
    with pytest.raises(DecryptError):
        crypto(previous=KEY_OLD).open(*_signed(base64.b64encode(raw).decode()))


def test_interoperates_with_wechatpy_too():
    from wechatpy.crypto import WeChatCrypto

    theirs, ours = WeChatCrypto(TOKEN, KEY_NEW, APP_ID), crypto()
    envelope = theirs.encrypt_message("<xml>wechatpy</xml>", "99", "1700000002")
    encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", envelope).group(1)
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", envelope).group(1)
    assert ours.open(encrypted, signature, "1700000002", "99")[0] == b"<xml>wechatpy</xml>"
    sealed = ours.seal("<xml>ours</xml>", ours.ciphers[0], "1700000003")
    nonce = re.search(r"<Nonce><!\[CDATA\[(.*?)\]\]>", sealed).group(1)
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", sealed).group(1)
    assert theirs.decrypt_message(sealed, signature, "1700000003", nonce) == "<xml>ours</xml>"


def test_a_malformed_key_stops_start_up_naming_the_variable():
    from backend.config import ConfigError, load_settings

    bad = load_settings(environ={}, env="test", wechat_aes_key_previous="too-short")
    with pytest.raises(ConfigError, match="WECHAT_AES_KEY_PREVIOUS"):
        CallbackCrypto.from_settings(bad)
    assert CallbackCrypto.from_settings(load_settings(environ={}, env="test")).ciphers
