"""Privacy rules as pure functions (DESIGN §11): sensitivity levels, retention periods, and
what a public output may show of a free text, an address or a point.

* Sensitivity, per category and copied onto each event when it is filed:
  ``public`` (may appear, masked, in public outputs), ``internal`` (staff only, by area),
  ``sensitive`` (only the holder, the holder's chain and the admin; every view audited).
  An anonymous report is treated like a sensitive one wherever people could be identified.
* ``scrub`` masks what identifies a person in a text: mobile and landline numbers, ID-card
  numbers, other long digit runs (bank cards, QQ) and personal names. Names are found by
  rules over the shared jieba segmenter (a surname followed by a word the dictionary does
  not know, "我叫…", "老王", "李阿姨"); it errs towards masking — a public text that loses
  a word is better than one that names a neighbour.
* ``snap`` rounds a point to 0.001° (≈ 110 m × 100 m at 24° N), so a public map shows the
  block, never the door.
"""
from __future__ import annotations

import re

from backend import segmenter
from backend.crypto import mask_id_number, mask_phone
from backend.phones import MOBILE_IN_TEXT

LEVELS = ("public", "internal", "sensitive")
LEVEL_NAMES = {"public": "公开", "internal": "内部", "sensitive": "敏感"}

DEFAULT_RETENTION_DAYS = 3 * 365
SENSITIVE_RETENTION_DAYS = 365
MIN_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 30 * 365
SNAP_DECIMALS = 3

# The most common surnames (about 85 % of the population); single characters only.
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤庄赖洪欧柯温康施牛葛涂翁")
# Characters that end a place or a phrase, never a given name: a token ending in one is not a name.
_NOT_NAME_END = frozenset("上下里内外边区路街巷楼栋号室门口家说的了在和跟与被把给是有很太都也就还又"
                          "这那哪些个位点处段桥河湖山村镇县市省站场店厂院园馆所队局")
_TITLES = ("阿姨", "叔叔", "大爷", "大妈", "大娘", "大叔", "奶奶", "爷爷", "婆婆", "伯伯", "老师", "师傅",
           "书记", "主任", "经理", "老板", "先生", "女士", "小姐", "医生", "警官", "队长", "站长", "老太",
           "老头", "某某", "某")
_PLACE_WORDS = ("小区", "社区", "花园", "大厦", "广场", "公园", "大道", "新村", "路", "街", "巷", "村", "镇", "区",
                "县", "市", "省", "河", "江", "湖", "山", "桥", "苑", "府", "城")
_CJK = r"[\u4e00-\u9fff]"
_SURNAME_CLASS = "[" + "".join(sorted(SURNAMES)) + "]"
_TITLE_RE = re.compile(f"({_SURNAME_CLASS})(?=({'|'.join(_TITLES)}))")
_OLD_YOUNG_RE = re.compile(f"(?<=[老小阿])({_SURNAME_CLASS})(?![\u4e00-\u9fff]{{2}}[区路楼])")
_INTRO_RE = re.compile(f"(我叫|我是|名叫|叫做|本人|姓名[:：]?|联系人[:：]?)({_SURNAME_CLASS}{_CJK}{{1,2}})")

_ID_NUMBER = re.compile(r"(?<![0-9Xx])(?:\d{17}[0-9Xx]|\d{15})(?![0-9Xx])")
_MOBILE = MOBILE_IN_TEXT  # the one mainland-mobile rule (backend/phones.py)
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}[- ]?\d{7,8}(?!\d)")
_LONG_DIGITS = re.compile(r"(?<!\d)\d{7,}(?!\d)")
_ROOM = re.compile(r"(单元|楼|栋|幢|座|号)(\s*)(\d{3,4})(?!\d)|(\d{1,4})(\s*)(室|户|号房)")


def _digits_only(value: str) -> str:
    return re.sub(r"\D", "", value)


def mask_numbers(text: str) -> str:
    """Phones, ID-card numbers and other long digit runs, masked (138****8000, 3506**********1234)."""
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    text = _MOBILE.sub(lambda m: mask_phone(_digits_only(m.group(0))[-11:]), text)
    text = _LANDLINE.sub(lambda m: mask_phone(_digits_only(m.group(0))), text)
    return _LONG_DIGITS.sub(lambda m: mask_phone(m.group(0)), text)


