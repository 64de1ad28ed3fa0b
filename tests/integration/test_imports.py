"""Imports for going live (issue 16): areas from GeoJSON, staff and buildings from CSV/XLSX through
the one service the CLI and the console share. Bad rows are listed by number and nothing is
written; a re-run changes nothing; GBK/GB18030/UTF-8(-BOM)/UTF-16 and XLSX read alike."""
from __future__ import annotations

import codecs
import io
import json

import pytest
from openpyxl import Workbook

from backend import config, geo
from backend.crypto import FieldCipher
from backend.db import db
from backend.errors import DomainError
from backend.models import Area, Building, BuildingUnit, Department, Staff
from backend.services import imports
from backend.services.imports import tabular
from tests.factories import make_area, make_world, square


def feature(code, name, geometry, level="grid", **props):
    return {"type": "Feature", "geometry": geometry, "properties": {"code": code, "name": name, "level": level, **props}}


def collection(*features) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False).encode()


def rect(lat, lng, dlat, dlng):
    return {"type": "Polygon", "coordinates": [[[lng, lat], [lng + dlng, lat], [lng + dlng, lat + dlat],
                                                [lng, lat + dlat], [lng, lat]]]}


BOWTIE = {"type": "Polygon", "coordinates": [[[117.60, 24.40], [117.61, 24.41], [117.61, 24.40],
                                               [117.60, 24.41], [117.60, 24.40]]]}


def dump(*models) -> list:
    """Every row of the tables, to compare before and after a re-run."""
    return [sorted(json.dumps(row, sort_keys=True, default=str) for row in m.select().dicts()) for m in models]


def errors_by_row(job) -> dict[int, str]:
    return {e["row"]: e["message"] for e in job.errors}


@pytest.fixture
def world():
    return make_world()


NEW_COMMUNITY = [
    feature("350602001002", "通北社区", rect(24.46, 117.64, 0.01, 0.03), level="community", parent_code="350602001"),
    feature("350602001002001", "通北第一网格", rect(24.46, 117.64, 0.01, 0.01), parent_code="350602001002"),
    feature("350602001002002", "通北第二网格", rect(24.46, 117.65, 0.01, 0.01), parent_code="350602001002"),
    feature("350602001002003", "通北第三网格", rect(24.46, 117.66, 0.01, 0.01), parent_code="350602001002"),
]


def test_areas_are_upserted_by_code_and_a_rerun_changes_nothing(world):
    before = Area.select().count()
    dry = imports.run("areas", collection(*NEW_COMMUNITY), dry_run=True)
    assert dry.ok and dry.plan == {"create": 4, "update": 0, "same": 0} and Area.select().count() == before
    job = imports.run("areas", collection(*NEW_COMMUNITY))
    assert job.result == {"create": 4, "update": 0, "same": 0} and not job.warnings
    community = Area.get(Area.code == "350602001002")
    grid = Area.get(Area.code == "350602001002002")
    assert community.parent_id == world.street.id and grid.parent_id == community.id
    assert grid.path == f"{world.street.path}{community.id}/{grid.id}/"
    assert geo.grid_index().locate(24.465, 117.655) == grid.id  # routable at once
    snapshot = dump(Area)
    again = imports.run("areas", collection(*NEW_COMMUNITY))
    assert again.result == {"create": 0, "update": 0, "same": 4} and dump(Area) == snapshot
    renamed = [dict(f, properties=dict(f["properties"])) for f in NEW_COMMUNITY]
    renamed[2]["properties"]["name"] = "通北二网格"
    assert imports.run("areas", collection(*renamed)).result == {"create": 0, "update": 1, "same": 3}
    assert Area.get(Area.code == "350602001002002").name == "通北二网格"


