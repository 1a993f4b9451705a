"""A one-line text progress bar for terminals (no dependency, redraws in place)."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 24


def bar(done: int, total: int | None, width: int = WIDTH) -> str:
    """``[#########---------]``; an unknown total shows a bar of dots."""
    if not total or total <= 0:
        return "[" + "." * width + "]"
    filled = min(width, round(width * min(done, total) / total))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def progress_line(
    label: str, done: int, total: int | None, extra: str = "", width: int = WIDTH
) -> str:
    counts = f"{done}/{total}" if total else str(done)
    return f"{label} {bar(done, total, width)} {counts} {extra}".rstrip()


class TerminalProgress:
    """Draws lines over themselves on a terminal; does nothing when not on one.

    Long commands call :meth:`draw` as they go and :meth:`done` at the end, so
    a pipe or a log file never receives carriage returns.
    """

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = isatty() if enabled is None else enabled
        self._lines = 0

    def draw(self, *lines: str) -> None:
        if not self.enabled:
            return
        out = self.stream
        if self._lines:
            out.write(f"\x1b[{self._lines}F")  # back to the first line drawn last time
        for line in lines:
            out.write("\r\x1b[2K" + line + "\n")
        for _ in range(self._lines - len(lines)):
            out.write("\r\x1b[2K\n")
        if self._lines > len(lines):
            out.write(f"\x1b[{self._lines - len(lines)}F")
        self._lines = len(lines)
        out.flush()

    def done(self) -> None:
        self._lines = 0
