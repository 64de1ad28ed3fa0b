"""Run ``python -m server …`` as a separate process against the test settings, as an operator would."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures_web import settings_environ

ROOT = Path(__file__).resolve().parent.parent


def server_env(settings, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EJIA_", "WECHAT_", "SMS_", "MP_"))}
    env.update(settings_environ(settings))
    env.update({"PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_server(settings, *argv, timeout: float = 180, input: str | None = None, **extra) -> subprocess.CompletedProcess:
    """The command's exit status, stdout and stderr (text)."""
    return subprocess.run([sys.executable, "-m", "server", *map(str, argv)], cwd=ROOT, env=server_env(settings, **extra),
                          capture_output=True, text=True, timeout=timeout, input=input)
