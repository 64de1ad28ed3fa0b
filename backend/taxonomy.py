"""Default event categories for 平安/综治 grids and a keyword suggester.

``DEFAULT_CATEGORIES`` is plain data, one dict per row, 大类 first and its 小类 after it.
Keys mirror ``backend.models.Category`` except two that hold codes the seeder resolves:
``parent`` (the 大类 code, None for a 大类) and ``default_department`` (the department
kind stored in ``Category.default_department_kind``: 'cgb' 城管办, 'mzb' 民政办,
'wjb' 卫健办, 'pcs' 派出所, or None).
Codes follow GB/T 30428: 2-digit 大类, 4-digit 小类 that starts with its 大类 code.
``plain_name`` is what a resident over sixty would say; ``keywords`` are the words and
synonyms residents type. Urgent categories count their limits in natural hours.

``suggest`` ranks 小类 for free text so the resident picks from words they know.
"""
from __future__ import annotations

import functools
from typing import Any, Iterable

from backend import segmenter, suggester
from backend.category_words import KEYWORDS

OTHER_CODE = "9999"

_DISPUTE = dict(photo=False, resolve=(5, "work_days"), sensitivity="sensitive")
_SENSITIVE = dict(sensitivity="sensitive")
_URGENT = dict(urgent=True, accept=(1, "hours"), resolve=(24, "hours"), verify=(24, "hours"))
_SERVICE = dict(photo=False, resolve=(5, "work_days"), sensitivity="internal")
# Emergencies: filed for the record and pushed to grid, community and centre at once, while the
# resident is told to call the number (FixMyStreet: a category that stops the form and redirects).
_EMERGENCY = dict(urgent=True, photo=False, accept=(1, "hours"), resolve=(24, "hours"), verify=(24, "hours"),
                  sensitivity="internal")


def _major(code, name, plain_name, department=None, urgent=False, sensitivity="public"):
    return _row(code, None, name, plain_name, (), department, urgent=urgent, sensitivity=sensitivity)


def _minor(code, name, plain_name, keywords, department=None, **limits):
    return _row(code, code[:2], name, plain_name, keywords, department, **limits)


def _row(code, parent, name, plain_name, keywords, department, *, urgent=False, photo=True,
         accept=(4, "work_hours"), resolve=(5, "work_days"), verify=(2, "work_days"), sensitivity="public",
         emergency=None):
    return {
        "code": code, "parent": parent, "name": name, "plain_name": plain_name,
        "keywords": list(keywords), "default_department": department, "urgent": urgent,
        "accept_limit": accept[0], "accept_unit": accept[1],
        "resolve_limit": resolve[0], "resolve_unit": resolve[1],
        "verify_limit": verify[0], "verify_unit": verify[1],
        "photo_required": photo, "sensitivity": sensitivity, "emergency_number": emergency,
    }


