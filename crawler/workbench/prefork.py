"""``adarchive serve --workers N``: the workbench served by N forked processes.

One Python process serves its requests on one core (the GIL); N worker
processes share the listening socket, which the parent binds before forking,
and the kernel hands each new connection to one of them. Everything the
processes must agree on lives in the store: sessions, the login throttle
(counted from the audit trail) and the audit chain, whose appends are
serialised across processes (crawler/workbench/audit.py). What each process
keeps for itself is only a cache: the search results and the platform list.

The parent serves nothing. It writes the audit head into the custody chain at
start, periodically and at stop (crawler/workbench/anchoring.py), so that
happens once, not once per worker. The replay origin is served by the first
worker only: its archives are built in that process's own folder. When a
worker dies the parent stops the others and exits non-zero; a stop signal
(SIGTERM, SIGINT) is passed on and the parent waits for every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

POLL = 0.2
"""Seconds between the parent's looks at its workers and at the anchoring clock."""


async def serve_all(servers: list[tuple[Any, list[socket.socket] | None]]) -> None:
    """Several uvicorn servers in one process; when one stops (a signal, a bind error)
    all stop. Each comes with the sockets it serves (None: it binds its own)."""
    tasks = [asyncio.create_task(server.serve(sockets=socks)) for server, socks in servers]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server, _ in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)


def serve_forked(
    configs: list[Any],
    workers: int,
    *,
    after_fork: Callable[[], None],
    anchor: Callable[[str], None],
    interval: float,
) -> int:
    """Serve ``configs`` (uvicorn Configs: the workbench, then the replay origin) from
    ``workers`` forked processes; returns the exit code once they have all stopped.

    ``after_fork`` runs first in every worker (drop the parent's pooled database
    connections); ``anchor(reason)`` runs in the parent only.
    """
    import uvicorn

    sockets = [config.bind_socket() for config in configs]
    anchor("workbench started")
    children: dict[int, int] = {}
    for n in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: serve until told to stop, never return into the parent's code
            code = 1
            try:
                after_fork()
                mine = configs if n == 0 else configs[:1]
                servers = [(uvicorn.Server(c), [s]) for c, s in zip(mine, sockets, strict=False)]
                asyncio.run(serve_all(servers))
                code = 0
            except KeyboardInterrupt:
                code = 0
            finally:
                sys.stdout.flush()
                os._exit(code)
        children[pid] = n

    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    failed = False
    next_anchor = time.monotonic() + interval
    while children and not stopping:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            children.pop(pid, None)
            failed = True  # a worker stopped by itself: stop the rest
            print(f"workbench: worker {pid} stopped ({_how(status)}); stopping", flush=True)
            break
        if interval > 0 and time.monotonic() >= next_anchor:
            anchor("workbench periodic")
            next_anchor = time.monotonic() + interval
        time.sleep(POLL)
    for pid in children:
        _signal(pid, signal.SIGTERM)
    for pid in list(children):
        os.waitpid(pid, 0)
    for sock in sockets:
        sock.close()
    anchor("workbench stopped")
    return 1 if failed else 0


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.waitstatus_to_exitcode(status)}"