def test_bad_features_are_listed_by_number_and_nothing_is_written(world):
    features = [
        feature("350602001002", "通北社区", rect(24.46, 117.64, 0.01, 0.03), level="community", parent_code="350602001"),
        feature("350602001002001", "自相交", BOWTIE, parent_code="350602001002"),
        feature("350602001002002", "第二", rect(24.46, 117.65, 0.01, 0.01), parent_code="350602001002"),
        feature("350602001002003", "压着第二", rect(24.46, 117.655, 0.01, 0.01), parent_code="350602001002"),
        feature("350602001002002", "重复编码", rect(24.46, 117.67, 0.01, 0.01), parent_code="350602001002"),
        feature("350602001002004", "无上级", rect(24.40, 117.64, 0.01, 0.01), parent_code="NOPE"),
        feature("350602001002005", "层级不对", rect(24.40, 117.64, 0.01, 0.01), parent_code="350602001"),
        feature("350602001002006", "压着已有的金源第一网格", rect(24.50, 117.645, 0.01, 0.01),
                parent_code=world.community.code),
        feature(world.grid_b.code, "搬家", rect(24.50, 117.65, 0.01, 0.01), parent_code="350602001002"),
        feature("350602001002007", "", rect(24.40, 117.64, 0.01, 0.01), parent_code="350602001002"),
        feature("3506 0200", "空格编码", rect(24.40, 117.64, 0.01, 0.01)),
        feature("350602001002008", "经纬度颠倒", rect(117.64, 24.40, 0.01, 0.01), parent_code="350602001002"),
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.6, 24.4]},
         "properties": {"code": "350602001002009", "name": "点", "parent_code": "350602001002"}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[["a", "b"]]]},
         "properties": {"code": "350602001002010", "name": "乱写", "parent_code": "350602001002"}},
        {"type": "Feature", "geometry": None, "properties": {"code": "350602001002011", "name": "无图形",
                                                              "parent_code": "350602001002"}},
        "not even an object",
        feature(world.grid_a.code, "已有网格，上级写错", rect(24.50, 117.64, 0.01, 0.01), parent_code="NOPE"),
    ]
    snapshot = dump(Area)
    job = imports.run("areas", collection(*features))  # not a dry run: still nothing is written
    found = errors_by_row(job)
    expected = {2: "自相交", 4: "与第 3 个要素 350602001002002 第二重叠", 5: "编码重复", 6: "找不到上级区域",
                7: "街道下面不能直接放网格", 8: "与已有区域 350602001001", 9: "导入不能移动区域",
                10: "缺少名称", 11: "编码只能是", 12: "坐标超出经纬度范围", 13: "不是面", 14: "无法读取",
                15: "缺少几何图形", 16: "不是 GeoJSON Feature", 17: "找不到上级区域"}
    for row, words in expected.items():
        assert words in found.get(row, ""), (row, found.get(row))
    assert set(found) == set(expected) and job.state == "checked" and job.result is None
    assert dump(Area) == snapshot


def test_gaps_and_children_outside_their_parent_are_warnings_not_errors(world):
    community = feature("350602001003", "空隙社区", rect(24.40, 117.60, 0.01, 0.03), level="community",
                        parent_code="350602001")
    grids = [feature("350602001003001", "一", rect(24.40, 117.60, 0.01, 0.01), parent_code="350602001003"),
             feature("350602001003002", "三（出界）", rect(24.40, 117.62, 0.01, 0.012), parent_code="350602001003")]
    job = imports.run("areas", collection(community, *grids), dry_run=True)
    assert job.ok and len(job.warnings) == 2
    gap, outside = sorted(job.warnings, key=lambda w: w["row"])
    assert gap["row"] == 1 and "不属于任何下级区域" in gap["message"] and "综治中心" in gap["message"]
    assert outside["row"] == 3 and "超出上级区域" in outside["message"]
    no_parent_shape = [feature("350602001004", "无边界社区", None, level="community", parent_code="350602001")]
    assert imports.run("areas", collection(*no_parent_shape), dry_run=True).errors  # a community needs a shape
    ring = [feature("350602001001091", "环西", rect(24.48, 117.60, 0.03, 0.01), parent_code=world.community.code),
            feature("350602001001092", "环东", rect(24.48, 117.62, 0.03, 0.01), parent_code=world.community.code),
            feature("350602001001093", "环南", rect(24.48, 117.61, 0.01, 0.01), parent_code=world.community.code),
            feature("350602001001094", "环北", rect(24.50, 117.61, 0.01, 0.01), parent_code=world.community.code)]
    holes = imports.run("areas", collection(*ring), dry_run=True)
    assert holes.ok and any("空隙" in w["message"] for w in holes.warnings)


def test_gcj02_boundaries_are_stored_in_wgs84(world):
    wgs = rect(24.46, 117.64, 0.01, 0.01)
    gcj = {"type": "Polygon", "coordinates": [[list(reversed(geo.wgs84_to_gcj02(lat, lng)))
                                               for lng, lat in wgs["coordinates"][0]]]}
    imports.run("areas", collection(feature("350602001001031", "高德画的网格", gcj, parent_code=world.community.code)),
                options={"datum": "gcj02"})
    stored = Area.get(Area.code == "350602001001031").boundary["coordinates"][0][0]
    assert abs(stored[0] - 117.64) < 1e-6 and abs(stored[1] - 24.46) < 1e-6


