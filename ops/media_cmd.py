"""``python -m server media migrate [--from DIR] [--verify-only]``: copy the local media store
into the object store MEDIA_STORE names (backend/media_migrate.py), then verify every object.

Resumable: run it again after an interruption and it copies only what is missing. Progress
goes to stderr (a line per tenth in a log); exit 0 when the verification found nothing wrong,
1 otherwise (the objects are listed)."""
from __future__ import annotations

import sys
from pathlib import Path

from ops.cli import run_with
from ops.progress import Progress


def register(sub, bootstrap) -> None:
    p = sub.add_parser("media", help="the media store: copy a local store into object storage")
    media = p.add_subparsers(dest="media_command", required=True)
    q = media.add_parser("migrate", help="copy MEDIA_DIR (or --from) into MEDIA_STORE=s3://…, then verify; resumable")
    q.add_argument("--from", dest="source", metavar="DIR", help="the local store to copy (default: MEDIA_DIR)")
    q.add_argument("--verify-only", action="store_true", help="copy nothing: only the verification pass")
    q.set_defaults(func=lambda args: run_with(bootstrap, lambda settings: cmd_migrate(args, settings)))


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def cmd_migrate(args, settings) -> int:
    from backend.errors import DomainError
    from backend.media_migrate import copy_store, verify_store
    from backend.media_store import LocalStore, MediaUnavailable, from_settings

    if not settings.media_store:
        raise DomainError("no_object_store", "MEDIA_STORE 没有设置为 s3://<bucket>/<prefix>：没有可以复制到的对象存储")
    source_dir = Path(args.source or settings.media_dir)
    if not source_dir.is_dir():
        raise DomainError("no_source", f"找不到本地媒体目录 {source_dir}")
    source, target = LocalStore(source_dir), from_settings(settings)
    print(f"从 {source.describe()} 复制到 {target.describe()}", file=sys.stderr)
    try:
        if not args.verify_only:
            copied = copy_store(source, target, Progress("复制", 0))
            print(f"复制完成：共 {copied.total} 个文件，本次复制 {copied.copied} 个（{_mb(copied.bytes_copied)}），"
                  f"已在对象存储中跳过 {copied.skipped} 个")
        verified = verify_store(source, target, Progress("校验", 0))
    except MediaUnavailable as exc:
        print(f"✗ 对象存储连不上：{exc}。已复制的不会重复复制，恢复后再运行一次即可。", file=sys.stderr)
        return 1
    for label, shas in (("内容与 sha256 不符", verified.bad), ("对象存储里没有", verified.absent),
                        ("有记录但两处都没有文件", verified.rows_without_object)):
        for sha in shas:
            print(f"✗ {label}：{sha}")
    if not verified.ok:
        print(f"校验未通过：{len(verified.bad)} 个内容不符，{len(verified.absent)} 个缺失，"
              f"{len(verified.rows_without_object)} 条记录没有文件")
        return 1
    print(f"✓ 校验通过：{verified.checked} 个文件的 sha256 全部一致，每条媒体记录都有文件")
    return 0
