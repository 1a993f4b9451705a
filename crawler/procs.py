"""Whether a process still runs: the one check resume, repair and the scheduler share."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id exists on this host and is not a zombie.

    A zombie (a child that exited but was not reaped yet) holds its pid but does
    nothing: a crawl in that state is over, so it counts as dead.
    """
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