@pytest.mark.parametrize("raw, message", [
    (b"", "不是有效的 JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "不是有效的 JSON"),
    (b"[1, 2, 3]", "FeatureCollection"),
    (b'{"type": "FeatureCollection", "features": {}}', "FeatureCollection"),
    (b'{"type": "FeatureCollection", "features": []}', "没有任何要素"),
    (json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
                 "features": [feature("1", "x", square(24.5, 117.6))]}).encode(), "不是经纬度"),
    ('{"type": "FeatureCollection", "features": [' + ",".join(['{"type":"Feature"}'] * 20001) + "]}", "最多导入"),
    (b"[" * 100000 + b"]" * 100000, "不是有效的 JSON"),
])
def test_unreadable_geojson_is_refused_as_a_whole(world, raw, message):
    with pytest.raises(DomainError) as caught:
        imports.run("areas", raw.encode() if isinstance(raw, str) else raw)
    assert message in caught.value.message
    assert Area.select().count() == 9


def test_bad_options_are_refused(world):
    for kind, options, message in (("areas", {"datum": "bd09"}, "WGS-84 或 GCJ-02"),
                                   ("areas", {"parent_code": "NOPE"}, "找不到上级区域"),
                                   ("staff", {"code_days": "365"}, "1–90"),
                                   ("buildings", {"datum": "mercator"}, "wgs84")):
        with pytest.raises(DomainError) as caught:
            imports.start(kind, b"x", options=options)
        assert message in caught.value.message


# ---------------------------------------------------------------- staff


STAFF_ROWS = [("姓名", "角色", "区域编码", "手机", "部门", "登录名"),
              ("陈志强", "网格员", "350602001001001", "13900000001", "", ""),
              ("林丽䶮", "网格员", "350602001001002", "139-0000-0002", "", ""),
              ("黄建华", "社区负责人", "350602001001", "+86 139 0000 0003", "", "huangjh"),
              ("张秀英", "部门人员", "350602001", "13900000004", "通北街道民政办", "")]


def csv_bytes(rows, codec: str, delimiter: str = ",") -> bytes:
    text = "\r\n".join(delimiter.join(r) for r in rows) + "\r\n"
    return text.encode(codec)


