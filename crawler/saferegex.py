"""Definition regexes on a linear-time engine (RE2), so a page cannot make one hang a crawl.

Python's ``re`` backtracks: ``(a+)+$`` against a long run of ``a`` without a
match takes exponential time, in the crawl's only thread, where a stop
signal cannot interrupt it. RE2 (``google-re2``) matches in time linear in
the text. What RE2 cannot express (backreferences, lookaround, possessive
quantifiers) is refused when the definition is loaded, with one line saying
so, instead of being run on a backtracking engine.

RE2's ``\\d``, ``\\w`` and ``\\s`` are ASCII-only; write Unicode classes
(``\\p{N}``, ``\\p{L}``) where a platform's pages need them.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

# Memory RE2 may use for one compiled regex: generous for any selector post-filter,
# small enough that a pathological pattern is refused rather than built.
MAX_MEMORY = 8 << 20


class UnsafeRegex(ValueError):
    """A regex the linear-time engine cannot run; the message says why in one line."""


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_MEMORY
    options.log_errors = False
    return options


@functools.lru_cache(maxsize=256)
def compile_linear(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (``search``/``finditer``/``groups`` like ``re``).

    Raises :class:`UnsafeRegex` for a pattern RE2 cannot run.
    """
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise UnsafeRegex(
            f"bad regex for the linear-time engine (RE2): {reason} "
            "(backreferences, lookaround and possessive quantifiers cannot be used)"
        ) from None