DEFAULT_CATEGORIES: list[dict[str, Any]] = [
    _major("01", "矛盾纠纷", "吵架、闹矛盾", sensitivity="sensitive"),
    _minor("0101", "邻里纠纷", "和邻居闹矛盾", KEYWORDS["0101"], **_DISPUTE),
    _minor("0102", "婚姻家庭", "家里人闹矛盾", KEYWORDS["0102"], **_DISPUTE),
    _minor("0103", "物业管理", "和物业有矛盾", KEYWORDS["0103"], **_DISPUTE),
    _minor("0104", "劳资纠纷", "老板欠工资", KEYWORDS["0104"], **_DISPUTE),
    _minor("0105", "征地拆迁", "拆迁补偿有意见", KEYWORDS["0105"], **_DISPUTE),
    _minor("0106", "房屋宅基地", "宅基地、房子地界有争议", KEYWORDS["0106"], **_DISPUTE),
    _minor("0107", "医患纠纷", "看病起了纠纷", KEYWORDS["0107"], "wjb", **_DISPUTE),
    _minor("0108", "家庭暴力", "家里有人挨打", KEYWORDS["0108"], "pcs", urgent=True, photo=False,
           accept=(1, "hours"), resolve=(24, "hours"), verify=(24, "hours"), sensitivity="sensitive"),

    _major("02", "治安防控", "治安、防盗防骗", "pcs", sensitivity="sensitive"),
    _minor("0201", "治安隐患", "治安不好、有人偷东西", KEYWORDS["0201"], "pcs",
           accept=(2, "work_hours"), resolve=(3, "work_days"), **_SENSITIVE),
    _minor("0202", "可疑人员", "有可疑的人", KEYWORDS["0202"], "pcs", photo=False, **_URGENT, **_SENSITIVE),
    _minor("0203", "诈骗线索", "有人骗钱", KEYWORDS["0203"], "pcs", photo=False, resolve=(3, "work_days"), **_SENSITIVE),

    _major("03", "消防隐患", "有着火的危险", urgent=True),
    _minor("0301", "楼道堆物", "楼道里堆了东西", KEYWORDS["0301"], **_URGENT),
    _minor("0302", "电动车室内充电", "电动车在家里充电", KEYWORDS["0302"], **_URGENT),
    _minor("0303", "私拉电线", "乱拉电线", KEYWORDS["0303"], **_URGENT),
    _minor("0304", "燃气隐患", "煤气味、燃气泄漏", KEYWORDS["0304"], urgent=True, accept=(1, "hours"), resolve=(4, "hours"),
           verify=(24, "hours")),
    _minor("0305", "其他消防隐患", "有着火的危险", KEYWORDS["0305"], **_URGENT),

    _major("04", "安全生产", "工厂、工地、房子不安全", urgent=True),
    _minor("0401", "生产经营安全", "工厂、店铺不安全", KEYWORDS["0401"], **_URGENT),
    _minor("0402", "建筑施工安全", "工地不安全", KEYWORDS["0402"], **_URGENT),
    _minor("0403", "房屋安全", "房子有危险", KEYWORDS["0403"], **_URGENT),

    _major("05", "环境卫生", "垃圾、脏乱、污水", "cgb"),
    _minor("0501", "暴露垃圾", "垃圾没人清", KEYWORDS["0501"], "cgb", accept=(2, "work_hours"), resolve=(4, "work_hours")),
    _minor("0502", "乱堆物料", "路边乱堆东西", KEYWORDS["0502"], "cgb", resolve=(1, "work_days")),
    _minor("0503", "污水", "污水横流、下水道堵了", KEYWORDS["0503"], "cgb", resolve=(2, "work_days")),
    _minor("0504", "道路不洁", "路面脏", KEYWORDS["0504"], "cgb", accept=(1, "work_hours"), resolve=(2, "work_hours")),

    _major("06", "违法建设", "乱搭乱建", "cgb"),
    _minor("0601", "私搭乱建", "乱搭乱建、违章建房", KEYWORDS["0601"], "cgb",
           accept=(4, "work_hours"), resolve=(5, "work_days")),

    _major("07", "街面秩序", "摆摊、停车、小广告", "cgb"),
    _minor("0701", "占道经营", "路边摆摊占路", KEYWORDS["0701"], "cgb", resolve=(1, "work_days")),
    _minor("0702", "乱停车", "车乱停、挡路", KEYWORDS["0702"], "cgb", resolve=(1, "work_days")),
    _minor("0703", "小广告", "乱贴小广告", KEYWORDS["0703"], "cgb", resolve=(1, "work_days")),

    _major("08", "市政设施", "路灯、井盖、马路坏了", "cgb"),
    _minor("0801", "路灯不亮", "路灯、楼道灯坏了", KEYWORDS["0801"], "cgb", resolve=(2, "work_days")),
    _minor("0802", "井盖缺失", "井盖没了、坏了", KEYWORDS["0802"], "cgb", **_URGENT),
    _minor("0803", "道路破损", "路面坑坑洼洼", KEYWORDS["0803"], "cgb", resolve=(3, "work_days")),

    _major("09", "民生服务", "办事、看病、生活困难", "mzb", sensitivity="internal"),
    _minor("0901", "社保就业", "社保、找工作", KEYWORDS["0901"], "mzb", **_SERVICE),
    _minor("0902", "医疗卫生", "看病、打疫苗", KEYWORDS["0902"], "wjb", **_SERVICE),
    _minor("0903", "证件办理", "办证件、开证明", KEYWORDS["0903"], None, **_SERVICE),
    _minor("0904", "困难救助", "生活困难要帮助", KEYWORDS["0904"], "mzb", **dict(_SERVICE, sensitivity="sensitive")),
    _minor("0905", "教育入学", "孩子上学的事", KEYWORDS["0905"], None, **_SERVICE),
    _minor("0906", "住房保障", "住房困难", KEYWORDS["0906"], "mzb", **_SERVICE),

    _major("10", "特殊人群关爱", "老人、残疾人、孩子需要照顾", "mzb", sensitivity="sensitive"),
    _minor("1001", "独居老人", "独居老人需要照顾", KEYWORDS["1001"], "mzb", photo=False, accept=(2, "work_hours"),
           resolve=(2, "work_days"), **_SENSITIVE),
    _minor("1002", "残疾人关爱", "残疾人需要帮助", KEYWORDS["1002"], "mzb",
           **dict(_SERVICE, sensitivity="sensitive")),
    _minor("1003", "困境儿童", "孩子没人管", KEYWORDS["1003"], "mzb", **dict(_SERVICE, sensitivity="sensitive")),

    _major("11", "信访诉求", "上访、反映诉求", sensitivity="sensitive"),
    _minor("1101", "信访事项", "想上访、反映诉求", KEYWORDS["1101"],
           None, photo=False, resolve=(5, "work_days"), sensitivity="sensitive"),

    _major("12", "紧急情况", "正在发生的危险", urgent=True, sensitivity="internal"),
    _minor("1201", "火情", "着火、爆炸、坍塌", [], None, emergency="119", **_EMERGENCY),
    _minor("1202", "燃气泄漏", "煤气漏了", [], None, emergency="119", **_EMERGENCY),
    _minor("1203", "急病受伤", "有人急病、受伤", [], "wjb", emergency="120",
           **dict(_EMERGENCY, sensitivity="sensitive")),
    _minor("1204", "暴力侵害", "有人打人、伤人", [], "pcs", emergency="110",
           **dict(_EMERGENCY, sensitivity="sensitive")),
    _minor("1205", "老人孩子遇险", "老人孩子有危险", [], "pcs", emergency="110",
           **dict(_EMERGENCY, sensitivity="sensitive")),
    _minor("1206", "溺水", "有人落水", [], None, emergency="119,120", **_EMERGENCY),
    _minor("1207", "交通事故", "出车祸了", [], None, emergency="122", **_EMERGENCY),

    _major("99", "其他", "其他事情"),
    _minor(OTHER_CODE, "其他问题", "其他事情", [], photo=False),
]


