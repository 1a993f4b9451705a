"""Page-derived text made safe for a terminal or a log line.

Adverts are written by adversaries: a name or URL holding ESC, BEL or CR can
rewrite what an operator's terminal shows (colours, titles, erased lines), and
bidirectional overrides can reorder it. :func:`printable` escapes every such
character visibly (``\\x1b``, ``\\u202e``) and can shorten a value, so what the
CLI prints and logs is what the value holds, nothing more.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

# C0 and C1 controls, DEL, and the Unicode bidirectional controls; tab is escaped too
# (tables align on it) and so are line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    # C0 as \xNN; DEL, C1 and the rest as \uNNNN, which is also a valid escape in JSON.
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def printable(value: object, limit: int | None = None) -> str:
    """``value`` as text with control characters escaped; cut to ``limit`` characters + "…"."""
    text = "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"…({len(text)} chars)"
    return _UNSAFE.sub(_escape, text)


# What the CLI writes itself keeps its line breaks and tabs; everything else is escaped.
_UNSAFE_IN_OUTPUT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def terminal_safe(text: str) -> str:
    """``text`` with every control character but newline and tab escaped."""
    return _UNSAFE_IN_OUTPUT.sub(_escape, text)


class TerminalSafeStream:
    """A text stream wrapper whose ``write`` escapes control characters (stdout of the CLI).

    Everything else (``buffer``, ``fileno``, ``isatty``…) is the wrapped stream's.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(terminal_safe(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _safe_arg(value: Any) -> Any:
    if isinstance(value, str):
        return terminal_safe(value)
    if isinstance(value, BaseException):
        return terminal_safe(str(value))
    return value


def install_log_escaping() -> None:
    """Escape control characters in every log record's message and arguments, from
    any logger (Scrapy's, ours), once per process: page-derived values reach logs."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "adarchive_escaping", False):
        return

    def escaping_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = terminal_safe(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_safe_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _safe_arg(v) for k, v in record.args.items()}
        return record

    escaping_factory.adarchive_escaping = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(escaping_factory)


def print_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Columns aligned under a header and a rule; every cell escaped with :func:`printable`."""
    cells = [list(map(str, header))] + [[printable(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
