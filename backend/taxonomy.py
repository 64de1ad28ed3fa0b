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

from backend import segmenter

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
    _minor("0101", "邻里纠纷", "和邻居闹矛盾", ["邻里", "邻居", "吵架", "吵", "吵闹", "太吵", "噪音", "扰民",
           "闹矛盾", "纠纷", "楼上漏水", "装修"], **_DISPUTE),
    _minor("0102", "婚姻家庭", "家里人闹矛盾", ["夫妻", "两口子", "离婚", "婆媳", "家庭矛盾", "赡养",
           "不养老人", "婚姻"], **_DISPUTE),
    _minor("0103", "物业管理", "和物业有矛盾", ["物业", "物业费", "业委会", "电梯坏", "小区管理", "保安",
           "停车费", "开发商"], **_DISPUTE),
    _minor("0104", "劳资纠纷", "老板欠工资", ["欠薪", "拖欠工资", "工资", "讨薪", "工钱", "欠工资", "劳务费",
           "加班费", "辞退", "劳动合同", "包工头"], **_DISPUTE),
    _minor("0105", "征地拆迁", "拆迁补偿有意见", ["拆迁", "征地", "补偿款", "安置房", "征收"], **_DISPUTE),
    _minor("0106", "房屋宅基地", "宅基地、房子地界有争议", ["宅基地", "地界", "界址", "房屋纠纷", "边界",
           "滴水", "占我家地"], **_DISPUTE),
    _minor("0107", "医患纠纷", "看病起了纠纷", ["医患", "医闹", "医疗事故", "看病纠纷", "医院赔"], "wjb",
           **_DISPUTE),
    _minor("0108", "家庭暴力", "家里有人挨打", ["家暴", "家庭暴力", "打老婆", "打媳妇", "打孩子", "打小孩",
           "虐待", "打老人", "哭喊"], "pcs", urgent=True, photo=False, accept=(1, "hours"), resolve=(24, "hours"),
           verify=(24, "hours"), sensitivity="sensitive"),

    _major("02", "治安防控", "治安、防盗防骗", "pcs", sensitivity="sensitive"),
    _minor("0201", "治安隐患", "治安不好、有人偷东西", ["治安", "盗", "偷", "小偷", "被偷", "被偷了", "车被偷",
           "偷走", "被盗", "盗窃", "撬锁",
           "撬门", "打架", "斗殴", "赌博", "抢", "抢劫", "砸车", "监控坏"], "pcs",
           accept=(2, "work_hours"), resolve=(3, "work_days"), **_SENSITIVE),
    _minor("0202", "可疑人员", "有可疑的人", ["可疑", "陌生人", "尾随", "跟踪", "鬼鬼祟祟", "徘徊",
           "形迹可疑", "跟着"], "pcs", photo=False, **_URGENT, **_SENSITIVE),
    _minor("0203", "诈骗线索", "有人骗钱", ["骗", "诈骗", "骗子", "被骗", "骗钱", "传销", "非法集资",
           "冒充", "中奖", "刷单", "保健品"], "pcs", photo=False, resolve=(3, "work_days"), **_SENSITIVE),

    _major("03", "消防隐患", "有着火的危险", urgent=True),
    _minor("0301", "楼道堆物", "楼道里堆了东西", ["楼道", "堆物", "堆放", "堆满", "堆了", "杂物", "纸箱",
           "占用楼道", "楼梯间", "走廊", "过道"], **_URGENT),
    _minor("0302", "电动车室内充电", "电动车在家里充电", ["电动车", "电瓶车", "电瓶", "电车", "充电",
           "飞线充电", "家里充电", "室内充电", "推进楼", "进电梯"], **_URGENT),
    _minor("0303", "私拉电线", "乱拉电线", ["电线", "私拉", "乱拉", "飞线", "拉线", "插线板", "接线板",
           "电线老化", "漏电", "火花", "跳闸"], **_URGENT),
    _minor("0304", "燃气隐患", "煤气味、燃气泄漏", ["燃气", "煤气", "天然气", "液化气", "煤气罐", "气罐",
           "漏气", "煤气味", "瓶装气"], urgent=True, accept=(1, "hours"), resolve=(4, "hours"),
           verify=(24, "hours")),
    _minor("0305", "其他消防隐患", "有着火的危险", ["火", "烟", "着火", "冒烟", "失火", "起火", "火灾",
           "消防", "消防通道", "安全通道", "灭火器", "消火栓", "焚烧", "烧东西", "烧垃圾", "烟味", "火苗"], **_URGENT),

    _major("04", "安全生产", "工厂、工地、房子不安全", urgent=True),
    _minor("0401", "生产经营安全", "工厂、店铺不安全", ["安全生产", "工厂", "厂房", "作坊", "仓库",
           "危化品", "危险品", "易燃易爆", "化工", "烟花爆竹"], **_URGENT),
    _minor("0402", "建筑施工安全", "工地不安全", ["工地", "施工", "脚手架", "塔吊", "基坑", "高空作业",
           "安全帽"], **_URGENT),
    _minor("0403", "房屋安全", "房子有危险", ["危房", "裂缝", "开裂", "倒塌", "坍塌", "高空坠物",
           "掉下来", "墙裂"], **_URGENT),

    _major("05", "环境卫生", "垃圾、脏乱、污水", "cgb"),
    _minor("0501", "暴露垃圾", "垃圾没人清", ["垃圾", "暴露垃圾", "垃圾桶", "垃圾满", "没人清", "没人收",
           "臭", "发臭", "苍蝇", "老鼠"], "cgb", accept=(2, "work_hours"), resolve=(4, "work_hours")),
    _minor("0502", "乱堆物料", "路边乱堆东西", ["乱堆", "乱放", "物料", "建材", "沙子", "砖头", "堆",
           "建筑垃圾"], "cgb", resolve=(1, "work_days")),
    _minor("0503", "污水", "污水横流、下水道堵了", ["污水", "下水道", "堵塞", "化粪池", "冒水", "臭水",
           "排水", "阴沟", "管道堵", "脏水"], "cgb", resolve=(2, "work_days")),
    _minor("0504", "道路不洁", "路面脏", ["路面脏", "不干净", "脏", "保洁", "扫地", "没人扫", "落叶"],
           "cgb", accept=(1, "work_hours"), resolve=(2, "work_hours")),

    _major("06", "违法建设", "乱搭乱建", "cgb"),
    _minor("0601", "私搭乱建", "乱搭乱建、违章建房", ["违建", "违章", "违章建筑", "私搭", "乱搭", "乱建",
           "搭棚", "加盖", "搭建", "盖房", "建房", "加层", "阳光房", "铁皮房"], "cgb",
           accept=(4, "work_hours"), resolve=(5, "work_days")),

    _major("07", "街面秩序", "摆摊、停车、小广告", "cgb"),
    _minor("0701", "占道经营", "路边摆摊占路", ["占道", "摆摊", "摊贩", "小贩", "流动摊", "占道经营",
           "出店经营", "卖菜", "夜市", "烧烤"], "cgb", resolve=(1, "work_days")),
    _minor("0702", "乱停车", "车乱停、挡路", ["乱停", "停车", "乱停车", "占车位", "挡路", "堵路", "堵门",
           "僵尸车", "违停", "占道停车", "停在"], "cgb", resolve=(1, "work_days")),
    _minor("0703", "小广告", "乱贴小广告", ["小广告", "广告", "乱贴", "乱涂", "涂鸦", "牛皮癣", "贴纸",
           "喷涂", "乱画"], "cgb", resolve=(1, "work_days")),

    _major("08", "市政设施", "路灯、井盖、马路坏了", "cgb"),
    _minor("0801", "路灯不亮", "路灯坏了", ["路灯", "灯不亮", "不亮", "灯坏", "太黑", "黑灯", "照明",
           "灯"], "cgb", resolve=(2, "work_days")),
    _minor("0802", "井盖缺失", "井盖没了、坏了", ["井盖", "窨井", "下水井", "井口", "掉进"], "cgb",
           **_URGENT),
    _minor("0803", "道路破损", "路面坑坑洼洼", ["路面", "坑", "坑洼", "道路破损", "路坏", "塌陷", "路烂",
           "破损", "人行道", "地砖", "积水"], "cgb", resolve=(3, "work_days")),

    _major("09", "民生服务", "办事、看病、生活困难", "mzb", sensitivity="internal"),
    _minor("0901", "社保就业", "社保、找工作", ["社保", "养老保险", "养老金", "退休金", "就业", "找工作",
           "失业", "招工", "职业培训"], "mzb", **_SERVICE),
    _minor("0902", "医疗卫生", "看病、打疫苗", ["看病", "医疗", "医保", "疫苗", "诊所", "卫生院", "医生",
           "体检", "家庭医生", "慢性病", "开药", "买药"], "wjb", **_SERVICE),
    _minor("0903", "证件办理", "办证件、开证明", ["证件", "身份证", "户口", "办证", "居住证", "证明",
           "开证明", "户籍", "出生证", "补办"], None, **_SERVICE),
    _minor("0904", "困难救助", "生活困难要帮助", ["困难", "救助", "低保", "补助", "特困", "没饭吃",
           "生活困难", "临时救助", "帮扶", "看不起病"], "mzb", **dict(_SERVICE, sensitivity="sensitive")),
    _minor("0905", "教育入学", "孩子上学的事", ["上学", "入学", "学校", "读书", "幼儿园", "学位", "没学上",
           "转学"], None, **_SERVICE),
    _minor("0906", "住房保障", "住房困难", ["公租房", "廉租房", "保障房", "住房", "没地方住"], "mzb",
           **_SERVICE),

    _major("10", "特殊人群关爱", "老人、残疾人、孩子需要照顾", "mzb", sensitivity="sensitive"),
    _minor("1001", "独居老人", "独居老人需要照顾", ["独居", "独居老人", "老人", "孤寡", "空巢",
           "没人照顾", "好几天没见", "敲门没人应", "摔倒"], "mzb", photo=False, accept=(2, "work_hours"),
           resolve=(2, "work_days"), **_SENSITIVE),
    _minor("1002", "残疾人关爱", "残疾人需要帮助", ["残疾", "残疾人", "轮椅", "盲人", "聋哑", "残联"], "mzb",
           **dict(_SERVICE, sensitivity="sensitive")),
    _minor("1003", "困境儿童", "孩子没人管", ["留守儿童", "困境儿童", "孩子没人管", "流浪", "辍学",
           "没人管"], "mzb", **dict(_SERVICE, sensitivity="sensitive")),

    _major("11", "信访诉求", "上访、反映诉求", sensitivity="sensitive"),
    _minor("1101", "信访事项", "想上访、反映诉求", ["上访", "信访", "访民", "集体上访", "请愿", "讨说法", "告状"],
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


@functools.lru_cache(maxsize=16)
def _compile(spec: tuple) -> tuple[tuple, dict]:
    """Split each leaf's terms into substring terms (≥ 2 chars) and one-character tokens.

    A one-character keyword (火, 偷, 骗) counts only when jieba cuts it out as a word of its
    own, so 火车站 is not a fire and 抽烟 not smoke; longer terms match as substrings, which
    survives odd segmentation of short, unpunctuated resident text.
    """
    codes = [code for code, *_ in spec]
    substring_terms, token_terms, words = [], {}, set()
    for code, name, plain_name, keywords, emergency in spec:
        if any(other != code and other.startswith(code) for other in codes):
            continue  # a 大类 with 小类 below it is never suggested itself
        if emergency:
            continue  # chosen by the emergency recogniser (backend.emergency), never by words
        keywords = {k.strip().lower() for k in keywords if k and k.strip()}
        terms = keywords | {t.strip().lower() for t in (name, plain_name) if t and t.strip()}
        for term in sorted(terms):
            if len(term) == 1:
                token_terms.setdefault(term, []).append(code)
            else:
                substring_terms.append((term, len(term), code))
                if term in keywords:
                    words.add(term)
    segmenter.teach(sorted(words))
    return tuple(substring_terms), token_terms


def _spec(categories: Iterable[Any]) -> tuple:
    return tuple(
        (str(_field(c, "code")), _field(c, "name") or "", _field(c, "plain_name") or "",
         tuple(_field(c, "keywords") or ()), bool(_field(c, "emergency_number")))
        for c in categories
    )


def warm_up(categories: Iterable[Any] = DEFAULT_CATEGORIES) -> None:
    """Load jieba and compile ``categories`` now (worker start-up) instead of on first use."""
    _compile(_spec(categories))
    segmenter.tokenizer().lcut("预热", HMM=False)


def suggest(text: str, categories: Iterable[Any], limit: int = 3) -> list[tuple[str, float]]:
    """Rank 小类 codes for a resident's free text, best first, at most ``limit``.

    Score = sum of the lengths of distinct matched terms (keywords, name, plain name):
    more and longer matches win; ties go to the lower code. ``categories`` may be
    ``DEFAULT_CATEGORIES`` or ``Category`` rows. No match (empty, gibberish) → ``[]``;
    the caller then offers 其他.
    """
    text = (text or "").strip().lower()
    if not text or limit <= 0:
        return []
    substring_terms, token_terms = _compile(_spec(categories))
    scores: dict[str, float] = {}
    for term, weight, code in substring_terms:
        if term in text:
            scores[code] = scores.get(code, 0.0) + weight
    if token_terms and any(ch in token_terms for ch in text):
        for token in set(segmenter.tokenizer().lcut(text, HMM=False)):
            for code in token_terms.get(token, ()):
                scores[code] = scores.get(code, 0.0) + 1.0
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:limit]
