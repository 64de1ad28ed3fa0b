"""The one-way dependency rule, read from the source (docs/architecture.md, "Layout").

Adapters import the backend, never the other way; no adapter imports another (the WeChat API
client in ``wechat.client`` is the one shared piece); nothing that ships imports the composition
root (``server``), the test helpers (``tests``), the benchmarks or the sandbox.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> the project packages and frameworks it may import (besides itself and libraries)
ALLOWED = {
    "backend": set(),
    "wechat": {"backend", "flask", "wechatpy"},
    "miniprogram_api": {"backend", "flask", "wechat.client"},
    "console": {"backend", "flask"},
    "open311": {"backend", "flask"},
    "mobile": {"backend", "flask", "wechat.client"},
    "workers": {"backend", "rq", "wechat.client"},
    "sandbox": {"backend", "flask", "wechatpy", "wechat.menu"},  # shows the product's menu before one is created
    "ops": {"backend", "wechat.cli", "wechat.client", "wechat.menu", "workers"},  # operator shells, like server.py
}
WATCHED = set(ALLOWED) | {"server", "tests", "bench", "flask", "rq", "wechatpy"}


def imports_of(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Every watched module a package's files import, with the files that import it."""
    found: dict[str, set[str]] = {}
    files = sorted((root / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in WATCHED or top == package:
                    continue
                key = ".".join(name.split(".")[:2]) if top == "wechat" else top  # wechat.client, …
                found.setdefault(key, set()).add(str(path.relative_to(root)))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_layout_allows(package):
    found = imports_of(package)
    illegal = {name: sorted(files) for name, files in found.items() if name not in ALLOWED[package]}
    assert not illegal, f"{package}/ imports what the layout forbids: {illegal}"


def test_the_scan_sees_a_forbidden_import(tmp_path):
    """The check above would fail on a real violation (the scan is not blind)."""
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "bad.py").write_text(
        "from flask import request\nimport server\nfrom wechat.client import base\n", encoding="utf-8")
    assert set(imports_of("backend", tmp_path)) == {"flask", "server", "wechat.client"}
