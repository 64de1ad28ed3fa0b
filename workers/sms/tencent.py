"""Tencent Cloud SMS through the official SDK (tencentcloud-sdk-python-sms, API 2021-01-11).

https://cloud.tencent.com/document/product/382/55981 (SendSms) ·
https://cloud.tencent.com/document/api/382/52075 (error codes)

Endpoint and scheme are settings so the tests (and a demo) reach the sandbox's SendSms
stand-in over plain HTTP; requests are signed with TC3-HMAC-SHA256 by the SDK either way.
"""
from __future__ import annotations

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client

from backend.config import Settings
from workers.context import option
from workers.sms.base import SmsError, SmsMessage

PARAM_MAX = 20  # per-variable length; Tencent varies it by variable type (unconfirmed: check the console)
DEFAULT_TEMPLATES = "task=1000001,urgent=1000002,urge=1000003,overdue=1000004,remind=1000005"
QUOTA_CODES = ("LimitExceeded.AppDailyLimit", "LimitExceeded.DailyLimit", "FailedOperation.InsufficientBalanceInSmsPackage")
TRANSIENT_PREFIXES = ("InternalError", "RequestLimitExceeded", "ClientNetworkError", "ServerNetworkError",
                      "LimitExceeded.PhoneNumberThirtySecondLimit", "LimitExceeded.PhoneNumberOneHourLimit")
CONFIG_PREFIXES = ("AuthFailure", "UnauthorizedOperation", "FailedOperation.SignatureIncorrectOrUnapproved",
                   "FailedOperation.TemplateIncorrectOrUnapproved", "InvalidParameterValue.TemplateParameterFormatError")


def classify(code: str) -> str:
    if code in QUOTA_CODES:
        return "quota"
    if code.startswith(TRANSIENT_PREFIXES):
        return "transient"
    if code.startswith(CONFIG_PREFIXES):
        return "config"
    return "permanent"


def parse_templates(raw: str) -> dict[str, str]:
    """"task=1000001,remind=1000005" → {"task": "1000001", …}."""
    out = {}
    for part in (raw or "").split(","):
        name, _, template_id = part.partition("=")
        if name.strip() and template_id.strip():
            out[name.strip()] = template_id.strip()
    return out


class TencentSms:
    name = "tencent"

    def __init__(self, settings: Settings):
        self.settings = settings  # held: the provider cache is keyed by id(settings)
        self.secret_id = option(settings, "sms_tencent_secret_id", "")
        secret_key = option(settings, "sms_tencent_secret_key", "")
        self.sdk_app_id = option(settings, "sms_tencent_sdk_app_id", "1400000000")
        self.sign_name = option(settings, "sms_tencent_sign_name", "e家")
        self.templates = parse_templates(option(settings, "sms_tencent_templates", DEFAULT_TEMPLATES))
        if not self.secret_id or not secret_key:
            raise SmsError("Config", "SMS_TENCENT_SECRET_ID and SMS_TENCENT_SECRET_KEY are required", "config")
        http = HttpProfile(protocol=option(settings, "sms_tencent_scheme", "https"),
                           endpoint=option(settings, "sms_tencent_endpoint", "sms.tencentcloudapi.com"),
                           reqTimeout=10)
        profile = ClientProfile(httpProfile=http)
        profile.disable_region_breaker = True  # one call per job; RQ does the retrying
        self.client = sms_client.SmsClient(credential.Credential(self.secret_id, secret_key),
                                           option(settings, "sms_tencent_region", "ap-guangzhou"), profile)

    def send(self, message: SmsMessage) -> dict:
        template_id = self.templates.get(message.template) or self.templates.get("task")
        if not template_id:
            raise SmsError("Config", f"no Tencent template id for {message.template!r}", "config")
        request = models.SendSmsRequest()
        phone = message.phone if message.phone.startswith("+") else f"+86{message.phone}"
        request.from_json_string(_json({
            "PhoneNumberSet": [phone], "SmsSdkAppId": self.sdk_app_id, "SignName": self.sign_name,
            "TemplateId": template_id, "TemplateParamSet": [p[:PARAM_MAX] for p in message.params],
            "SessionContext": message.session[:512],
        }))
        try:
            response = self.client.SendSms(request)
        except TencentCloudSDKException as exc:
            code = exc.get_code() or "ClientNetworkError"
            raise SmsError(code, exc.get_message() or "", classify(code)) from None
        status = response.SendStatusSet[0] if response.SendStatusSet else None
        if status is None:
            raise SmsError("EmptyResponse", "SendSms answered no status", "transient")
        if status.Code != "Ok":
            raise SmsError(status.Code, status.Message or "", classify(status.Code))
        return {"provider": self.name, "serial_no": status.SerialNo, "request_id": response.RequestId}


def _json(data: dict) -> str:
    import json

    return json.dumps(data, ensure_ascii=False)
