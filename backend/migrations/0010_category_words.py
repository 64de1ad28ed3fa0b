"""Category words (issue 15): the default categories' new keywords and plain names reach databases
seeded before them.

``keywords`` (and 0801's plain name) are rewritten only on rows that still hold exactly what the
seeder wrote before this change — a list edited in the console (类别 → 关键词) is kept as it is.
"""
import json

from backend.category_words import KEYWORDS

# What backend/taxonomy.py seeded until this migration: 小类 code → its keywords, space-separated.
PREVIOUS_KEYWORDS = {
    "0101": "邻里 邻居 吵架 吵 吵闹 太吵 噪音 扰民 闹矛盾 纠纷 楼上漏水 装修",
    "0102": "夫妻 两口子 离婚 婆媳 家庭矛盾 赡养 不养老人 婚姻",
    "0103": "物业 物业费 业委会 电梯坏 小区管理 保安 停车费 开发商",
    "0104": "欠薪 拖欠工资 工资 讨薪 工钱 欠工资 劳务费 加班费 辞退 劳动合同 包工头",
    "0105": "拆迁 征地 补偿款 安置房 征收",
    "0106": "宅基地 地界 界址 房屋纠纷 边界 滴水 占我家地",
    "0107": "医患 医闹 医疗事故 看病纠纷 医院赔",
    "0108": "家暴 家庭暴力 打老婆 打媳妇 打孩子 打小孩 虐待 打老人 哭喊",
    "0201": "治安 盗 偷 小偷 被偷 被偷了 车被偷 偷走 被盗 盗窃 撬锁 撬门 打架 斗殴 赌博 抢 抢劫 砸车 监控坏",
    "0202": "可疑 陌生人 尾随 跟踪 鬼鬼祟祟 徘徊 形迹可疑 跟着",
    "0203": "骗 诈骗 骗子 被骗 骗钱 传销 非法集资 冒充 中奖 刷单 保健品",
    "0301": "楼道 堆物 堆放 堆满 堆了 杂物 纸箱 占用楼道 楼梯间 走廊 过道",
    "0302": "电动车 电瓶车 电瓶 电车 充电 飞线充电 家里充电 室内充电 推进楼 进电梯",
    "0303": "电线 私拉 乱拉 飞线 拉线 插线板 接线板 电线老化 漏电 火花 跳闸",
    "0304": "燃气 煤气 天然气 液化气 煤气罐 气罐 漏气 煤气味 瓶装气",
    "0305": "火 烟 着火 冒烟 失火 起火 火灾 消防 消防通道 安全通道 灭火器 消火栓 焚烧 烧东西 烧垃圾 烟味 火苗",
    "0401": "安全生产 工厂 厂房 作坊 仓库 危化品 危险品 易燃易爆 化工 烟花爆竹",
    "0402": "工地 施工 脚手架 塔吊 基坑 高空作业 安全帽",
    "0403": "危房 裂缝 开裂 倒塌 坍塌 高空坠物 掉下来 墙裂",
    "0501": "垃圾 暴露垃圾 垃圾桶 垃圾满 没人清 没人收 臭 发臭 苍蝇 老鼠",
    "0502": "乱堆 乱放 物料 建材 沙子 砖头 堆 建筑垃圾",
    "0503": "污水 下水道 堵塞 化粪池 冒水 臭水 排水 阴沟 管道堵 脏水",
    "0504": "路面脏 不干净 脏 保洁 扫地 没人扫 落叶",
    "0601": "违建 违章 违章建筑 私搭 乱搭 乱建 搭棚 加盖 搭建 盖房 建房 加层 阳光房 铁皮房",
    "0701": "占道 摆摊 摊贩 小贩 流动摊 占道经营 出店经营 卖菜 夜市 烧烤",
    "0702": "乱停 停车 乱停车 占车位 挡路 堵路 堵门 僵尸车 违停 占道停车 停在",
    "0703": "小广告 广告 乱贴 乱涂 涂鸦 牛皮癣 贴纸 喷涂 乱画",
    "0801": "路灯 灯不亮 不亮 灯坏 太黑 黑灯 照明 灯",
    "0802": "井盖 窨井 下水井 井口 掉进",
    "0803": "路面 坑 坑洼 道路破损 路坏 塌陷 路烂 破损 人行道 地砖 积水",
    "0901": "社保 养老保险 养老金 退休金 就业 找工作 失业 招工 职业培训",
    "0902": "看病 医疗 医保 疫苗 诊所 卫生院 医生 体检 家庭医生 慢性病 开药 买药",
    "0903": "证件 身份证 户口 办证 居住证 证明 开证明 户籍 出生证 补办",
    "0904": "困难 救助 低保 补助 特困 没饭吃 生活困难 临时救助 帮扶 看不起病",
    "0905": "上学 入学 学校 读书 幼儿园 学位 没学上 转学",
    "0906": "公租房 廉租房 保障房 住房 没地方住",
    "1001": "独居 独居老人 老人 孤寡 空巢 没人照顾 好几天没见 敲门没人应 摔倒",
    "1002": "残疾 残疾人 轮椅 盲人 聋哑 残联",
    "1003": "留守儿童 困境儿童 孩子没人管 流浪 辍学 没人管",
    "1101": "上访 信访 访民 集体上访 请愿 讨说法 告状",
}
PREVIOUS_PLAIN_NAMES = {"0801": ("路灯坏了", "路灯、楼道灯坏了")}


def refresh_default_words(db) -> int:
    """Bring unedited default rows up to date; returns how many rows changed."""
    changed = 0
    rows = db.execute_sql("SELECT id, code, keywords, plain_name FROM category").fetchall()
    for row_id, code, keywords, plain_name in rows:
        updates = {}
        previous = PREVIOUS_KEYWORDS.get(code)
        if previous is not None and code in KEYWORDS and json.loads(keywords or "[]") == previous.split():
            updates["keywords"] = json.dumps(KEYWORDS[code], ensure_ascii=False, sort_keys=True)
        old_name, new_name = PREVIOUS_PLAIN_NAMES.get(code, (None, None))
        if old_name is not None and plain_name == old_name:
            updates["plain_name"] = new_name
        if updates:
            assignments = ", ".join(f"{column} = {db.param}" for column in updates)
            db.execute_sql(f"UPDATE category SET {assignments} WHERE id = {db.param}", (*updates.values(), row_id))
            changed += 1
    return changed


def up(migrator, db):
    refresh_default_words(db)


def down(migrator, db):
    pass  # the new words are a superset of the old ones: nothing to undo
