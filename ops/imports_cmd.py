"""``python -m server import areas|staff|buildings FILE [--dry-run]`` and ``posters AREA_CODE OUT.pdf``.

The same service as the console (backend/services/imports): every row checked with a progress
bar, every bad row listed by its number, and nothing written unless the whole file is good.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from ops.cli import run_with
from ops.progress import Progress

MAX_FILE = 64 * 1024 * 1024


def register(sub, bootstrap) -> None:
    p = sub.add_parser("import", help="import areas (GeoJSON), staff or buildings (CSV/XLSX)")
    kinds = p.add_subparsers(dest="import_kind", required=True)
    q = kinds.add_parser("areas", help="area boundaries from a GeoJSON FeatureCollection")
    q.add_argument("file")
    q.add_argument("--datum", default="wgs84", choices=("wgs84", "gcj02"), help="the file's coordinates")
    q.add_argument("--parent", metavar="CODE", help="parent of features without parent_code")
    _common(q, bootstrap)
    q = kinds.add_parser("staff", help="staff from CSV/XLSX; prints a PDF sheet of one-time binding codes")
    q.add_argument("file")
    q.add_argument("--code-days", type=int, default=14, help="how long the binding codes work")
    q.add_argument("--sheet", metavar="OUT.pdf", help="where the binding-code sheet goes")
    _common(q, bootstrap)
    q = kinds.add_parser("buildings", help="buildings and units from CSV/XLSX; then the QR posters")
    q.add_argument("file")
    q.add_argument("--datum", default="wgs84", choices=("wgs84", "gcj02"))
    q.add_argument("--posters", metavar="DIR", help="write each community's QR poster PDF here")
    _common(q, bootstrap)
    p = sub.add_parser("posters", help="the QR posters of every unit under an area, one A4 PDF")
    p.add_argument("area_code")
    p.add_argument("out", metavar="OUT.pdf")
    p.set_defaults(func=lambda args: run_with(bootstrap, lambda s: cmd_posters(args)))


def _common(parser, bootstrap) -> None:
    parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    parser.set_defaults(func=lambda args: run_with(bootstrap, lambda s: cmd_import(args)))


def _read(path: str) -> bytes:
    file = Path(path)
    if not file.is_file():
        from backend.errors import DomainError

        raise DomainError("no_file", f"找不到文件 {path}")
    if file.stat().st_size > MAX_FILE:
        from backend.errors import DomainError

        raise DomainError("file_too_large", f"文件超过 {MAX_FILE // 1024 // 1024} MB，请分成几个文件")
    return file.read_bytes()


def cmd_import(args) -> int:
    from backend.services import imports

    kind = args.import_kind
    options = {"datum": getattr(args, "datum", None), "parent_code": getattr(args, "parent", None),
               "code_days": getattr(args, "code_days", None)}
    job = imports.start(kind, _read(args.file), os.path.basename(args.file), options)
    unit = imports.ROW_UNITS[kind]
    print(f"文件：{args.file}（{job.encoding}），{job.total} {unit}")
    imports.check_all(job, Progress("检查", job.total))
    for problem in job.errors:
        print("✗ " + imports.Problem(**problem).text(unit))
    for warning in job.warnings:
        print("! 提醒：" + warning["message"])
    plan = job.plan
    if job.errors:
        print(f"共 {len(job.errors)} 处问题，什么也没有导入。请改好文件后再运行（已导入的行不会重复）。")
        return 1
    if args.dry_run:
        print(f"✓ 检查通过（试运行，什么也没有写入）：将新增 {plan['create']}，更新 {plan['update']}，"
              f"{plan['same']} 没有变化")
        return 0
    result = imports.commit(job)
    print(f"✓ 已导入：新增 {result['create']}，更新 {result['update']}，未变 {result['same']}")
    if kind == "staff":
        return _sheet(args, result["sheet"])
    if kind == "buildings" and args.posters:
        return _posters_for(result["communities"], Path(args.posters))
    return 0


def _private_write(path: Path, body: bytes) -> None:
    """Readable by the owner only: the sheet holds one-time codes (and passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(body)


def _sheet(args, entries: list[dict]) -> int:
    from backend import posters
    from backend.binding_sheet import sheet_pdf

    path = Path(args.sheet or f"binding-codes-{dt.datetime.now():%Y%m%d-%H%M}.pdf")
    codes = sum(1 for e in entries if e.get("code"))
    try:
        _private_write(path, sheet_pdf(entries, "工作人员微信绑定码"))
    except posters.FontMissing as err:
        print(f"✗ 绑定码表没有生成：{err}。人员已导入；装好字体后重新运行同一条命令即可（未过期的绑定码不变）")
        return 1
    print(f"✓ 绑定码表：{path}（{codes} 人待绑定，只有本机当前用户可读；剪开后当面交给本人）")
    return 0


def _posters_for(community_ids: list[int], directory: Path) -> int:
    from backend.models import Area

    for area in Area.select().where(Area.id.in_(community_ids)).order_by(Area.code):
        status = _write_posters(area, directory / f"{area.code}-{area.name}-二维码.pdf")
        if status:
            return status
    return 0


def _write_posters(area, path: Path) -> int:
    from backend import posters

    labels = posters.labels_for(area)
    if not labels:
        print(f"✗ {area.name} 还没有登记楼栋单元")
        return 1
    try:
        body = posters.sheet_pdf(labels, f"{area.name} 楼栋单元二维码")
    except posters.FontMissing as err:
        print(f"✗ {err}")
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    print(f"✓ {area.name}：{len(labels)} 个单元二维码 → {path}")
    return 0


def cmd_posters(args) -> int:
    from backend.errors import DomainError
    from backend.models import Area

    area = Area.get_or_none(Area.code == args.area_code)
    if area is None:
        raise DomainError("no_area", f"找不到区域编码 {args.area_code}")
    return _write_posters(area, Path(args.out))