# ---- suggestion -----------------------------------------------------------------------

def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _spec(categories: Iterable[Any]) -> tuple:
    """The rows as they stand, cheaply: the key under which their terms are compiled once."""
    return tuple((str(_field(c, "code")), _field(c, "name"), _field(c, "plain_name"),
                  tuple(_field(c, "keywords") or ()), bool(_field(c, "emergency_number"))) for c in categories)


@functools.lru_cache(maxsize=16)
def _terms(spec: tuple) -> suggester.Terms:
    """The suggestible 小类 and their terms (keywords, name, plain name), lower case, compiled.

    A 大类 with 小类 below it is never suggested itself; emergency categories are chosen by the
    emergency recogniser (backend.emergency), never by words, and 其他 is what the caller offers
    when nothing is suggested.
    """
    parents = {code[:k] for code, *_ in spec for k in range(1, len(code))}
    leaves = []
    for code, name, plain_name, keywords, emergency in spec:
        if code in parents or code == OTHER_CODE or emergency:
            continue
        terms = {t.strip().lower() for t in (*keywords, name, plain_name) if t and t.strip()}
        leaves.append((code, tuple(sorted(terms))))
    return suggester.compile_terms(tuple(leaves))


def warm_up(categories: Iterable[Any] = DEFAULT_CATEGORIES) -> None:
    """Load jieba, the readings table and ``categories``' terms now (worker start-up), not on first use."""
    _terms(_spec(categories))
    segmenter.tokenizer().lcut("预热", HMM=False)


def suggest(text: str, categories: Iterable[Any], limit: int = 3) -> list[tuple[str, float]]:
    """Rank 小类 codes for a resident's free text, best first, at most ``limit``.

    How the text is read and scored: ``backend.suggester``. ``categories`` may be
    ``DEFAULT_CATEGORIES`` or ``Category`` rows. No match (empty, gibberish) → ``[]``;
    the caller then offers 其他.
    """
    if not text or limit <= 0:
        return []
    scores = suggester.score(text, _terms(_spec(categories)))
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:limit]
