"""A set of text spans already claimed by one extractor (a URL, an e-mail)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable


class SpanSet:
    """Sorted, merged spans with a logarithmic overlap test."""

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        merged: list[list[int]] = []
        for a, b in sorted(spans):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self._starts = [m[0] for m in merged]
        self._ends = [m[1] for m in merged]

    def overlaps(self, start: int, end: int) -> bool:
        """Does ``[start, end)`` share a character with any span?"""
        i = bisect.bisect_left(self._starts, end) - 1
        return i >= 0 and self._ends[i] > start
