"""A small, fully known world for integration tests: one street, one community, two grids."""
from __future__ import annotations

from dataclasses import dataclass

from backend.models import Area, Category, Department, Staff


def square(lat: float, lng: float, size: float = 0.01) -> dict:
    """A GeoJSON polygon with its south-west corner at (lat, lng). GeoJSON is [lng, lat]."""
    return {"type": "Polygon", "coordinates": [[
        [lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat],
    ]]}


def make_area(parent, level, name, code, boundary=None):
    area = Area.create(parent=parent, level=level, name=name, code=code, boundary=boundary)
    area.path = (parent.path if parent else "/") + f"{area.id}/"
    area.save()
    return area


@dataclass
class World:
    city: Area
    district: Area
    street: Area
    community: Area
    grid_a: Area
    grid_b: Area
    other_street: Area
    other_grid: Area
    dept: Department
    worker_a: Staff
    worker_a2: Staff
    worker_b: Staff
    head: Staff
    centre: Staff
    city_centre: Staff
    dept_staff: Staff
    other_worker: Staff
    cat_photo: Category
    cat_nophoto: Category
    cat_urgent: Category

    # Points inside each grid (WGS-84).
    in_a = (24.505, 117.645)
    in_b = (24.505, 117.655)
    in_other = (24.525, 117.645)
    nowhere = (30.0, 110.0)


def make_world() -> World:
    city = make_area(None, "city", "漳州市", "350600")
    district = make_area(city, "district", "芗城区", "350602")
    street = make_area(district, "street", "通北街道", "350602001")
    community = make_area(street, "community", "金源社区", "350602001001")
    grid_a = make_area(community, "grid", "金源第一网格", "350602001001001", square(24.50, 117.64))
    grid_b = make_area(community, "grid", "金源第二网格", "350602001001002", square(24.50, 117.65))
    other_street = make_area(district, "street", "芝山街道", "350602002")
    other_community = make_area(other_street, "community", "联三社区", "350602002001")
    other_grid = make_area(other_community, "grid", "联三第一网格", "350602002001001", square(24.52, 117.64))
    dept = Department.create(name="城管办", code="cgb-1", kind="cgb", area=street)
    parent = Category.create(code="01", name="环境卫生", plain_name="脏乱差")
    parent2 = Category.create(code="02", name="矛盾纠纷", plain_name="吵架纠纷")
    parent3 = Category.create(code="03", name="消防隐患", plain_name="着火隐患")
    cat_photo = Category.create(code="0101", parent=parent, name="暴露垃圾", plain_name="垃圾没人清",
                                keywords=["垃圾", "脏"], default_department_kind="cgb", photo_required=True)
    cat_nophoto = Category.create(code="0201", parent=parent2, name="邻里纠纷", plain_name="邻居吵架",
                                  keywords=["吵架", "噪音"], photo_required=False,
                                  resolve_limit=5, resolve_unit="work_days")
    cat_urgent = Category.create(code="0301", parent=parent3, name="楼道堆物", plain_name="楼道里堆了东西",
                                 keywords=["楼道", "堆"], urgent=True, accept_limit=2, accept_unit="hours")

    def staff(name, role, area=None, department=None):
        return Staff.create(name=name, role=role, area=area, department=department,
                            oa_openid=f"oa-{name}", mp_openid=f"sandbox-mp-{name}")

    return World(
        city=city, district=district, street=street, community=community, grid_a=grid_a, grid_b=grid_b,
        other_street=other_street, other_grid=other_grid, dept=dept,
        worker_a=staff("张三", "grid_worker", grid_a), worker_a2=staff("张四", "grid_worker", grid_a),
        worker_b=staff("李四", "grid_worker", grid_b), head=staff("王五", "community_head", community),
        centre=staff("赵六", "centre_operator", street), city_centre=staff("钱七", "centre_operator", city),
        dept_staff=staff("孙八", "department_staff", street, dept),
        other_worker=staff("周九", "grid_worker", other_grid),
        cat_photo=cat_photo, cat_nophoto=cat_nophoto, cat_urgent=cat_urgent,
    )
