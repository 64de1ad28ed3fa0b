"""Department webhook subscriptions (DESIGN §5 "report once, share everywhere").

A subscription is saved only with a URL the workers may safely call: http or https, a
host that resolves, and no address in a private, loopback, link-local, multicast, reserved
or unspecified range (no requests into our own network — SSRF). Loopback is allowed only
in the ``test`` and ``demo`` environments or with ``WEBHOOK_ALLOW_LOOPBACK=1``, so a demo
can point a department at a receiver on the same machine. The delivering worker checks
the address again before each POST (DNS may have changed since).
"""
from __future__ import annotations

import ipaddress
import secrets
import socket
from urllib.parse import urlsplit

from backend import config
from backend.db import transaction
from backend.errors import DomainError, NotFound
from backend.models import Category, Department, DepartmentSubscription

MAX_URL = 512


def loopback_allowed(settings: config.Settings | None = None) -> bool:
    settings = settings or config.current()
    flag = getattr(settings, "webhook_allow_loopback", None)
    if flag is None and settings.extra:
        raw = settings.extra.get("WEBHOOK_ALLOW_LOOPBACK")
        flag = config.parse_bool("WEBHOOK_ALLOW_LOOPBACK", raw) if raw else None
    return bool(flag) or settings.env in ("test", "demo")


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    for label, test in (("private", address.is_private), ("link-local", address.is_link_local),
                        ("multicast", address.is_multicast), ("reserved", address.is_reserved),
                        ("unspecified", address.is_unspecified)):
        if test:
            return label
    if not address.is_global:
        return "non-global"
    return None


def check_webhook_url(url: str, *, allow_loopback: bool | None = None) -> str:
    """The URL, trimmed, if workers may POST to it; DomainError naming the problem otherwise."""
    if allow_loopback is None:
        allow_loopback = loopback_allowed()
    url = (url or "").strip()
    if not url or len(url) > MAX_URL:
        raise DomainError("bad_webhook_url", f"请填写回调地址（不超过{MAX_URL}个字符）")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DomainError("bad_webhook_url", "回调地址格式不正确") from None
    if parts.scheme not in ("http", "https"):
        raise DomainError("bad_webhook_scheme", "回调地址只能以 http:// 或 https:// 开头")
    if not parts.hostname or parts.username or parts.password:
        raise DomainError("bad_webhook_url", "回调地址需要主机名，且不能包含用户名或密码")
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise DomainError("webhook_host_unknown", "回调地址的主机名无法解析") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        problem = _forbidden(address, allow_loopback)
        if problem:
            raise DomainError("webhook_private_address",
                              f"回调地址指向内部网络地址（{problem}），不允许", address=str(address))
    return url


def _category_codes(codes) -> list[str]:
    codes = [str(c).strip() for c in (codes or []) if str(c).strip()]
    if not codes:
        return []
    known = {c.code for c in Category.select(Category.code).where(Category.code.in_(codes))}
    unknown = sorted(set(codes) - known)
    if unknown:
        raise DomainError("unknown_category", f"没有这些类别：{', '.join(unknown)}")
    return sorted(set(codes))


def save_subscription(department_id: int, url: str, *, category_codes=(), secret: str | None = None,
                      active: bool = True, subscription_id: int | None = None) -> DepartmentSubscription:
    """Create or update a subscription; ``category_codes`` empty = every category.

    A code names a category or a whole 大类 ("03" covers "0301"). ``secret`` is generated
    (64 hex characters) when not given; departments read it once from the console.
    """
    url = check_webhook_url(url)
    codes = _category_codes(category_codes)
    if secret is not None and not 16 <= len(secret) <= 128:
        raise DomainError("bad_webhook_secret", "签名密钥需要 16 到 128 个字符")
    with transaction():
        if Department.get_or_none(Department.id == department_id) is None:
            raise NotFound("department_not_found", "没有这个部门")
        if subscription_id is None:
            return DepartmentSubscription.create(department=department_id, url=url, category_codes=codes,
                                                 secret=secret or secrets.token_hex(32), active=active)
        subscription = DepartmentSubscription.get_or_none(DepartmentSubscription.id == subscription_id)
        if subscription is None or subscription.department_id != department_id:
            raise NotFound("subscription_not_found", "没有这个订阅")
        subscription.url, subscription.category_codes, subscription.active = url, codes, active
        if secret:
            subscription.secret = secret
        subscription.save()
        return subscription


def deactivate_subscription(subscription_id: int) -> None:
    updated = (DepartmentSubscription.update(active=False)
               .where(DepartmentSubscription.id == subscription_id).execute())
    if not updated:
        raise NotFound("subscription_not_found", "没有这个订阅")


def matches(subscription: DepartmentSubscription, category_code: str | None) -> bool:
    """Does a subscription want events of this category? (Empty list: all.)"""
    codes = subscription.category_codes or []
    if not codes:
        return True
    return bool(category_code) and any(category_code.startswith(code) for code in codes)


WEBHOOK_RETRY_TOPIC = "webhook.retry"


def request_retry(delivery_id: int, scope_path: str | None) -> str:
    """重试 a failed department webhook delivery: recorded as an outbox fact; the workers
    enqueue the delivery (the console never talks to the queues). Returns what was done:
    ``queued``, ``delivered`` (already succeeded) or ``inactive``."""
    from backend import outbox
    from backend.models import Area, WebhookDelivery

    delivery = WebhookDelivery.get_or_none(WebhookDelivery.id == delivery_id)
    if delivery is None or delivery.outbox_id is None:
        raise NotFound("delivery_not_found", "没有这条投递记录")
    subscription = DepartmentSubscription.get_by_id(delivery.subscription_id)
    area = Area.get_or_none(Area.id == subscription.department.area_id) if subscription.department.area_id else None
    if scope_path and (area is None or not area.path.startswith(scope_path)):
        raise NotFound("delivery_not_found", "没有这条投递记录")
    if WebhookDelivery.select().where((WebhookDelivery.subscription == subscription.id)
                                      & (WebhookDelivery.outbox == delivery.outbox_id)
                                      & (WebhookDelivery.ok == True)).exists():  # noqa: E712
        return "delivered"
    if not subscription.active:
        return "inactive"
    with transaction():
        message = outbox.record(WEBHOOK_RETRY_TOPIC, None, None,
                                {"subscription_id": subscription.id, "outbox_id": delivery.outbox_id})
    outbox.publish([message.id])
    return "queued"
