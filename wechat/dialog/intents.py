"""Read what a person typed (or said) as one intent. Pure; shared by the engine and the fact gatherer.

Residents over sixty type loosely: full-width digits, a trailing “。”, “查 3号”, “５分 很满意”.
``normalise`` folds those (NFKC) so one small grammar covers them; anything else is plain text.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

TEXT_LIMIT = 1000  # a chat description or note longer than this is cut (with a notice)

CANCEL = {"取消", "算了", "不报了", "不要了", "退出", "取消上报", "不用了", "cancel"}
HELP = {"帮助", "help", "?", "菜单", "怎么用", "说明", "使用说明", "帮忙"}
PROGRESS = {"进度", "查询", "查进度", "我的", "我报的", "我的上报", "办理进度", "查看进度"}
REPORT = {"上报", "我要上报", "报事", "反映问题", "我要反映", "报告", "随手拍", "我要报事", "反映"}
TODO = {"待办", "任务", "我的任务", "待办事项", "待办任务"}
QUICK = ("即报即办",)
YES = {"确认", "是", "是的", "对", "对的", "好", "好的", "可以", "确定", "提交", "确认上报", "没问题", "ok", "yes"}
NO = {"不", "不是", "否", "不对", "no"}
SKIP = {"跳过", "没有", "没有照片", "不拍", "不用", "无", "不知道", "略过"}
DONE = {"完成", "好了", "发完了", "就这些", "没了", "发完", "完了", "结束"}
GREETING = {"你好", "您好", "在吗", "在不在", "hello", "hi", "你好啊", "您好啊", "有人吗"}
_COMPLAIN = re.compile(r"^(没修好|没有修好|没修|不满意|没解决|没有解决|没处理好|没弄好|还没好|还是老样子)[\s，,。.!！:：]*(.*)$", re.S)
REVISIT_ANSWERS = {"满意", "非常满意", "基本满意", "一般", "不满意", "很不满意", "非常不满意"}  # backend.services.revisits
_PHONE_LIKE = re.compile(r"^(?:手机|电话|手机号|我的电话|我的手机)?[:：\s]*\+?[\d\s\-()（）]{7,20}$")
MY_DATA = {"我的信息", "我的资料", "个人信息", "我的个人信息", "我的数据", "隐私"}
ERASE = {"删除我的信息", "删除我的资料", "删除个人信息", "删除我的个人信息", "删除我的数据", "注销", "注销账号"}

REF = r"(\d{8}-\d{1,4}|\d{12}|\d{1,4})"
_TRAILING = "。.!！~～、,，；;…"
_QUERY = re.compile(rf"^(?:查|查询|查看|查一下)\s*{REF}\s*号?$")
_WITHDRAW = re.compile(rf"^撤回\s*{REF}?\s*号?$")
_RATE_REF = re.compile(rf"^评价\s*{REF}\s*号?\s*([1-5])\s*分?\s*(.*)$", re.S)
_SCORE = re.compile(r"^([1-5])\s*(?:分|星)?(?:[\s，,。.!！、:：]+(.+))?$", re.S)
_SCORE_UNIT = re.compile(r"^([1-5])\s*(?:分|星)$")
_CHOICE = re.compile(r"^(?:第)?(\d{1,2})(?:个|项|号)?$")
_STAFF = re.compile(rf"^(接单|受理|办结|结案|退回|上报)\s*{REF}\s*号?(?:[\s，,:：]+(.*)|$)", re.S)
_BIND = re.compile(r"^绑定\s*[:：]?\s*([A-Za-z0-9]{4})\s*([A-Za-z0-9]{4})$")  # a binding code from the staff sheet
_STAFF_BARE = re.compile(r"^(接单|受理|办结|结案|退回)$")
_STAFF_ACTIONS = {"接单": "accept", "受理": "accept", "办结": "resolve", "结案": "resolve",
                  "退回": "return", "上报": "escalate"}
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class Intent:
    name: str  # cancel help progress query withdraw rate report todo quick staff choice yes no skip done greeting
    #           mydata erase complain phone bind text
    ref: str | None = None  # an event number as typed (full or short), normalised
    arg: str | None = None  # reason, note, comment, or a quick-record description
    number: int | None = None  # a numbered choice, or the score for ``rate``
    action: str | None = None  # staff: accept / resolve / return / escalate


def normalise(text: str | None) -> str:
    """NFKC (full-width → half-width), trimmed, inner runs of spaces folded, end punctuation dropped."""
    text = unicodedata.normalize("NFKC", text or "")
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(_TRAILING).strip()


def clip(text: str | None) -> tuple[str, bool]:
    """``text`` cut to TEXT_LIMIT characters (emoji and mixed scripts kept as they are)."""
    text = (text or "").strip()
    if len(text) > TEXT_LIMIT:
        return text[:TEXT_LIMIT], True
    return text, False


def normalise_ref(ref: str | None) -> str | None:
    """"202611260003" → "20261126-0003", "20261126-3" → "20261126-0003"; short numbers stay."""
    if not ref:
        return None
    if len(ref) == 12 and ref.isdigit():
        return f"{ref[:8]}-{ref[8:]}"
    if "-" in ref:
        day, seq = ref.split("-", 1)
        return f"{day}-{int(seq):04d}"
    return str(int(ref))


def is_full_number(ref: str | None) -> bool:
    return bool(ref) and "-" in ref


def cjk_count(text: str) -> int:
    return len(_CJK.findall(text or ""))


def meaningful(text: str | None, has_suggestion: bool = False) -> bool:
    """Worth keeping as a description: two Chinese characters, or words the categories know.

    Gibberish (“asdf”, “？？？”, a lone emoji) gets a hint and the same question instead.
    """
    return has_suggestion or cjk_count(text or "") >= 2


def parse(text: str | None) -> Intent:
    raw = normalise(text)
    low = raw.lower()
    if not raw:
        return Intent("text", arg="")
    if low in CANCEL:
        return Intent("cancel")
    if low in HELP or raw in ("？", "??"):
        return Intent("help")
    if raw in PROGRESS:
        return Intent("progress")
    if raw in MY_DATA:
        return Intent("mydata")
    if _PHONE_LIKE.match(raw) and 7 <= sum(ch.isdigit() for ch in raw) <= 15:
        return Intent("phone", arg=re.sub(r"^[^\d+]*", "", raw))
    match = _COMPLAIN.match(raw)
    if match:
        return Intent("complain", arg=match.group(2).strip() or match.group(1))
    if raw in ERASE:
        return Intent("erase")
    if raw in TODO:
        return Intent("todo")
    match = _BIND.match(raw)
    if match:
        return Intent("bind", arg=(match.group(1) + match.group(2)).upper())
    if raw in REPORT:
        return Intent("report")
    for word in QUICK:
        if raw.startswith(word):
            return Intent("quick", arg=raw[len(word):].strip(" ：:，,") or None)
    match = _QUERY.match(raw)
    if match:
        return Intent("query", ref=normalise_ref(match.group(1)))
    match = _WITHDRAW.match(raw)
    if match:
        return Intent("withdraw", ref=normalise_ref(match.group(1)))
    match = _RATE_REF.match(raw)
    if match:
        return Intent("rate", ref=normalise_ref(match.group(1)), number=int(match.group(2)),
                      arg=match.group(3).strip() or None)
    match = _STAFF.match(raw)
    if match:
        return Intent("staff", action=_STAFF_ACTIONS[match.group(1)], ref=normalise_ref(match.group(2)),
                      arg=(match.group(3) or "").strip() or None)
    match = _STAFF_BARE.match(raw)
    if match:
        return Intent("staff", action=_STAFF_ACTIONS[match.group(1)])
    match = _CHOICE.match(raw)
    if match:
        return Intent("choice", number=int(match.group(1)))
    match = _SCORE_UNIT.match(raw) or _SCORE.match(raw)
    if match:
        comment = match.group(2).strip() if match.re is _SCORE and match.group(2) else None
        return Intent("rate", number=int(match.group(1)), arg=comment)
    if low in YES:
        return Intent("yes")
    if low in NO:
        return Intent("no")
    if raw in SKIP:
        return Intent("skip")
    if raw in DONE:
        return Intent("done")
    if low in GREETING:
        return Intent("greeting")
    return Intent("text", arg=raw)
