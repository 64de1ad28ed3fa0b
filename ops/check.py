"""``python -m server check``: the preflight an operator runs before opening the doors.

One line per check — ✓, or ✗ with what to do — and exit status 1 if any line is ✗. Each check
is independent: one failing (a database that does not answer) never hides the others, and
nothing here writes anything but a probe file in the media directory (deleted at once).
"""
from __future__ import annotations

import datetime as dt
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

MIN_FREE_BYTES = 1024 ** 3  # 1 GB for photos and voice notes
CALENDAR_DAYS = 90
DEMO_SECRETS_HINT = "请用 python -c 'import secrets; print(secrets.token_hex(32))' 生成"


@dataclass
class Line:
    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.name}：{self.detail}"


def register(sub, bootstrap) -> None:
    p = sub.add_parser("check", help="preflight before opening the doors: one line per check, exit 1 on any ✗")
    p.set_defaults(func=lambda args: cmd_check(args, bootstrap))


def cmd_check(args, bootstrap) -> int:
    from backend import config

    try:
        settings = bootstrap()
    except config.ConfigError as exc:
        print(Line("生产设置", False, f"{exc}（设置后再运行 check）"))
        return 1
    lines = run_checks(settings)
    for line in lines:
        print(line, flush=True)
    failed = [line for line in lines if not line.ok]
    print(f"{len(lines) - len(failed)}/{len(lines)} 项通过" + ("" if not failed else f"，{len(failed)} 项要处理"),
          file=sys.stderr)
    return 1 if failed else 0


def run_checks(settings) -> list[Line]:
    from backend.db import db

    lines = [_guard("生产设置", production_settings, settings)]
    database = _guard("数据库", database_ready, settings)
    lines.append(database)
    if settings.database_replica_url:
        lines.append(_guard("只读副本", replica_ready, settings))
    lines.append(_guard("Redis", redis_persistent, settings))
    lines += _wechat(settings)
    lines.append(_guard("短信", sms_configured, settings))
    lines.append(_guard("媒体存储", media_store_ready, settings))
    if database.ok:
        with db.connection_context():
            for name, check in (("工作日历", calendar_covered), ("HTTPS 地址", public_https), ("管理员", admin_exists),
                                ("网格人员", grids_staffed)):
                lines.append(_guard(name, check, settings))
    else:
        lines.append(_guard("HTTPS 地址", public_https, settings))
        lines += [Line(name, False, "数据库不可用，未检查") for name in ("工作日历", "管理员", "网格人员")]
    return lines


def _guard(name: str, check, settings) -> Line:
    """A check that raises is a ✗ with the reason, never a traceback."""
    try:
        ok, detail = check(settings)
    except Exception as exc:  # noqa: BLE001 — a preflight reports every failure as a line
        ok, detail = False, f"{type(exc).__name__}: {str(exc).strip()[:200]}"
    return Line(name, ok, detail)


# ---------------------------------------------------------------- the checks


def production_settings(settings):
    from backend import config

    if not settings.production:
        return False, f"EJIA_ENV={settings.env}：正式上线请设 EJIA_ENV=production（演示密钥和演示数据在生产环境一律拒绝）"
    weak = [name for name, value in (("SECRET_KEY", settings.secret_key), ("FIELD_KEY", settings.field_key))
            if len(value) < 32 or value == config._demo_secret(name.split("_")[0].lower(), 64)]
    if weak:
        return False, f"{'、'.join(weak)} 太短（至少 32 个字符）：{DEMO_SECRETS_HINT}"
    if not settings.database_url.startswith(("postgresql", "postgres")):
        return False, "DATABASE_URL 不是 PostgreSQL：生产请用 PostgreSQL（docs/deploy.md）"
    if not settings.trusted_proxies:
        return False, ("TRUSTED_PROXIES 没有设置：在 nginx 后面请设 TRUSTED_PROXIES=1，"
                       "否则所有人的地址都是 127.0.0.1，登录失败限速会把大家一起锁住")
    return True, "EJIA_ENV=production，必需的变量都已设置"


def database_ready(settings):
    from playhouse.migrations import Runner

    from backend.db import MIGRATIONS_DIR, db

    with db.connection_context():
        db.execute_sql("SELECT 1")
        pending = [m.name for m in Runner(db.obj, directory=str(MIGRATIONS_DIR)).status()
                   if not m.applied and m.path is not None]
    engine = "PostgreSQL" if settings.database_url.startswith("postgres") else "SQLite"
    if pending:
        return False, f"{engine} 能连上，但有 {len(pending)} 个迁移没做（{pending[0]} …）：运行 python -m server migrate"
    return True, f"{engine} 能连上，迁移已是最新"


