"""The one interface every SMS provider implements, and its error."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SmsMessage:
    phone: str  # digits, mainland numbers without +86 (providers add what they need)
    template: str  # logical template: task / urgent / urge / overdue / remind
    params: list[str] = field(default_factory=list)  # template variables (Tencent)
    text: str = ""  # the rendered text (console provider, logs)
    session: str = ""  # our notification key, echoed back by providers that support it


class SmsError(Exception):
    """``kind`` as for WeChat errors: 'transient' (retry), 'permanent' (no retry, record),
    'quota' (pause the SMS channel), 'config' (operators must fix settings; alert)."""

    def __init__(self, code: str, message: str = "", kind: str = "transient"):
        super().__init__(f"{code}: {message} ({kind})")
        self.code = code
        self.message = message
        self.kind = kind


class SmsProvider(Protocol):
    name: str

    def send(self, message: SmsMessage) -> dict:
        """Send one SMS; returns provider facts to store (e.g. {"serial_no": …}); raises SmsError."""
        ...
