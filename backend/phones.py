"""One rule for mainland mobile numbers (中国大陆手机号), wherever a phone is typed, matched or
masked: 11 digits, 1 then 3–9 then nine more. Spaces, dashes, brackets and a +86 / 0086
prefix are what people type around it; anything else — a 14-digit "mobile", a landline — is
refused, so a phone stored anywhere is one an SMS can reach.
"""
from __future__ import annotations

import re

MOBILE = re.compile(r"1[3-9]\d{9}")
#: A mobile number inside free text (a report's description), as people write it there — with
#: +86, spaces or dashes (138-0013-8000) — and not part of a longer number.
MOBILE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_DECORATION = re.compile(r"[\s\-()（）]")


def normalise_mobile(raw: str | None) -> str | None:
    """'+86 138-0013-8000' → '13800138000'; None when it is not a mainland mobile number."""
    value = _DECORATION.sub("", raw or "")
    for prefix in ("+86", "0086"):
        if value.startswith(prefix):
            value = value[len(prefix):]
            break
    return value if MOBILE.fullmatch(value) else None
