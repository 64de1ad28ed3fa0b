"""Every word the chat says, in one place: short, plain, numbered — for a resident over sixty.

Formatting helpers here are pure (facts arrive already formatted for the local time zone).
"""
from __future__ import annotations

MAX_REPLY_BYTES = 2000  # WeChat's passive reply limit is 2048 bytes

WELCOME = (
    "欢迎关注e家！在这里您可以：\n"
    "1. 反映身边的问题：直接打字或发语音，说说什么事\n"
    "2. 查办理进度：回复“进度”\n"
    "3. 事情办完后打分：回复 1 到 5 分\n"
    "着火、有人受伤、有人打人等紧急情况，请直接打110、119、120。\n"
    "不会用就回复“帮助”。"
)
HELP = (
    "怎么用：\n"
    "· 反映问题：直接说什么事（打字、语音都行），再发位置，有照片就拍照\n"
    "· 查进度：回复“进度”，或“查 编号”\n"
    "· 打分：办完后回复 1 到 5 分，可以加一句话\n"
    "· 撤回：回复“撤回 编号”\n"
    "· 不想报了：回复“取消”\n"
    "· 我的信息：回复“我的信息”看我们存了您什么，可以删除\n"
    "紧急情况请直接打110（报警）、119（火警）、120（急救）。"
)
STAFF_HELP = (
    "工作人员：\n"
    "· 待办 — 看我的任务\n"
    "· 接单 3 — 接下编号尾数为3的任务\n"
    "· 办结 3 已清理干净 — 再发一张照片，就办结了\n"
    "· 退回 3 原因 / 上报 3 原因\n"
    "· 即报即办 — 记一件已经办好的小事"
)
HINT = "没看懂您的意思。要反映问题，直接说说什么事；查进度回复“进度”；回复“帮助”看说明。"
GREETING = "您好！要反映问题，直接说说什么事（打字、语音都行）；查进度回复“进度”。"
LINK = "暂时看不了链接，请用几句话说说什么事。"
BUSY = "正在处理您上一条消息，请稍等几秒再发。"
TRUNCATED = "（文字太长，只保留了前{limit}个字）"
EXPIRED = "刚才没办完的事超过{minutes}分钟没有回复，已经作废了。"
CANCELLED = "好的，已取消。需要时随时给我发消息。"
NOTHING_TO_CANCEL = "现在没有要取消的事。要反映问题，直接说说什么事。"
RESUME = "（刚才的事还没办完，接着回复就行；不办了回复“取消”）"

ASK_DESCRIPTION = "请说说发生了什么事（打字或发语音都行）。"
DESCRIBE_AGAIN = "没看懂，请用几个字说说发生了什么事，例如：楼道里堆满了纸箱。"
VOICE_KEPT = "语音收到了，会转给工作人员听。请再打几个字说说是什么事，例如：楼道堆了杂物。打不了字就回复“跳过”。"
VOICE_ONLY = "（居民发来语音，请听附件）"
HEARD = "听到您说：“{text}”"
PHOTO_FIRST = "照片收到了。"
VOICE_RECEIVED = "语音收到了，会转给工作人员听。"
PLACE_FIRST = "位置收到了：{place}。"
ASK_PLACE = ("在哪里？请点输入框旁边的＋，选“位置”发给我；"
             "或者打字说地址，例如：金源小区3号楼。不清楚就回复“跳过”。")
ASK_RECENT = "在哪里？用刚才的位置吗？\n{place}\n回复 1 用这个位置\n或者发送别的位置、打字说地址。"
PLACE_NOT_FOUND = "没找到“{text}”这个地方。请换个说法（例如：金源小区3号楼），或者点＋发送位置。"
PLACE_CHOOSE = "您说的是哪一个？回复数字："
PLACE_TOO_MANY = "符合“{text}”的地方太多了，请说得具体些（加上小区名、楼号），或者点＋发送位置。"
PLACE_BAD = "这个位置用不了：{reason}。请重新发送位置，或者打字说地址。"
SCAN_BAD = "这个二维码不是楼栋码。请扫楼栋门口的二维码，或者发送位置。"
RECENT_GONE = "刚才的位置已经过期了。请点＋发送位置，或者打字说地址。"