def _mask_word(word: str) -> str:
    return word[0] + "*" * (len(word) - 1)


def _is_cjk(word: str) -> bool:
    return bool(word) and all("\u4e00" <= ch <= "\u9fff" for ch in word)


def _looks_like_name(word: str) -> bool:
    return (2 <= len(word) <= 3 and word[0] in SURNAMES and _is_cjk(word)
            and word[-1] not in _NOT_NAME_END and segmenter.frequency(word) < 50)


def mask_names(text: str) -> str:
    """Personal names → surname + *, by the rules in the module docstring."""
    text = _INTRO_RE.sub(lambda m: m.group(1) + _mask_word(m.group(2)), text)
    text = _TITLE_RE.sub("*", text)
    text = _OLD_YOUNG_RE.sub("*", text)
    tokens = segmenter.tokenizer().lcut(text, HMM=True) + ["", ""]
    out: list[str] = []
    i = 0
    while i < len(tokens) - 2:
        word, following, after = tokens[i], tokens[i + 1], tokens[i + 2]
        if _looks_like_name(word) and not following.startswith(_PLACE_WORDS):
            out.append(_mask_word(word))
        elif (len(word) == 1 and word in SURNAMES and 1 <= len(following) <= 2 and _is_cjk(following)
              and following[-1] not in _NOT_NAME_END and segmenter.frequency(word + following) == 0
              and segmenter.frequency(following) < 300 and not after.startswith(_PLACE_WORDS)):
            out.append(word + "*" * len(following))
            i += 1
        else:
            out.append(word)
        i += 1
    return "".join(out)


def scrub(text: str | None, known: tuple[str, ...] = ()) -> str | None:
    """A free text with what identifies people masked; ``known`` strings (a resident's own
    nickname or phone, say) are removed wherever they appear, whatever the rules find."""
    if not text:
        return text
    for value in known:
        if value and len(value) >= 2:
            text = text.replace(value, "*" * len(value))
    return mask_names(mask_numbers(text))


def public_address(address: str | None) -> str | None:
    """An address without door, unit and room numbers: "金源小区3号楼2单元501室" → "金源小区3号楼2单元**室"."""
    if not address:
        return address
    address = mask_numbers(address)

    def hide(m: re.Match) -> str:
        if m.group(1):
            return m.group(1) + m.group(2) + "*" * len(m.group(3))
        return "*" * len(m.group(4)) + m.group(5) + m.group(6)

    return mask_names(_ROOM.sub(hide, address))


def snap(value: float | None) -> float | None:
    """A coordinate rounded to about 100 m."""
    return None if value is None else round(float(value), SNAP_DECIMALS)


def higher(a: str, b: str) -> str:
    """The stricter of two sensitivity levels."""
    return a if LEVELS.index(a) >= LEVELS.index(b) else b


def is_restricted(sensitivity: str, anonymous: bool) -> bool:
    """Seen only by the holder's chain: a sensitive case, or one whose reporter asked to stay unknown."""
    return sensitivity == "sensitive" or bool(anonymous)


def retention_days(sensitivity: str, configured: int | None) -> int:
    """How long a closed event keeps personal data: the category's setting, else by level."""
    if configured:
        return int(configured)
    return SENSITIVE_RETENTION_DAYS if sensitivity == "sensitive" else DEFAULT_RETENTION_DAYS


def check_retention_days(value) -> int | None:
    """A retention period typed by an admin: empty = default; 30 days to 30 years."""
    if value is None or str(value).strip() == "":
        return None
    from backend.errors import DomainError

    try:
        days = int(str(value).strip())
    except ValueError:
        raise DomainError("bad_retention", "保存期限应是天数（整数）") from None
    if days < MIN_RETENTION_DAYS:
        raise DomainError("retention_too_short", f"保存期限不能少于 {MIN_RETENTION_DAYS} 天：办结后还要回访、复核")
    if days > MAX_RETENTION_DAYS:
        raise DomainError("retention_too_long", "保存期限不能超过 30 年（10950 天）")
    return days
