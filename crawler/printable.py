"""Page-derived text made safe for a terminal or a log line.

Adverts are written by adversaries: a name or URL holding ESC, BEL or CR can
rewrite what an operator's terminal shows (colours, titles, erased lines), and
bidirectional overrides can reorder it. :func:`printable` escapes every such
character visibly (``\\x1b``, ``\\u202e``) and can shorten a value, so what the
CLI prints and logs is what the value holds, nothing more.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the Unicode bidirectional controls; tab is escaped too
# (tables align on it) and so are line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object, limit: int | None = None) -> str:
    """``value`` as text with control characters escaped; cut to ``limit`` characters + "…"."""
    text = "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"…({len(text)} chars)"
    return _UNSAFE.sub(_escape, text)