def replica_ready(settings):
    """DATABASE_REPLICA_URL: answering and within the lag bound, or reports fall back to the primary."""
    from backend import replica

    current = replica.installed() or replica.install(settings)
    status = current.status()
    if status.usable:
        return True, f"统计、地图、导出和 Open311 查询从副本读（{status.reason}，落后 {status.lag_seconds or 0:g} 秒）"
    return False, (f"副本现在不能读（{status.reason}），这些查询改从主库读：检查 DATABASE_REPLICA_URL 和复制状态，"
                   f"允许落后 {settings.database_replica_max_lag_seconds} 秒（docs/deploy.md）")


def redis_persistent(settings):
    import redis as redis_lib

    from backend.redis_conn import connect

    client = connect(settings)
    client.ping()
    try:
        aof = client.config_get("appendonly").get("appendonly") == "yes"
        rdb = bool(client.config_get("save").get("save", "").strip())
    except redis_lib.ResponseError:  # CONFIG disabled (a managed Redis): ask INFO instead
        info = client.info("persistence")
        aof, rdb = bool(info.get("aof_enabled")), info.get("rdb_last_save_time", 0) > 0
    if not (aof or rdb):
        return False, ("能连上，但没有持久化（队列里的任务重启就丢）：在 redis.conf 里设 appendonly yes "
                       "（或 save 900 1），见 deploy/redis/ejia.conf")
    return True, "能连上，" + ("AOF" if aof else "") + (" + " if aof and rdb else "") + ("RDB" if rdb else "") + " 持久化已开"


def _wechat(settings) -> list[Line]:
    from backend.redis_conn import connect
    from wechat.client import MiniProgram, OfficialAccount

    lines = []
    try:
        redis = connect(settings)
    except Exception as exc:  # noqa: BLE001
        return [Line("微信公众号", False, f"Redis 不可用（{exc}），无法取 access_token")]
    oa = OfficialAccount(settings, redis)
    lines.append(_guard("微信公众号", lambda s: _token(oa, s, "WECHAT_APP_ID/WECHAT_APP_SECRET"), settings))
    if lines[-1].ok:
        lines.append(_guard("模板消息", lambda s: _templates(oa.private_templates(), "template_id",
                                                       oa_template_settings(s), "公众号后台“模板消息”"), settings))
    if settings.mp_app_id and settings.mp_app_secret:
        mp = MiniProgram(settings, redis)
        lines.append(_guard("小程序", lambda s: _token(mp, s, "MP_APP_ID/MP_APP_SECRET"), settings))
        if lines[-1].ok:
            lines.append(_guard("订阅消息", lambda s: _templates(mp.subscribe_templates(), "priTmplId",
                                                           mp_template_settings(s), "小程序后台“订阅消息”"), settings))
    return lines


def _token(client, settings, variables: str):
    from wechat.cli import explain
    from wechat.client import WeChatError

    try:
        client.fetch_token()
    except WeChatError as err:
        return False, explain(err, settings) + (f"（检查 {variables}）" if err.source == "api" else "")
    return True, f"AppID {client.appid} 取到了 access_token"


def oa_template_settings(settings) -> dict[str, str]:
    """Setting name → template id the workers use (their defaults when unset; workers/messages.py)."""
    from workers.messages import OA_TEMPLATES

    return {name: settings.extra.get(name) or default for name, default in OA_TEMPLATES.items()}


def mp_template_settings(settings) -> dict[str, str]:
    from backend import config

    return {"MP_SUBSCRIBE_TEMPLATE_PROGRESS": config.subscribe_templates(settings)["progress"]}


def _templates(listed: list[dict], key: str, wanted: dict[str, str], where: str):
    known = {t.get(key) for t in listed}
    missing = [f"{name}={template}" for name, template in wanted.items() if template not in known]
    if missing:
        return False, f"{'、'.join(missing)} 不在{where}的模板列表里：在{where}添加模板后，把模板 ID 填进对应的变量"
    return True, f"{len(wanted)} 个模板 ID 都在{where}里"