SUMMARY_HEAD = "请核对："
SUMMARY_FOOT = "回复 1 确认上报\n回复 2 改地点，3 改类别"
PHOTO_MORE = "有照片可以直接发来。"
PHOTO_MORE_AGAIN = "还有照片可以接着发。"
PHOTO_RECEIVED = "收到第{n}张照片。还有就接着发；没有了回复 1 确认上报。"
PHOTO_LIMIT = "照片已经有{n}张了，够用了，这张就不存了。"
SUPPLEMENT = "已补充到描述里。"
CONFIRM_AGAIN = "请回复 1 确认上报；2 改地点；3 改类别；不报了回复“取消”。"
OUTSIDE = "不在已划分的网格内，会交给综治中心处理"
NO_PLACE = "没有说地点，会交给综治中心处理"
CENTRE_ROUTED = "（{community}，网格由综治中心分派）"
OTHER = "其他"
OTHER_LABEL = "其他（工作人员会帮您归类）"
ASK_CATEGORY = "是哪一类事？回复数字："
ALL_CATEGORIES = "看全部类别"
ASK_MAJOR = "是哪一大类？回复数字："
DUPLICATE = ("附近已经有人报了同样的事：\n{number} {category}（{status}），离这里约{distance}米。\n"
             "回复 1 关注这件（不用重复报，有进展一起通知您）\n回复 2 继续上报")
SWITCH = "您还有一件事没报完：“{text}”。\n回复 1 接着报这件\n回复 2 不要它了，重新报一件"
SUBMITTED = "已上报，编号 {number}。\n{where}\n看进度：回复“进度”，或“查 {number}”。"
SUBMITTED_GRID = "会交给{grid}处理，有进展会通知您。"
SUBMITTED_CENTRE = "这个位置不在已划分的网格内，已交给综治中心处理，有进展会通知您。"
SUBMITTED_CENTRE_AREA = "已交给综治中心分派到网格，有进展会通知您。"
SUBMITTED_NOPLACE = "没有地点，已交给综治中心处理，有进展会通知您。"
SUBMIT_FAILED = "没有报上：{message}"
FOLLOWED = "好的，已关注 {number}，不用再报了。有进展会一起通知您。"

NO_EVENTS = "您还没有反映过问题。要反映问题，直接说说什么事。"
PROGRESS_HEAD = "您最近的事："
PROGRESS_FOOT = "看详细经过回复“查 编号”。"
EVENT_NOT_FOUND = "没有找到{ref}这件事，请核对编号（回复“进度”看您的事）。"
ASK_RATE = "这件已经办完了，满意吗？回复 1 到 5 分（5分最满意），可以加一句话。"
RATED = "谢谢您的评价！{number} 打了{score}分。"
RATED_LOW = "很抱歉没让您满意，街道会回访了解情况。"
REVISIT_THANKS = "谢谢您的回答，已记下。"
REVISIT_REOPENED = "已记下，{number} 会重新处理，处理人会再联系您。"
COMPLAINED = "收到，{number} 已退回重新处理，处理人会再联系您。"
NOTHING_TO_COMPLAIN = "没有找到最近办结的事。请回复“进度”看您的事。"
NOTHING_TO_RATE = "现在没有要打分的事。事情办完后会通知您打分。"
WITHDRAW_WHICH = "要撤回哪一件？回复“撤回 编号”。"
WITHDRAWN = "已撤回 {number}。"
REFUSED = "{message}"

NOT_STAFF = "这个功能只给工作人员用。工作人员请先绑定：扫管理员给的绑定二维码，或发送“绑定 绑定码”（绑定码在管理员发的纸条上）。"
BOUND = "绑定成功！{role} {name}（{area}）。\n回复“待办”看任务，回复“帮助”看指令。"
ALREADY_BOUND = "您已经绑定过了：{label}。回复“待办”看任务。"
NO_TASKS = "现在没有待办任务。"
TODO_HEAD = "待受理："
DOING_HEAD = "处理中："
TODO_MORE = "还有{n}件没列出，请到小程序查看。"
TODO_FOOT = "接下[{n}]回复“接单 {n}”；办完回复“办结 {n} 已清理干净”再发一张照片；不归您管回复“退回 {n} 原因”或“上报 {n} 原因”。"
TASK_NOT_FOUND = "没有找到 {ref} 这件任务，或者它不归您管。回复“待办”看您的任务。"
NEED_REF = "请带上编号，例如：{word} 3（方括号里的号）。"
NEED_REASON = "请写明原因，例如：{word} {short} 不在本网格。"
ACCEPT_FIRST = "这件还没接单，请先回复“接单 {short}”。"
CANNOT_RESOLVE = "这件现在是“{status}”，不能办结。"
ASK_RESOLVE = "办结 {number}（{description}）：\n请拍一张处理后的照片发来（可以再说一句怎么处理的）。"
PHOTO_FOR_TASK = "照片收到。是办结[{short}]（{description}）的吗？回一句处理情况就办结了；不是这件请回复“办结 编号”。"
PHOTO_WHICH_TASK = "照片收到。是办结哪一件？回复“办结 3 已清理干净”（3 换成方括号里的号）："
PHOTO_ADDED_STAFF = "补充照片"
PHOTO_ADDED_TO = "照片已补充到 {number}。"
RESOLVED_BY_PHOTO = "已处理，见照片"
ASK_RESOLVE_PHOTO = "请拍一张处理后的照片发来。"
ASK_RESOLVE_NOTE = "照片收到。请用一句话说说怎么处理的，例如：已清理干净。"
RESOLVE_SKIP_PHOTO = "这一类需要照片，请拍一张处理后的照片。"
ACCEPTED = "已接单 {number}。办完后回复“办结 {short}”。"
CLOSED = "已办结 {number}，事情关闭了。"
RESOLVED = "已提交处理结果 {number}，等待核查。"
VERIFIED = "已核查办结 {number}。"
RETURNED = "已退回 {number}。"
ESCALATED = "已上报 {number}，交给上一级处理。"
ASK_QUICK = "即报即办：请用一句话说说办好了什么小事，例如：清理了楼道杂物。"
ASK_QUICK_PHOTO = "请拍一张处理后的照片；没有就回复“跳过”。"
ASK_QUICK_PLACE = "在哪里？请点＋发送位置；就在您的网格里就回复“跳过”。"
QUICK_DONE = "已记录 {number}（即报即办，已办结）。"


