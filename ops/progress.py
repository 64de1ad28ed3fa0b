"""A progress bar on stderr for long files: redrawn in place on a terminal, a line per tenth
otherwise (a log file or CI keeps a readable record)."""
from __future__ import annotations

import sys


class Progress:
    def __init__(self, label: str, total: int, stream=None, width: int = 30):
        self.label, self.total, self.width = label, max(total, 0), width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_tenth = -1

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        total = self.total or 1
        done = min(done, total)
        if self.tty:
            filled = int(self.width * done / total)
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}")
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()
            return
        tenth = done * 10 // total
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(f"{self.label}: {done}/{self.total} ({tenth * 10}%)\n")
            self.stream.flush()
