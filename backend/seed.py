"""Demo data: Zhangzhou (漳州) with synthetic grids near 24.51 N, 117.65 E.

``seed_demo()`` is idempotent — every row is found by a natural key before it is created —
and returns the JSON summary that ``python -m server seed --demo`` prints for scripts.
The polygons are invented (rectangles split into strips); the names are real places.
"""
from __future__ import annotations

import functools
import hashlib
import secrets

from backend import config, geo
from backend.crypto import FieldCipher
from backend.db import transaction
from backend.demo_history import seed_history
from backend.errors import DomainError
from backend.models import Area, ApiKey, Building, BuildingUnit, Category, Department, Staff
from backend.passwords import DEMO_PASSWORD, hash_password
from backend.services import api_keys
from backend.services.bootstrap import seed_categories
from backend.services.mp_binding import STAFF_PHONE_CONTEXT

FAKE_PHONE = "1380000{:04d}"  # staff phones of the demo: never real people (13800000000 is the placeholder)

CITY = ("350600", "漳州市")
# district code, name, [(street code, name, [(community code, name)])]
TREE = [
    ("350602", "芗城区", [
        ("350602003", "通北街道", [("350602003001", "金源社区"), ("350602003002", "通北社区")]),
        ("350602002", "芝山街道", [("350602002001", "联三社区"), ("350602002002", "芝山社区")]),
    ]),
    ("350603", "龙文区", [
        ("350603002", "蓝田街道", [("350603002001", "毅阳社区"), ("350603002002", "蓝田社区")]),
    ]),
]
DEPARTMENT_KINDS = [("cgb", "城管办"), ("mzb", "民政办"), ("wjb", "卫健办"), ("pcs", "派出所")]
GRIDS_PER_COMMUNITY = 3
SURNAMES = "陈林黄张李王吴刘蔡杨郑许谢洪郭邱曾廖赖徐周叶苏庄吕江何"
GIVEN = ["志强", "丽娟", "建华", "秀英", "国平", "海燕", "文斌", "美玲", "振东", "雅琴", "明辉", "春梅",
         "伟杰", "小红", "德福", "淑芬", "永福", "丽华", "金水", "玉兰"]
COMMUNITY_LAT, COMMUNITY_LNG = 0.012, 0.015  # size of a synthetic community rectangle (degrees)


def _rect(lat0: float, lng0: float, dlat: float, dlng: float) -> dict:
    return {"type": "Polygon", "coordinates": [[
        [lng0, lat0], [lng0 + dlng, lat0], [lng0 + dlng, lat0 + dlat], [lng0, lat0 + dlat], [lng0, lat0],
    ]]}


def _area(parent: Area | None, level: str, code: str, name: str, boundary=None, order=0) -> Area:
    area = Area.get_or_none(Area.code == code)
    if area is None:
        area = Area.create(parent=parent, level=level, code=code, name=name, boundary=boundary,
                           sort_order=order)
        area.path = (parent.path if parent else "/") + f"{area.id}/"
        area.save()
    return area


class _Names:
    def __init__(self):
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return SURNAMES[(self.n * 7) % len(SURNAMES)] + GIVEN[(self.n * 3) % len(GIVEN)]


def _staff(username: str, name: str, role: str, area: Area, department=None, login=False) -> Staff:
    staff = Staff.get_or_none(Staff.username == username)
    if staff is None:
        cipher = FieldCipher.from_key(config.current().field_key)
        phone = FAKE_PHONE.format(Staff.select().count() + 1)  # fake, encrypted like a real one
        staff = Staff.create(
            username=username, name=name, role=role, area=area, department=department,
            oa_openid=f"demo-oa-{username}", mp_openid=f"sandbox-{username}",
            password_hash=_demo_password_hash() if login else None,
            phone_enc=cipher.encrypt(phone, STAFF_PHONE_CONTEXT), phone_index=cipher.blind_index(phone, STAFF_PHONE_CONTEXT),
        )
    return staff


@functools.lru_cache(maxsize=1)
def _demo_password_hash() -> str:
    """scrypt is slow on purpose; every demo login shares the same public password anyway."""
    return hash_password(DEMO_PASSWORD)


