"""Reading a spreadsheet as people in China send it: CSV in UTF-8 (with or without the BOM Excel
writes), GBK/GB18030 (what Excel's "CSV" saves on a Chinese Windows), UTF-16 tab-separated
("Unicode 文本"), or XLSX. Rows keep the number a person sees in Excel (the header is row 1),
so every error can say "第 5 行".
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass

from backend.errors import DomainError

MAX_ROWS = 20000
XLSX_MAGIC = b"PK\x03\x04"
OLD_EXCEL_MAGIC = b"\xd0\xcf\x11\xe0"  # .xls (BIFF): openpyxl cannot read it


@dataclass
class Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (row number as Excel shows it, cells)
    encoding: str  # what was detected: "XLSX", "UTF-8", "UTF-8（带 BOM）", "GBK", "GB18030", "UTF-16"


def decode(raw: bytes) -> tuple[str, str]:
    """(text, encoding name). BOMs first, then strict UTF-8, then GBK, then its superset GB18030."""
    for bom, codec, name in ((codecs.BOM_UTF8, "utf-8-sig", "UTF-8（带 BOM）"),
                             (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"), (codecs.BOM_UTF16_BE, "utf-16", "UTF-16")):
        if raw.startswith(bom):
            try:
                return raw.decode(codec), name
            except UnicodeDecodeError:
                break
    for codec, name in (("utf-8", "UTF-8"), ("gbk", "GBK"), ("gb18030", "GB18030")):
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text, name
    raise DomainError("bad_encoding", "文件编码无法识别，也可能不是文本文件；请在 Excel 里另存为“CSV UTF-8”或 .xlsx")


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 13800138000 typed into a number cell
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _collect(numbered_rows, encoding: str) -> Table:
    """The first non-blank row is the header; blank rows are skipped; at most MAX_ROWS."""
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for number, cells in numbered_rows:
        if header is None:
            if any(cells):
                header = cells
            continue
        if any(cells):
            rows.append((number, cells))
            if len(rows) > MAX_ROWS:
                raise DomainError("too_many_rows", f"一次最多导入 {MAX_ROWS} 行，请分成几个文件")
    if header is None:
        raise DomainError("empty_file", "文件是空的")
    return Table(header, rows, encoding)


def _read_xlsx(raw: bytes) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DomainError("bad_xlsx", f"不是有效的 .xlsx 文件（{exc.__class__.__name__}）") from None
    try:
        values = book.worksheets[0].iter_rows(values_only=True)
        return _collect(((n, [_cell_text(v) for v in row]) for n, row in enumerate(values, start=1)), "XLSX")
    finally:
        book.close()


def _read_csv(raw: bytes) -> Table:
    text, encoding = decode(raw)
    first_line = text.split("\n", 1)[0]
    delimiter = max(",\t;", key=first_line.count) if first_line else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    where = {"line": 0}

    def numbered():
        for record in reader:
            number = where["line"] + 1  # where this record starts
            where["line"] = reader.line_num
            yield number, [c.strip() for c in record]

    try:
        return _collect(numbered(), encoding)
    except csv.Error as exc:
        raise DomainError("bad_csv", f"第 {where['line'] + 1} 行 CSV 格式错误：{exc}") from None


def read_table(raw: bytes, filename: str = "") -> Table:
    """A CSV or XLSX file's header and rows (blank rows skipped)."""
    if not raw:
        raise DomainError("empty_file", "文件是空的")
    if raw.startswith(OLD_EXCEL_MAGIC) or filename.lower().endswith(".xls"):
        raise DomainError("old_excel", "不支持旧的 .xls 格式，请在 Excel 里另存为 .xlsx 或 CSV")
    if raw.startswith(XLSX_MAGIC) or filename.lower().endswith(".xlsx"):
        return _read_xlsx(raw)
    return _read_csv(raw)


def _norm(name: str) -> str:
    return name.replace("\ufeff", "").replace("*", "").replace("＊", "").replace("\u3000", "").strip().lower()


def column_map(header: list[str], columns: dict[str, tuple[str, ...]], required: tuple[str, ...]) -> dict[str, int]:
    """Column key → index, by any of its names (Chinese or English, case and ``*`` ignored)."""
    names = [_norm(h) for h in header]
    found = {}
    for key, aliases in columns.items():
        for alias in aliases:
            if _norm(alias) in names:
                found[key] = names.index(_norm(alias))
                break
    missing = [columns[k][0] for k in required if k not in found]
    if missing:
        raise DomainError("bad_header", "缺少列：" + "、".join(missing) + "（第一行应是列名："
                          + "、".join(v[0] for v in columns.values()) + "）")
    return found


def records(table: Table, columns: dict[str, tuple[str, ...]], required: tuple[str, ...]) -> list[dict]:
    """Each row as {"row": number, key: text, …} for the known columns."""
    index = column_map(table.header, columns, required)
    out = []
    for number, cells in table.rows:
        record = {"row": number}
        for key, position in index.items():
            record[key] = cells[position].strip() if position < len(cells) else ""
        out.append(record)
    if not out:
        raise DomainError("empty_file", "文件里只有列名，没有数据行")
    return out
