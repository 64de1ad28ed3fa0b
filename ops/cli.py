"""The operator subcommands of ``python -m server`` (registered by ``add_commands``).

    init --admin LOGIN [--admin-name 姓名] --area-code CODE --area-name 名称 [--area-level street]
    import areas|staff|buildings FILE [--dry-run] [...]      posters AREA_CODE OUT.pdf
    keys issue|list|revoke|rotate                            calendar import FILE | calendar show
    check                                                    wechat menu [--print]
    media migrate [--from DIR] [--verify-only]

Exit status: 0 done, 1 refused or failed (the message says why and what to do), 2 bad settings.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from backend import config

Bootstrap = Callable[[], config.Settings]


def add_commands(sub: argparse._SubParsersAction, bootstrap: Bootstrap) -> None:
    """Register the subcommands; ``bootstrap`` is the composition root's (settings, database, relay)."""
    from ops import calendar_cmd, check, imports_cmd, init_cmd, keys_cmd, media_cmd, wechat_cmd

    for module in (init_cmd, imports_cmd, keys_cmd, calendar_cmd, check, wechat_cmd, media_cmd):
        module.register(sub, bootstrap)


def run_with(bootstrap: Bootstrap, body: Callable[[config.Settings], int]) -> int:
    """Bootstrap, open a connection for the command and turn a DomainError into one line."""
    from backend.db import open_connection
    from backend.errors import DomainError

    settings = bootstrap()
    try:
        with open_connection():
            return body(settings)
    except DomainError as err:
        print(f"✗ {err.message}", file=sys.stderr)
        return 1