def short(text: str | None, limit: int = 30) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def numbered(lines) -> str:
    return "\n".join(f"{i} {line}" for i, line in enumerate(lines, 1))


def fit(reply: str | None) -> str | None:
    """Keep a reply under WeChat's passive-reply size, cutting whole characters."""
    if reply is None:
        return None
    data = reply.encode("utf-8")
    if len(data) <= MAX_REPLY_BYTES:
        return reply
    return data[: MAX_REPLY_BYTES - 3].decode("utf-8", "ignore") + "…"


def join(*parts: str | None) -> str:
    return "\n".join(p for p in parts if p)

UNAVAILABLE = "系统有点忙，请过一会儿再发一次。"

# Emergencies (engine_emergency): the first line is the number to call (backend.emergency).
EMERGENCY_FILED = "已经记下并{told}，编号 {number}。"
EMERGENCY_TOLD_GRID = "通知了网格员、社区和街道综治中心"
EMERGENCY_TOLD_CENTRE = "通知了综治中心"
EMERGENCY_ASK_PLACE = "在哪里？请点＋发送位置，或者打字说地址，工作人员好找过去。"
EMERGENCY_RECENT = "先按您手机刚才的位置（{place}）转给了工作人员；不在这里的话，请发送正确的位置。"
EMERGENCY_MORE = "还有情况可以接着说，有照片可以发来。"
EMERGENCY_PLACED = "位置收到了：{place}，已转给{where}。"
EMERGENCY_NOTED = "已补充到 {number}。"
EMERGENCY_PHOTO = "照片收到了，已补充到 {number}。"
EMERGENCY_RETRY = "请先打电话求助，稍后再发一次。"
PHONE_OFFER = "方便的话，可以直接把手机号发给我，办完后好电话回访（不留也没关系）。"
PHONE_KEPT = "手机号 {phone} 已记下，只用来回访您。要删除，回复“删除我的信息”。"
MY_DATA = ("我们存着您的这些信息：\n"
           "· 微信身份（只用来回复您、通知进度）\n"
           "· 昵称：{nickname}\n"
           "· 手机：{phone}\n"
           "· 您反映的事：正在办 {open} 件，办完 {ended} 件\n"
           "· 关注的事：{follows} 件\n"
           "· 小程序订阅通知：{opt_ins} 次\n"
           "要删除，回复“删除我的信息”。")
ERASE_ASK = ("删除后：手机号、昵称和订阅通知会删掉；办完的 {ended} 件会去掉您的信息和照片（事情本身保留，用来统计）；"
             "正在办的 {open} 件办完后再去掉。\n确认删除请回复 1，不删回复“取消”。")
ERASED = "已删除。办完的 {anonymised} 件已去掉您的信息；正在办的 {waiting} 件办完后会自动去掉。"
NONE_LEFT = "没有"
NOT_ERASED = "好的，没有删除。需要时再回复“删除我的信息”。"
PHOTO_ADDED_NOTE = "（居民补充了照片或语音）"
EMERGENCY_CANCEL = "已经上报的 {number} 会继续处理；如果是误报，请回复“撤回 {number}”。"
