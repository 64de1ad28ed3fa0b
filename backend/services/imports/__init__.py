"""Imports for going live (issue 16): areas (GeoJSON), staff and buildings (CSV/XLSX).

One service for the CLI (``python -m server import …``) and the console (管理 · 导入): a file is
parsed into rows (``start``), checked in chunks so either side can show progress
(``check_next``), then as a whole (``finish_check``: duplicates across the file, overlapping
and gapped grids), and only then written, in one transaction, by ``commit`` — which checks
everything again first, so a file is either imported completely or not at all ("nothing
half-imported"). A dry run stops after the checks: the report lists every bad row by its
number and what the import would do (new / changed / unchanged). Rows are upserted by their
natural key (area code; the staff member's mobile number; grid + building + unit), so
running the same file twice changes nothing.

The job state is plain JSON (the console parks it in Redis between polls).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from backend.errors import DomainError

CHUNK = 200


@dataclass
class Problem:
    row: int  # the row as a person sees it: Excel's row number (header = 1), or the feature's position
    message: str
    code: str = ""  # the row's code or name, to find it again

    def to_dict(self) -> dict:
        return {"row": self.row, "message": self.message, "code": self.code}

    def text(self, unit: str = "行") -> str:
        where = f"第 {self.row} {unit}" if self.row else "整个文件"
        return f"{where}{'（' + self.code + '）' if self.code else ''}：{self.message}"


@dataclass
class Job:
    kind: str
    options: dict
    rows: list[dict]
    encoding: str = ""
    done: int = 0
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    memo: dict = field(default_factory=dict)  # what the checks carry from chunk to chunk
    state: str = "checking"  # checking → checked → imported
    result: dict | None = None

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def ok(self) -> bool:
        return self.state in ("checked", "imported") and not self.errors

    @property
    def plan(self) -> dict:
        return self.memo.get("plan", {"create": 0, "update": 0, "same": 0})

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("kind", "options", "rows", "encoding", "done", "errors", "warnings",
                                                "memo", "state", "result")}

    @classmethod
    def from_json(cls, data: dict) -> "Job":
        return cls(**data)


def _kinds() -> dict:
    from backend.services.imports import areas, buildings, staff

    return {"areas": areas, "staff": staff, "buildings": buildings}


KINDS = ("areas", "staff", "buildings")
ROW_UNITS = {"areas": "个要素", "staff": "行", "buildings": "行"}


def kind_module(kind: str):
    module = _kinds().get(kind)
    if module is None:
        raise DomainError("bad_kind", "只能导入 " + "、".join(KINDS))
    return module


def start(kind: str, raw: bytes, filename: str = "", options: dict | None = None) -> Job:
    """Parse the file (a file that cannot be read at all raises DomainError) into a job."""
    module = kind_module(kind)
    options = module.clean_options(dict(options or {}))
    rows, encoding = module.parse(raw, filename)
    return Job(kind=kind, options=options, rows=rows, encoding=encoding, memo=module.new_memo())


def check_next(job: Job, chunk: int = CHUNK) -> None:
    """Check the next ``chunk`` rows; after the last one, the whole-file checks."""
    if job.state != "checking":
        return
    module = kind_module(job.kind)
    stop = min(job.total, job.done + chunk)
    job.errors += [p.to_dict() for p in module.check_rows(job.rows, job.done, stop, job.options, job.memo)]
    job.done = stop
    if job.done >= job.total:
        errors, warnings = module.check_file(job.rows, job.options, job.memo)
        job.errors = sorted(job.errors + [p.to_dict() for p in errors], key=lambda p: p["row"])
        job.warnings = sorted(job.warnings + [p.to_dict() for p in warnings], key=lambda p: p["row"])
        job.state = "checked"


def check_all(job: Job, progress: Callable[[int, int], None] | None = None, chunk: int = CHUNK) -> Job:
    while job.state == "checking":
        check_next(job, chunk)
        if progress:
            progress(job.done, job.total)
    return job


def commit(job: Job) -> dict:
    """Write every row in one transaction — or nothing: a file with any error is refused, and the
    checks run again inside the transaction (the database may have changed since)."""
    if job.state == "imported":
        raise DomainError("already_imported", "这个文件已经导入过了")
    if job.state != "checked":
        raise DomainError("not_checked", "文件还没有检查完")
    if job.errors:
        raise DomainError("import_rejected", f"有 {len(job.errors)} 处问题，整个文件没有导入；请改好后重新上传")
    job.result = kind_module(job.kind).write(job.rows, job.options)
    job.state = "imported"
    return job.result


def recheck(module, rows: list[dict], options: dict) -> None:
    """Inside the writing transaction: every check again; any problem aborts the whole import."""
    memo = module.new_memo()
    problems = module.check_rows(rows, 0, len(rows), options, memo)
    problems += module.check_file(rows, options, memo)[0]
    if problems:
        first = problems[0]
        raise DomainError("import_rejected", f"导入前复查发现问题，整个文件没有导入：{first.text()}"
                          + (f"（共 {len(problems)} 处）" if len(problems) > 1 else ""))


def run(kind: str, raw: bytes, filename: str = "", options: dict | None = None, *, dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None) -> Job:
    """Parse, check and — unless ``dry_run`` or a row is bad — write. The CLI's one call."""
    job = check_all(start(kind, raw, filename, options), progress)
    if job.errors or dry_run:
        return job
    commit(job)
    return job


def plan_row(memo: dict, action: str) -> None:
    plan = memo.setdefault("plan", {"create": 0, "update": 0, "same": 0})
    plan[action] += 1
