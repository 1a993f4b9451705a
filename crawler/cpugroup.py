"""CPU time of a process tree, from a cgroup of its own (v1 ``cpuacct`` or v2).

``getrusage`` counts only the children a process reaps, and Chromium's renderers are
reaped by its zygote: about half of a browser's CPU escapes it. A cgroup counts every
process in it and every process they start. Making one needs root; where it cannot be
made :attr:`CpuGroup.path` is None and the caller falls back to rusage. Used by
``make test-cpu`` (tests/cpu_per_test.py) and bench/start_cost.py.
"""

from __future__ import annotations

import os
from pathlib import Path

# (hierarchy, usage file): cgroup v1's cpuacct, else the v2 unified tree
_HIERARCHIES = (
    (Path("/sys/fs/cgroup/cpuacct"), "cpuacct.usage"),
    (Path("/sys/fs/cgroup"), "cpu.stat"),
)


class CpuGroup:
    """A cgroup named ``name``, made now if the process may; None in :attr:`path` if not."""

    def __init__(self, name: str) -> None:
        self.path: Path | None = None
        self.usage = ""
        self._joined_self = False
        for base, usage in _HIERARCHIES:
            folder = base / name
            try:
                folder.mkdir(exist_ok=True)
                if (folder / usage).exists() and (folder / "cgroup.procs").exists():
                    self.path, self.usage = folder, usage
                    return
                folder.rmdir()
            except OSError:
                continue

    def join(self) -> None:
        """Into the group: for a child, before its exec (``preexec_fn``)."""
        assert self.path is not None
        (self.path / "cgroup.procs").write_text("0")

    def join_self(self) -> None:
        """This process into the group (what it starts afterwards follows it)."""
        assert self.path is not None
        (self.path / "cgroup.procs").write_text(str(os.getpid()))
        self._joined_self = True

    def seconds(self) -> float:
        """CPU seconds spent so far by every process that was in the group."""
        assert self.path is not None
        text = (self.path / self.usage).read_text()
        if self.usage == "cpuacct.usage":
            return int(text) / 1e9
        return int(text.split("usage_usec")[1].split()[0]) / 1e6

    def close(self) -> None:
        """Out of the group (if this process joined it) and the group removed, once the
        processes in it are gone."""
        if self.path is None:
            return
        try:
            if self._joined_self:
                (self.path.parent / "cgroup.procs").write_text(str(os.getpid()))
            self.path.rmdir()
        except OSError:
            pass
