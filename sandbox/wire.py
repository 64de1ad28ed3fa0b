"""The WeChat side of the callback protocol: build a push, encrypt and sign it, read the reply.

Safe mode, as WeChat sends it: query ``signature, timestamp, nonce, openid,
encrypt_type=aes, msg_signature``; body ``<xml><ToUserName/><Encrypt/></xml>`` where Encrypt
is AES-256-CBC over 16 random bytes + length + XML + AppId.
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
"""
from __future__ import annotations

import hashlib
import secrets
import struct
import time
from dataclasses import dataclass, field

import requests
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from xml.etree.ElementTree import ParseError

ACCOUNT_ID = "gh_ejia_sandbox"  # the official account's original id (ToUserName)
DEADLINE_S = 5.0  # WeChat's reply budget
MAX_REPLY = 256 * 1024


def cdata(value) -> str:
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(openid: str, create_time: int, msg_type: str, fields: dict, msg_id: int | None = None) -> str:
    """Plain push XML. ``fields`` values: str → CDATA, numbers as is, dict → nested element."""
    parts = [f"<ToUserName>{cdata(ACCOUNT_ID)}</ToUserName>", f"<FromUserName>{cdata(openid)}</FromUserName>",
             f"<CreateTime>{create_time}</CreateTime>", f"<MsgType>{cdata(msg_type)}</MsgType>"]
    parts += [_element(k, v) for k, v in fields.items()]
    if msg_id is not None:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"


def _element(name: str, value) -> str:
    if isinstance(value, dict):
        inner = "".join(_element(k, v) for k, v in value.items())
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        inner = repr(value) if isinstance(value, float) else str(value)
    else:
        inner = cdata(value)
    return f"<{name}>{inner}</{name}>"


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def encrypt_push(plain_xml: str, token: str, aes_key: str, app_id: str) -> tuple[dict, bytes]:
    """(query params, body) exactly as WeChat POSTs a safe-mode message."""
    timestamp = str(int(time.time()))
    nonce = str(secrets.randbelow(10**10))
    key = WeChatCrypto(token, aes_key, app_id).key
    encrypted = PrpCrypto(key).encrypt(plain_xml, app_id)
    encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
    openid = _between(plain_xml, "<FromUserName><![CDATA[", "]]></FromUserName>")
    params = {"signature": sha1_sorted(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
              "openid": openid, "encrypt_type": "aes", "msg_signature": sha1_sorted(token, timestamp, nonce, encrypted)}
    body = f"<xml><ToUserName>{cdata(ACCOUNT_ID)}</ToUserName><Encrypt>{cdata(encrypted)}</Encrypt></xml>"
    return params, body.encode("utf-8")


def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    j = text.find(end, i + len(start))
    return text[i + len(start):j] if i >= 0 and j >= 0 else ""


@dataclass
class Delivery:
    """What happened to one push: the reply as WeChat would show it, plus any protocol problems."""

    status: int | None = None
    elapsed_ms: int = 0
    reply: dict | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"status": self.status, "elapsed_ms": self.elapsed_ms, "reply": self.reply, "problems": self.problems}


def deliver(callback_url: str, plain_xml: str, *, token: str, aes_key: str, app_id: str, openid: str) -> Delivery:
    """POST the encrypted push and decode the answer like WeChat would."""
    params, body = encrypt_push(plain_xml, token, aes_key, app_id)
    out = Delivery()
    started = time.monotonic()
    try:
        res = requests.post(callback_url, params=params, data=body, timeout=DEADLINE_S + 1,
                            headers={"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0 (ejia sandbox)"})
    except requests.RequestException as exc:
        out.elapsed_ms = int((time.monotonic() - started) * 1000)
        out.problems.append(f"callback unreachable at {callback_url}: {exc.__class__.__name__}")
        return out
    out.elapsed_ms = int((time.monotonic() - started) * 1000)
    out.status = res.status_code
    if out.elapsed_ms > DEADLINE_S * 1000:
        out.problems.append("no answer within 5 s: WeChat would drop it and deliver again")
    if res.status_code != 200:
        out.problems.append(f"HTTP {res.status_code}: WeChat shows 该公众号暂时无法提供服务")
        return out
    text = res.content[:MAX_REPLY + 1].decode("utf-8", "replace").strip()
    if len(res.content) > MAX_REPLY:
        out.problems.append("reply larger than 256 KB")
        return out
    if text in ("", "success"):
        return out  # nothing to say: WeChat shows nothing
    out.reply = read_reply(text, token=token, aes_key=aes_key, app_id=app_id, openid=openid, problems=out.problems)
    return out


def read_reply(text: str, *, token: str, aes_key: str, app_id: str, openid: str, problems: list[str]) -> dict | None:
    try:
        root = ElementTree.fromstring(text)
    except (ParseError, DefusedXmlException) as exc:
        problems.append(f"reply is not valid XML ({exc.__class__.__name__}): WeChat shows 该公众号暂时无法提供服务")
        return None
    encrypted = root.findtext("Encrypt")
    if encrypted is None:
        problems.append("plaintext reply to a safe-mode (encrypt_type=aes) message")
    else:
        try:
            plain = WeChatCrypto(token, aes_key, app_id).decrypt_message(
                {"Encrypt": encrypted}, root.findtext("MsgSignature") or "",
                root.findtext("TimeStamp") or "", root.findtext("Nonce") or "")
            root = ElementTree.fromstring(plain)
        except InvalidSignatureException:
            problems.append("reply MsgSignature does not match")
            return None
        except InvalidAppIdException:
            problems.append("reply encrypted for another AppId")
            return None
        except (ParseError, DefusedXmlException, ValueError, IndexError, struct.error) as exc:
            problems.append(f"reply could not be decrypted ({exc.__class__.__name__})")
            return None
    return _reply_dict(root, openid, problems)


def _reply_dict(root, openid: str, problems: list[str]) -> dict:
    if root.findtext("ToUserName") != openid:
        problems.append("reply ToUserName is not the sender's openid")
    if root.findtext("FromUserName") != ACCOUNT_ID:
        problems.append(f"reply FromUserName is not the account id {ACCOUNT_ID}")
    kind = root.findtext("MsgType") or ""
    if kind == "text":
        return {"type": "text", "content": root.findtext("Content") or ""}
    if kind == "news":
        items = root.findall("Articles/item")
        if len(items) > 1:
            problems.append("more than 1 article in a passive reply")
        return {"type": "news", "articles": [{"title": i.findtext("Title"), "description": i.findtext("Description"),
                                              "url": i.findtext("Url"), "picurl": i.findtext("PicUrl")} for i in items]}
    if kind in ("image", "voice"):
        return {"type": kind, "media_id": root.findtext(f"{kind.capitalize()}/MediaId")}
    if kind == "transfer_customer_service":
        return {"type": kind}
    problems.append(f"unexpected reply MsgType {kind!r}")
    return {"type": kind or "unknown"}
