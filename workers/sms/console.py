"""The default SMS provider: nothing leaves the machine.

The "stored row" is the Notification row itself (channel ``sms``, ``payload.content.text``,
status ``sent``) that workers/sending.py writes around every send; this provider adds one
log line with the phone masked. Demo and test installations therefore show exactly which
texts would have gone out, and to whom, without a provider account.
"""
from __future__ import annotations

import logging

from backend.crypto import mask_phone
from workers.sms.base import SmsMessage

log = logging.getLogger("ejia.sms.console")


class ConsoleSms:
    name = "console"

    def __init__(self, settings=None):
        self.settings = settings

    def send(self, message: SmsMessage) -> dict:
        log.info("SMS (console) to %s [%s]: %s", mask_phone(message.phone), message.session, message.text)
        return {"provider": self.name, "to": mask_phone(message.phone)}