def seed_demo(history: bool = True) -> dict:
    """Demo data (never in production: ``server seed --demo`` refuses before touching anything):
    the places, people and keys, then — unless ``history`` is False — six months of cases
    (backend/demo_history.py)."""
    if config.current().production:
        raise DomainError("production", "EJIA_ENV=production：不能写入演示数据（演示账号的密码人人知道）")
    names = _Names()
    logins = []
    with transaction():
        city = _area(None, "city", *CITY)
        _staff("city-centre", "漳州市综治中心值班员", "centre_operator", city, login=True)
        _staff("admin", "系统管理员", "admin", city, login=True)
        logins += [("city-centre", "centre_operator"), ("admin", "admin")]
        slot = 0
        for d_order, (d_code, d_name, streets) in enumerate(TREE):
            district = _area(city, "district", d_code, d_name, order=d_order)
            for s_order, (s_code, s_name, communities) in enumerate(streets):
                street = _area(district, "street", s_code, s_name, order=s_order)
                departments = {}
                for kind, label in DEPARTMENT_KINDS:
                    code = f"{kind}-{s_code}"
                    dept = Department.get_or_none(Department.code == code) or Department.create(
                        code=code, kind=kind, name=f"{s_name}{label}", area=street)
                    departments[kind] = dept
                    _staff(f"dept-{kind}-{s_code}", names.next(), "department_staff", street, dept)
                _staff(f"centre-{s_code}", names.next(), "centre_operator", street, login=True)
                logins.append((f"centre-{s_code}", "centre_operator"))
                for c_order, (c_code, c_name) in enumerate(communities):
                    lat0 = 24.490 + (slot // 3) * (COMMUNITY_LAT + 0.002)
                    lng0 = 117.620 + (slot % 3) * (COMMUNITY_LNG + 0.002)
                    slot += 1
                    community = _area(street, "community", c_code, c_name,
                                      _rect(lat0, lng0, COMMUNITY_LAT, COMMUNITY_LNG), order=c_order)
                    _staff(f"head-{c_code}", names.next(), "community_head", community, login=True)
                    logins.append((f"head-{c_code}", "community_head"))
                    strip = COMMUNITY_LNG / GRIDS_PER_COMMUNITY
                    for g in range(GRIDS_PER_COMMUNITY):
                        grid = _area(community, "grid", f"{c_code}{g + 1:03d}",
                                     f"{c_name}第{'一二三四五'[g]}网格",
                                     _rect(lat0, lng0 + g * strip, COMMUNITY_LAT, strip), order=g)
                        for w in range(2):
                            _staff(f"gw-{grid.code}-{w + 1}", names.next(), "grid_worker", grid)
                        _buildings(grid, lat0 + COMMUNITY_LAT / 2, lng0 + (g + 0.5) * strip, c_name, g)
        seed_categories()
        key = _demo_key("demo", ["read_public", "write"])
        # A department system's key: sees sensitive cases unmasked, and every read is audited.
        full = _demo_key("demo-full", ["read_full"])
    geo.invalidate_grid_index()
    result = summary(key, logins, full)
    if history:
        result["history"] = seed_history()
    return result


def _demo_key(name: str, scopes: list[str]) -> str:
    """Keys are stored hashed, so a re-run could not print a random one again: the demo's are
    derived from the (demo) secret key instead."""
    key = api_keys.KEY_PREFIX + "demo" + hashlib.sha256(
        f"{config.current().secret_key}:{name}".encode()).hexdigest()[:32]
    if ApiKey.get_or_none(ApiKey.key_hash == api_keys.digest(key)) is None:
        api_keys.issue(name, scopes, key=key)
    return key


def _buildings(grid: Area, lat: float, lng: float, community_name: str, grid_no: int) -> None:
    for b in range(2):
        name = f"{grid_no * 2 + b + 1}号楼"
        building = Building.get_or_none((Building.area == grid) & (Building.name == name))
        if building is None:
            building = Building.create(area=grid, name=name, address=f"{community_name}{name}",
                                       lat=lat + (b - 0.5) * 0.002, lng=lng)
        for u in range(2):
            unit_name = f"{u + 1}单元"
            if not BuildingUnit.select().where((BuildingUnit.building == building)
                                               & (BuildingUnit.name == unit_name)).exists():
                BuildingUnit.create(building=building, name=unit_name, qr_token=secrets.token_urlsafe(12))


def inside_point(area: Area) -> list[float] | None:
    """A WGS-84 [lat, lng] inside the area: its own polygon, or its first descendant grid's."""
    if area.boundary:
        from shapely.geometry import shape

        point = shape(area.boundary).representative_point()
        return [round(point.y, 6), round(point.x, 6)]
    child = (Area.select().where(Area.path.startswith(area.path) & Area.boundary.is_null(False))
             .order_by(Area.path).first())
    return inside_point(child) if child else None


def summary(api_key: str, logins: list[tuple[str, str]], full_key: str | None = None) -> dict:
    areas = list(Area.select().order_by(Area.path))
    return {
        "areas": [{"id": a.id, "level": a.level, "name": a.name, "code": a.code, "parent_id": a.parent_id,
                   "inside_point": inside_point(a)} for a in areas],
        "staff": [{"id": s.id, "name": s.name, "role": s.role, "area_id": s.area_id,
                   "department": s.department.name if s.department_id else None,
                   "oa_openid": s.oa_openid,
                   "mp_code": s.mp_openid.removeprefix("sandbox-") if s.mp_openid else None}
                  for s in Staff.select().order_by(Staff.id)],
        "buildings": [{"id": b.id, "name": b.name, "area_id": b.area_id,
                       "units": [{"id": u.id, "name": u.name, "qr_token": u.qr_token}
                                 for u in b.units.order_by(BuildingUnit.id)]}
                      for b in Building.select().order_by(Building.id)],
        "categories": [{"code": c.code, "name": c.name, "plain_name": c.plain_name}
                       for c in Category.select().where(Category.parent.is_null(False)).order_by(Category.code)],
        "console_logins": [{"username": u, "password": DEMO_PASSWORD, "role": r} for u, r in logins],
        "open311_api_key": api_key,  # read_public + write
        "open311_full_key": full_key,  # read_full (audited)
    }