def xlsx_bytes(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append([int(c) if c.isdigit() and len(c) == 11 else c for c in row])  # a mobile typed as a number
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("raw, encoding", [
    (csv_bytes(STAFF_ROWS, "utf-8"), "UTF-8"),
    (codecs.BOM_UTF8 + csv_bytes(STAFF_ROWS, "utf-8"), "UTF-8（带 BOM）"),
    (csv_bytes(STAFF_ROWS[:2] + STAFF_ROWS[3:], "gbk"), "GBK"),  # 䶮 is not in GBK
    (csv_bytes(STAFF_ROWS, "gb18030"), "GB18030"),
    (csv_bytes(STAFF_ROWS, "utf-16", "\t"), "UTF-16"),  # Excel's "Unicode 文本"
    (xlsx_bytes(STAFF_ROWS), "XLSX"),
])
def test_every_spreadsheet_encoding_reads_the_same(raw, encoding):
    table = tabular.read_table(raw, "staff.xlsx" if encoding == "XLSX" else "staff.csv")
    assert table.encoding == encoding
    records = tabular.records(table, imports.kind_module("staff").COLUMNS, ("name",))
    assert records[0] == {"row": 2, "name": "陈志强", "role": "网格员", "area_code": "350602001001001",
                          "mobile": "13900000001", "department": "", "username": ""}
    assert records[-1]["department"] == "通北街道民政办"


@pytest.mark.parametrize("raw, name, message", [
    (b"", "a.csv", "空的"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "a.xls", ".xls"),
    (b"PK\x03\x04broken", "a.xlsx", "不是有效的 .xlsx"),
    (bytes(range(256)) * 4, "a.csv", "编码无法识别"),
    ("姓名,角色\n".encode(), "a.csv", "缺少列：区域编码、手机"),
    ("姓名,角色,区域编码,手机\n".encode(), "a.csv", "没有数据行"),
    (("姓名,角色,区域编码,手机\n" + "a,网格员,1,13900000000\n" * 20001).encode(), "a.csv", "最多导入"),
    ('姓名,角色,区域编码,手机\n"a,网格员\n'.encode(), "a.csv", "CSV 格式错误"),
])
def test_unreadable_spreadsheets_are_refused_as_a_whole(world, raw, name, message):
    with pytest.raises(DomainError) as caught:
        imports.run("staff", raw, name)
    assert message in caught.value.message


def test_staff_import_encrypts_mobiles_issues_binding_codes_and_a_rerun_changes_nothing(world):
    raw = xlsx_bytes(STAFF_ROWS)
    job = imports.run("staff", raw, "staff.xlsx", {"code_days": 7})
    assert job.ok and {k: job.result[k] for k in ("create", "update", "same")} == {"create": 4, "update": 0, "same": 0}
    cipher = FieldCipher.from_key(config.current().field_key)
    people = {s.name: s for s in Staff.select().where(Staff.name.in_([r[0] for r in STAFF_ROWS[1:]]))}
    assert set(people) == {"陈志强", "林丽䶮", "黄建华", "张秀英"}
    assert cipher.decrypt(people["林丽䶮"].phone_enc, "staff.phone") == "13900000002"
    assert people["黄建华"].phone_index == cipher.blind_index("13900000003", "staff.phone")
    dumped = json.dumps(list(Staff.select().dicts()), default=str)
    assert "13900000001" not in dumped and "0000 0003" not in dumped
    head = people["黄建华"]
    assert head.role == "community_head" and head.username == "huangjh" and head.password_change_required
    department = Department.get(Department.name == "通北街道民政办")
    assert people["张秀英"].department_id == department.id and department.kind == "mzb"
    assert department.area_id == world.street.id
    sheet = {e["name"]: e for e in job.result["sheet"]}
    assert len(sheet) == 4 and all(len(e["code"]) == 8 for e in sheet.values())
    assert sheet["黄建华"]["password"] and sheet["陈志强"]["password"] is None
    assert Staff.get_by_id(sheet["陈志强"]["staff_id"]).bind_token == sheet["陈志强"]["code"]
    snapshot = dump(Staff, Department)
    again = imports.run("staff", csv_bytes(STAFF_ROWS, "gb18030"), "staff.csv", {"code_days": 7})
    assert {k: again.result[k] for k in ("create", "update", "same")} == {"create": 0, "update": 0, "same": 4}
    assert dump(Staff, Department) == snapshot  # same codes, same passwords, no second department
    assert {e["name"]: e["code"] for e in again.result["sheet"]} == {n: e["code"] for n, e in sheet.items()}
    assert all(e["password"] is None for e in again.result["sheet"])
    moved = [list(r) for r in STAFF_ROWS]
    moved[1][2] = world.grid_b.code
    assert imports.run("staff", csv_bytes(moved, "utf-8"), "s.csv").result["update"] == 1
    assert Staff.get_by_id(people["陈志强"].id).area_id == world.grid_b.id


def test_the_sheet_of_binding_codes_is_a_pdf_with_cutting_lines():
    from backend.binding_sheet import sheet_pages, sheet_pdf

    entries = [{"name": f"网格员{i}", "role": "网格员", "area": "金源第一网格", "code": "ABCD2345",
                "expires_at": "2026-12-17 12:00"} for i in range(9)]
    pdf = sheet_pdf(entries, "工作人员微信绑定码")
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page\r") + \
        pdf.count(b"/Type /Page ") >= 1 and b"/Count 2" in pdf  # eight slips a page
    page = sheet_pages(entries[:1], "x")[0]
    top = round(10 / 25.4 * 300) + round(12 / 25.4 * 300)  # margin + title: the first slip's upper edge
    edge = [page.getpixel((x, top + dy)) for x in range(page.width) for dy in (-1, 0, 1)]
    assert edge.count(0) > page.width // 4  # the dashed cutting line survives the black-and-white page


def test_bad_staff_rows_are_listed_and_nothing_is_imported(world):
    Staff.create(name="已在用", role="centre_operator", area=world.street, username="taken")
    rows = [("姓名", "角色", "区域编码", "手机", "部门", "登录名"),
            ("好人", "网格员", world.grid_a.code, "13900000001", "", ""),
            ("", "保安", world.grid_a.code, "1390000", "", ""),
            ("王", "网格员", "999", "13900000009", "", ""),
            ("错层", "网格员", world.community.code, "13900000010", "", ""),
            ("重号", "网格员", world.grid_b.code, "13900000001", "", ""),
            ("部门", "部门人员", world.street.code, "13900000011", "", ""),
            ("登录", "网格员", world.grid_b.code, "13900000012", "", "abc"),
            ("抢名", "社区负责人", world.community.code, "13900000013", "", "taken"),
            ("固话", "网格员", world.grid_b.code, "0596-2345678", "", ""),
            ("外区", "网格员", world.other_grid.code, "13900000014", "", ""),
            ("我自己", "网格员", world.grid_a.code, "13900000015", "", "")]
    me = Staff.create(name="我自己", role="admin", area=world.street, phone_index=FieldCipher.from_key(
        config.current().field_key).blind_index("13900000015", "staff.phone"))
    before = dump(Staff, Department)
    job = imports.run("staff", csv_bytes(rows, "utf-8"), "s.csv", {"scope_path": world.street.path,
                                                                   "actor_staff_id": me.id})
    found = errors_by_row(job)
    expected = {3: "没有这个角色：保安", 4: "找不到区域编码 999", 5: "网格员应属于网格", 6: "与第 2 行重复",
                7: "部门人员请填写部门", 8: "登录名请留空", 9: "已被已在用使用", 10: "不是 11 位大陆手机号",
                11: "不在您管辖的范围内", 12: "不能改变自己的角色"}
    for row, words in expected.items():
        assert words in found.get(row, ""), (row, found.get(row))
    assert "姓名为空" in found[3] and "1390000 不是 11 位" in found[3]
    assert set(found) == set(expected) and dump(Staff, Department) == before


def test_an_import_checked_then_overtaken_writes_nothing(world):
    job = imports.check_all(imports.start("staff", csv_bytes(STAFF_ROWS, "utf-8"), "s.csv"))
    assert job.ok
    Area.update(level="community").where(Area.id == world.grid_b.id).execute()  # someone else, meanwhile
    with pytest.raises(DomainError) as caught:
        imports.commit(job)
    assert "第 3 行" in caught.value.message and "整个文件没有导入" in caught.value.message
    assert not Staff.select().where(Staff.name == "陈志强").exists()


# ---------------------------------------------------------------- buildings


def test_buildings_from_xlsx_then_a_community_poster_sheet(world):
    from backend import posters

    rows = [("网格编码", "楼栋", "单元", "地址", "纬度", "经度", "坐标系")]
    for b in range(3):
        for u in range(2):
            rows.append((world.grid_a.code, f"{b + 1}号楼", f"{u + 1}单元", f"金源小区{b + 1}号楼", "24.505", "117.645", "gcj02"))
    job = imports.run("buildings", xlsx_bytes(rows), "b.xlsx")
    assert job.result["create"] == 6 and job.result["communities"] == [world.community.id]
    building = Building.get(Building.name == "1号楼")
    assert (building.lat, building.lng) == pytest.approx(geo.gcj02_to_wgs84(24.505, 117.645))
    tokens = dump(BuildingUnit)
    assert imports.run("buildings", xlsx_bytes(rows), "b.xlsx").result["same"] == 6 and dump(BuildingUnit) == tokens
    labels = posters.labels_for(world.community)
    assert len(labels) == 6 and labels[0].community == "金源社区" and labels[0].building == "1号楼"
    assert posters.sheet_pdf(labels, "金源社区").startswith(b"%PDF")


def test_a_scope_limits_what_an_admin_may_import(world):
    scope = world.street.path
    other = make_area(world.other_street, "community", "别人的社区", "350602002009", rect(24.3, 117.6, 0.01, 0.01))
    job = imports.run("areas", collection(feature("350602002009001", "别人的网格", rect(24.3, 117.6, 0.01, 0.01),
                                                   parent_code=other.code)), options={"scope_path": scope})
    assert "不在您管辖的范围内" in job.errors[0]["message"]
    buildings = [("网格编码", "楼栋", "单元"), (world.other_grid.code, "1号楼", "1单元")]
    job = imports.run("buildings", csv_bytes(buildings, "utf-8"), "b.csv", {"scope_path": scope})
    assert "不在您管辖的范围内" in job.errors[0]["message"] and Building.select().count() == 0
    db.connect(reuse_if_open=True)