def sms_configured(settings):
    extra = settings.extra
    if settings.sms_provider == "console":
        if settings.production:
            return False, ("SMS_PROVIDER=console 只把短信写进日志：微信联系不上的工作人员、紧急情况都收不到短信。"
                           "请设 SMS_PROVIDER=tencent 和 SMS_TENCENT_*（docs/workers.md）")
        return True, "演示：短信只写进日志（SMS_PROVIDER=console）"
    from workers.sms.tencent import DEFAULT_TEMPLATES, parse_templates

    missing = [name for name in ("SMS_TENCENT_SECRET_ID", "SMS_TENCENT_SECRET_KEY", "SMS_TENCENT_SDK_APP_ID",
                                 "SMS_TENCENT_SIGN_NAME", "SMS_TENCENT_TEMPLATES") if not extra.get(name)]
    if missing:  # the defaults of the last three are placeholders, never a real account's
        return False, f"SMS_PROVIDER=tencent，但没有设置 {'、'.join(missing)}"
    templates = parse_templates(extra["SMS_TENCENT_TEMPLATES"])
    absent = [t for t in parse_templates(DEFAULT_TEMPLATES) if t not in templates]
    if absent:
        return False, f"SMS_TENCENT_TEMPLATES 缺少 {'、'.join(absent)} 的模板 ID（格式 task=1234567,urgent=…）"
    return True, f"腾讯云短信：应用 {extra['SMS_TENCENT_SDK_APP_ID']}，签名“{extra['SMS_TENCENT_SIGN_NAME']}”，{len(templates)} 个模板"


def media_store_ready(settings):
    """MEDIA_STORE=s3://…: the bucket answers and takes a probe object; else MEDIA_DIR."""
    if not settings.media_store:
        return media_dir_ready(settings)
    from backend.media_store import from_settings

    store = from_settings(settings)
    store.check()  # MediaUnavailable (with the store's answer) becomes a ✗ line
    return True, f"{store.describe()} 可读写"


def media_dir_ready(settings):
    directory = Path(settings.media_dir)
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".check-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"ok")
    except OSError as exc:
        return False, f"{directory} 不能写入（{exc.strerror}）：chown 给运行 e家 的用户"
    finally:
        if probe.exists():
            probe.unlink()
    free = shutil.disk_usage(directory).free
    if free < MIN_FREE_BYTES:
        return False, f"{directory} 只剩 {free // 1024 // 1024} MB：至少留 {MIN_FREE_BYTES // 1024 ** 3} GB 给照片和语音"
    return True, f"{directory} 可写，剩余 {free / 1024 ** 3:.1f} GB"


def calendar_covered(settings):
    from backend import clock
    from backend.services.calendar_import import coverage

    today = clock.local_today()
    missing = coverage(today, CALENDAR_DAYS)
    if missing:
        years = "、".join(map(str, missing))
        return False, (f"未来 {CALENDAR_DAYS} 天里 {years} 年的放假安排还没有：期限会按周一到周五算。"
                       f"国务院办公厅通知发布后运行 python -m server calendar import {missing[0]}.txt")
    return True, f"到 {today + dt.timedelta(days=CALENDAR_DAYS)} 的放假和调休都已知"


def public_https(settings):
    url = settings.public_base_url
    if not url.startswith("https://"):
        return False, f"PUBLIC_BASE_URL={url}：二维码海报和消息里的链接要用 https://（微信里的网页必须是 HTTPS）"
    return True, url


def admin_exists(settings):
    from backend.models import Staff

    admins = Staff.select().where((Staff.role == "admin") & (Staff.active == True)  # noqa: E712
                                  & Staff.password_hash.is_null(False)).count()
    if not admins:
        return False, "还没有能登录的管理员：运行 python -m server init --admin 登录名 …"
    return True, f"{admins} 位"


def grids_staffed(settings):
    from backend.models import Area, Staff

    bound = (Staff.select(Staff.area).where((Staff.role == "grid_worker") & (Staff.active == True)  # noqa: E712
                                            & (Staff.oa_openid.is_null(False) | Staff.mp_openid.is_null(False))))
    grids = list(Area.select(Area.name).where((Area.level == "grid") & Area.id.not_in(bound)).order_by(Area.path))
    total = Area.select().where(Area.level == "grid").count()
    if not total:
        return False, "还没有网格：python -m server import areas 边界.geojson"
    if grids:
        names = "、".join(g.name for g in grids[:5]) + ("等" if len(grids) > 5 else "")
        return False, (f"{len(grids)}/{total} 个网格没有绑定微信的网格员（{names}）：那里的上报没人接。"
                       "导入人员（python -m server import staff）并让他们在公众号发送“绑定 绑定码”")
    return True, f"{total} 个网格都有绑定微信的网格员"
