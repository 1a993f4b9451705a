"""pytest plugin for `make test-cpu`: CPU seconds per test module, children and Chromium included.

This machine's speed drifts by up to 40 % within an hour, so wall time says little about
whether the suite got cheaper; CPU spent says more. Each xdist worker moves itself into a
cgroup of its own (cgroup v1 ``cpuacct`` or v2, as root), whose counter includes every
process the worker starts and everything those start (crawls, writers, Chromium's
renderers, which ``getrusage`` misses because Chromium's zygote reaps them). Without a
cgroup it falls back to this process's and its reaped children's rusage, and says so.

Per test, to ``.pytest_cache/adarchive/cpu/<worker>.jsonl``; at the end the controller
prints the total and the costliest modules.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from cli_forkserver import CGROUP_VARIABLE

from crawler.cpugroup import CpuGroup

_OUT = Path(".pytest_cache/adarchive/cpu")


class _Counter:
    """CPU of this worker and everything it starts: its cgroup's, else rusage."""

    def __init__(self, worker: str) -> None:
        self.group = CpuGroup(f"adarchive-test-{os.getppid()}-{worker}")
        self.kind = "rusage"
        if self.group.path is not None:
            try:
                self.group.join_self()
                self.kind = "cgroup"
                # CLI children forked by the run's shared fork server join it too
                os.environ[CGROUP_VARIABLE] = str(self.group.path / "cgroup.procs")
            except OSError:
                self.group.close()
                self.group.path = None

    def close(self) -> None:
        self.group.close()

    def seconds(self) -> float:
        if self.kind == "cgroup":
            return self.group.seconds()
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


_counter: _Counter | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _counter
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:  # the controller, or a run without workers: a new run
        shutil.rmtree(_OUT, ignore_errors=True)
        if getattr(config.option, "numprocesses", None):
            return
    _OUT.mkdir(parents=True, exist_ok=True)
    _counter = _Counter(worker or "main")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _counter is not None:
        _counter.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Any:
    if _counter is None:
        yield
        return
    cpu, wall = _counter.seconds(), time.monotonic()
    yield
    line = {"id": item.nodeid, "cpu": round(_counter.seconds() - cpu, 3),
            "wall": round(time.monotonic() - wall, 3), "by": _counter.kind}  # fmt: skip
    name = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with (_OUT / f"{name}.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    modules: dict[str, float] = collections.defaultdict(float)
    kinds = set()
    for path in _OUT.glob("*.jsonl"):
        for text in path.read_text(encoding="utf-8").splitlines():
            line = json.loads(text)
            modules[line["id"].split("::")[0]] += line["cpu"]
            kinds.add(line["by"])
    if not modules:
        return
    write = terminalreporter.write_line
    write(f"CPU per test module ({', '.join(sorted(kinds))}; per test in {_OUT}/):")
    for module, seconds in sorted(modules.items(), key=lambda kv: -kv[1])[:15]:
        write(f"  {seconds:7.1f} s  {module}")
    write(f"  {sum(modules.values()):7.1f} s  in all")
