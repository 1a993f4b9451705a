"""Resident memory of a process tree, sampled from /proc, for the memory benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

from crawler.browser.memory import process_tree

PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> dict[int, int]:
    """Resident bytes of ``root`` and each of its descendants (processes gone meanwhile
    are left out): RSS rather than PSS, so one sample costs one small read per process."""
    out: dict[int, int] = {}
    for pid in process_tree(root):
        try:
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        out[pid] = pages * PAGE
    return out
