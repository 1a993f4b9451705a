"""The evidence writer as a fork of the crawl's process, made before the crawl starts.

A new interpreter (``python -m crawler.sink.evidence_writer``) spends about 0.7 s of
CPU importing what the crawl's process has already imported (SQLAlchemy, the store's
models, extraction) before it writes a byte; a fork shares those pages and starts in
milliseconds. The runner forks one spare writer just before Scrapy starts
(:func:`start_spare`): the process is then one thread with no child process and no
connection open (the store check closed its engine), so the fork holds no lock that
another thread would have released, no write end of another child's pipe, and no
store connection it could talk over in the crawl's place. The first evidence writer
the crawl asks for takes the spare (:func:`take_spare`); an unused spare sees its
input end when the crawl exits. Otherwise, and where there is no ``fork``, the writer
is a new interpreter, as before.

The child forgets what was the crawl's (signal and log handlers, stores already
shared in this process), reads its input from fd 0 and answers on fd 1 like the
exec'd writer, runs the same ``main``, and leaves with ``os._exit``, never returning
into the crawl's stack or running the crawl's exit handlers. Its name
(``ps -o comm``) is ``evidence-writer``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger("crawler.sink.writer_process")  # the crawl's end, as before
_spare: ForkedWriter | None = None
_spare_level: str | None = None
# What the crawl had open, set aside in the child and never closed (closing a
# connection there would end the crawl's session: the socket is the same).
_RELICS: list[object] = []
NAME = b"evidence-writer"  # at most 15 bytes: the kernel's limit for a process name
_PR_SET_NAME = 15


def fork_is_safe() -> bool:
    """One thread (native ones counted too), no child process, standard input, output and
    error open (the child's pipes go to fds 0 and 1), and a ``fork`` to call."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)
        tasks = list(Path("/proc/self/task").iterdir())
        return len(tasks) == 1 and not (tasks[0] / "children").read_text().strip()
    except OSError:
        return False  # cannot tell: the exec'd writer


class ForkedWriter:
    """The crawl's handle on a forked writer: what it uses of ``subprocess.Popen``."""

    def __init__(self, pid: int, stdin: int, stdout: int) -> None:
        self.pid = pid
        self.args = ["evidence-writer (fork)"]
        self.stdin: BinaryIO | None = open(stdin, "wb", buffering=0)  # noqa: SIM115
        self.stdout: BinaryIO | None = open(stdout, "rb", buffering=0)  # noqa: SIM115
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by the kernel (SIGCHLD ignored): as Popen says
                self.returncode = 0
            else:
                if pid == self.pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def start_spare(log_level: str) -> bool:
    """Fork a spare writer now, if that is safe; True if there is one."""
    global _spare, _spare_level
    if _spare is None and fork_is_safe():
        import crawler.sink.evidence_writer  # noqa: F401 - imported once, for both processes

        try:
            _spare = fork_writer(log_level)
        except OSError:
            return False
        _spare_level = log_level
        atexit.register(_end_spare)
    return _spare is not None


def take_spare(log_level: str) -> ForkedWriter | None:
    """The spare writer, if there is one at this log level and it is alive."""
    global _spare
    if _spare is None or _spare_level != log_level or _spare.poll() is not None:
        return None
    spare, _spare = _spare, None
    return spare


def end_input_and_wait(process: subprocess.Popen[bytes] | ForkedWriter, timeout: float) -> int:
    """Close a writer's pipes (its end of input) and wait for its exit; killed past
    ``timeout``. Its exit code. For a writer forked or exec'd alike."""
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        logger.error("evidence writer did not exit within %s s: killed", timeout)
        process.kill()
        return process.wait()


def _end_spare() -> None:
    """At exit, a spare nobody took: its end of input, then its exit."""
    global _spare
    spare, _spare = _spare, None
    if spare is not None:
        end_input_and_wait(spare, timeout=10)


def fork_writer(log_level: str) -> ForkedWriter:
    """Fork a writer (only where :func:`fork_is_safe`); raises OSError if it cannot."""
    child_in, to_child = os.pipe()
    from_child, child_out = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # nothing buffered may be written twice
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        pid = os.fork()
    except OSError:
        for fd in (to_child, child_in, child_out, from_child):
            os.close(fd)
        raise
    if pid == 0:  # the writer: never returns
        _run_child(log_level, child_in, child_out, (to_child, from_child))
    os.close(child_in)
    os.close(child_out)
    return ForkedWriter(pid, to_child, from_child)


def _run_child(log_level: str, stdin: int, stdout: int, crawl_ends: tuple[int, ...]) -> None:
    code = 1
    try:
        for fd in crawl_ends:  # the crawl's ends: its exit must be this end of input
            os.close(fd)
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.close(stdin)
        os.close(stdout)
        _close_inherited_fds()
        # main reads sys.stdin's and sys.stdout's fds: new objects on 0 and 1, whatever the
        # crawl had bound there (a redirect_stdout, a test's capture)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        _forget_the_crawl()
        from crawler.sink.evidence_writer import main

        code = main(["--log-level", log_level])
    except BaseException:  # noqa: BLE001 - whatever happens, never unwind into the crawl
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _close_inherited_fds() -> None:
    """Close what the crawl's launcher passed down (a harness's pipe, a jobserver's fds):
    the exec'd writer never had them, and a writer outliving its crawl would hold them
    open. Only inheritable fds above 2: every fd Python opens itself is not inheritable,
    so no object of the crawl's loses its fd."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd > 2:
            with contextlib.suppress(OSError):
                if os.get_inheritable(fd):
                    os.close(fd)


def _forget_the_crawl() -> None:
    """Signal handlers and log handlers back to a new process's; no store of the crawl's."""
    recorder = sys.modules.get("crawler.store.recorder")
    if recorder is not None:
        _RELICS.append(recorder.set_aside_shared_stores())
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)  # the crawl's event loop must not be woken from here
    for number in range(1, signal.NSIG):
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            if signal.getsignal(number) not in (signal.SIG_DFL, signal.SIG_IGN, None):
                signal.signal(number, signal.SIG_DFL)
    with contextlib.suppress(Exception):
        import ctypes

        # the process's own symbols (libc's among them): find_library would run ldconfig
        ctypes.CDLL(None).prctl(_PR_SET_NAME, ctypes.c_char_p(NAME), 0, 0, 0)
    # The crawl's log handlers (its stderr handler, a LOG_FILE) are not the writer's: main
    # installs its own. Levels stay as the modules set them when they were imported.
    manager = logging.Logger.manager
    loggers = [logging.getLogger()] + [
        item for item in list(manager.loggerDict.values()) if isinstance(item, logging.Logger)
    ]
    for item in loggers:
        item.handlers.clear()
