"""``python -m crawler.cli`` for tests, in a child forked from a warm interpreter.

Each CLI subprocess spends about a second of CPU importing Scrapy, Twisted, SQLAlchemy and
our own modules before it does anything, and the suite starts a few hundred of them. One
fork server per run (pytest-xdist's workers share their controller's) imports every module
of ``crawler``, ``spiders`` and ``pipelines`` once; each command then runs in a child forked
from it, as multiprocessing's ``forkserver`` start method does. The child takes the test's
argument list, environment, working directory and standard streams, runs the same
``python -m crawler.cli`` entry (``runpy``) and leaves through the interpreter's own exit
(threads joined, ``atexit``, streams flushed): the command, its crawl, its writer process
and its browser are the real ones, in a real process of their own.

What differs from a new interpreter: every child shares the server's hash seed, and
modules a command would import lazily are already imported. tests/test_cli_startup.py and
tests/test_packaged.py start real interpreters; ``TEST_FORKSERVER=0`` runs every
command of the suite in one (``make test`` then needs about a fifth more CPU).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("crawler", "spiders", "pipelines")
CLI = (sys.executable, "-m", "crawler.cli")  # the command line the children stand for
ENABLED = os.environ.get("TEST_FORKSERVER", "1") != "0"
MAX_REQUEST = 1 << 20  # an argument list and an environment, as JSON
# A cgroup's process list a child puts itself in (tests/cpu_per_test.py sets it, so that a
# command counts with the test that ran it, whichever process's server forked it).
CGROUP_VARIABLE = "TEST_CGROUP_PROCS"
START_TIMEOUT = 60.0  # seconds for the server to fork and set up a child
# Read by an interpreter only as it starts (with every PYTHON* and LC_* variable): a call
# whose environment changes one is exec'd, not forked.
_AT_START = frozenset({"LANG", "LANGUAGE"})


class ForkServerError(RuntimeError):
    """The fork server could not start or answer."""


# -- the client: in the test process ---------------------------------------------------


class ForkServer:
    """One server process, started on first use, ended when the test process exits; or
    another process's server, attached to (pytest-xdist's workers use the controller's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._socket_path = ""
        self._up = False
        self._env: dict[str, str] = {}
        self._owner = os.getpid()
        self._attached = False

    def address(self) -> dict[str, Any]:
        """What :meth:`attach` needs, for another process to use this server."""
        self.start()
        return {"socket": self._socket_path, "at_start": _start_time(self._env)}

    def attach(self, address: dict[str, Any]) -> None:
        """Use the server at ``address`` (its :meth:`address`) instead of one's own; if it
        cannot be reached, this process starts its own."""
        with self._lock:
            if self._proc is None:
                self._socket_path, self._env = address["socket"], dict(address["at_start"])
                self._attached = True

    def start(self) -> None:
        """Start the server (it imports in the background until :meth:`ready` waits for it)."""
        with self._lock:
            if self._proc is not None or self._attached:
                return
            folder = tempfile.mkdtemp(prefix="adarchive-forkserver-")
            self._socket_path = os.path.join(folder, "socket")
            env = {k: v for k, v in os.environ.items() if k != "ADARCHIVE_DB"}
            # numpy's OpenBLAS starts a thread pool on import, and a process with threads
            # is not safe to fork: the server's pool is one thread (its children's too).
            env["OPENBLAS_NUM_THREADS"] = "1"
            self._env = env
            self._proc = subprocess.Popen(
                [sys.executable, __file__, self._socket_path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, env=env,
            )  # fmt: skip
            atexit.register(self.stop)

    def ready(self) -> str:
        if self._attached:  # the owner's server listens from its start; it imports meanwhile
            return self._socket_path
        if self._proc is not None and self._proc.poll() is not None:
            self.stop()  # it died (its children carry on): a new one for the next command
        self.start()
        with self._lock:
            proc = self._proc
            assert proc is not None and proc.stdout is not None
            if not self._up:
                line = proc.stdout.readline()
                if line.strip() != b"ready":
                    raise ForkServerError(f"the CLI fork server did not start (said {line!r})")
                self._up = True
        return self._socket_path

    def stop(self) -> None:
        if os.getpid() != self._owner:
            return  # a forked copy of the test process: the server is not its own
        proc, self._proc, self._up = self._proc, None, False
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()  # the server ends at the end of its input
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(os.path.dirname(self._socket_path), ignore_errors=True)

    def forks_like(self, env: dict[str, str]) -> bool:
        """Whether a child with ``env`` starts as an exec'd one would: the variables an
        interpreter reads only at its start (but PYTHONPATH, which the child applies) are
        the server's."""
        self.start()
        return _start_time(env) == _start_time(self._env)

    def connect(self, request: dict[str, Any], fds: list[int]) -> tuple[socket.socket, int]:
        """A child running ``request`` with ``fds`` as its standard streams, set up (its
        session, streams and working directory): the connection that will bring its exit
        status, and its pid. OSError if it could not be set up, as Popen raises."""
        path = self.ready()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            conn.settimeout(START_TIMEOUT)
            try:
                conn.connect(path)
            except (FileNotFoundError, ConnectionRefusedError):
                with self._lock:
                    if self._attached and self._socket_path == path:
                        # the owner's server is gone: one of this process's own from now on
                        self._attached = False
                        self._socket_path, self._env = "", {}
                    moved = self._socket_path != path  # by this thread or another
                if not moved:
                    raise
                conn.close()
                return self.connect(request, fds)
            socket.send_fds(conn, [json.dumps(request).encode()], fds)
            reply = _receive(conn)
            conn.settimeout(None)
        except (OSError, ForkServerError):
            conn.close()
            raise
        if not reply.startswith("pid "):  # "errno N message": its set-up failed
            conn.close()
            _, number, message = reply.split(" ", 2)
            raise OSError(int(number), message)
        return conn, int(reply.split()[1])


def _start_time(env: dict[str, str]) -> dict[str, str]:
    """The variables of ``env`` an interpreter reads only as it starts (PYTHONPATH aside:
    the child applies it)."""
    return {k: v for k, v in env.items()
            if k in _AT_START or k.startswith(("PYTHON", "LC_")) and k != "PYTHONPATH"}  # fmt: skip


def _receive(conn: socket.socket) -> str:
    data = conn.recv(512)
    if not data:
        raise ForkServerError("the CLI fork server closed the connection")
    return data.decode()


class ForkedPopen(subprocess.Popen):  # type: ignore[type-arg]
    """``subprocess.Popen([python, -m, crawler.cli, *args], ...)`` whose child the fork
    server forks: the same constructor, pipes, ``communicate``, ``poll``, ``wait`` and
    signals (Popen's own code, over the two methods that start and reap a child)."""

    def __init__(self, args: list[str], **kwargs: Any) -> None:
        self._conn: socket.socket | None = None
        super().__init__([*CLI, *args], **kwargs)

    def _execute_child(  # type: ignore[override]
        self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo,
        creationflags, shell, p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite,
        restore_signals, gid, gids, uid, umask, start_new_session, process_group,
    ) -> None:  # fmt: skip
        unsupported = (preexec_fn is not None or pass_fds or shell or executable is not None
                       or not close_fds or not restore_signals or umask != -1 or uid is not None
                       or gid is not None or gids or process_group not in (None, -1))  # fmt: skip
        if unsupported:
            raise ValueError("the fork server runs the CLI only, with Popen's defaults")
        try:
            fds = [p2cread, c2pwrite, errwrite]
            # -1: the child inherits this process's stream, as a new process would
            fds = [fd if fd != -1 else target for target, fd in enumerate(fds)]
            request = {
                "argv": list(args[len(CLI):]), "env": dict(os.environ if env is None else env),
                "cwd": str(cwd if cwd is not None else os.getcwd()),
                "new_session": bool(start_new_session),
            }  # fmt: skip
            self._conn, self.pid = _SERVER.connect(request, fds)
            self._child_created = True
        finally:
            self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)

    def _internal_poll(self, _deadstate: int | None = None, **_: Any) -> int | None:
        """Popen's: never raises; a lost server gives ``_deadstate`` where one is asked for."""
        if self.returncode is not None or self._conn is None:
            return self.returncode
        if not self._waitpid_lock.acquire(False):
            return None  # another thread is waiting for it
        try:
            if self._conn is not None:
                self._conn.setblocking(False)
                try:
                    self._exited(int(_receive(self._conn)))
                except BlockingIOError:
                    self._conn.setblocking(True)
                except (OSError, ForkServerError, ValueError):
                    if _deadstate is not None:
                        self._exited(_deadstate)
        finally:
            self._waitpid_lock.release()
        return self.returncode

    def _wait(self, timeout: float | None) -> int:
        if timeout is not None and timeout <= 0:  # Popen's: one look, then TimeoutExpired
            if self.poll() is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
            assert self.returncode is not None
            return self.returncode
        with self._waitpid_lock:
            if self.returncode is None and self._conn is not None:
                self._conn.settimeout(timeout)
                try:
                    self._exited(int(_receive(self._conn)))
                except TimeoutError:
                    self._conn.settimeout(None)
                    raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
        assert self.returncode is not None
        return self.returncode

    def _exited(self, code: int) -> None:
        self.returncode = code
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_SERVER = ForkServer()


def start() -> None:
    if ENABLED:
        _SERVER.start()


def address() -> dict[str, Any] | None:
    """This process's server, for :func:`attach` in another (None: the server is off)."""
    return _SERVER.address() if ENABLED else None


def attach(server: dict[str, Any] | None) -> None:
    """Use another process's server (its :func:`address`), or start one's own."""
    if ENABLED and server is not None:
        _SERVER.attach(server)
    start()


def run_cli(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` of the CLI with ``args``, its output captured as text: forked
    from the warm server, or (server disabled) exec'd. No ``input``: an empty stdin."""
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    with popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
               cwd=cwd, env=env) as process:  # fmt: skip
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()  # then wait, as subprocess.run does: a grandchild may hold the pipes
            process.wait()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def popen(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen([python, -m, crawler.cli, *args], **kwargs)``: forked from the warm
    server, or (server disabled) exec'd."""
    env = kwargs.get("env")
    if not ENABLED or not _SERVER.forks_like(dict(os.environ if env is None else env)):
        return subprocess.Popen([*CLI, *args], **kwargs)
    return ForkedPopen(args, **kwargs)


# -- the server: its own process -------------------------------------------------------


def _preload() -> None:
    """Import every module of our packages (and, through them, their libraries)."""
    import gc
    import importlib
    import pkgutil

    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    _preload_named_components()
    if "twisted.internet.reactor" in sys.modules:  # each command installs its own
        raise ForkServerError("importing our modules installed a Twisted reactor")
    if len(os.listdir("/proc/self/task")) != 1:
        raise ForkServerError("importing our modules started a thread: forking is unsafe")
    gc.collect()
    gc.freeze()  # the children's collections leave the preloaded objects' pages shared


# Modules whose import fixes something from the environment a child would choose for
# itself: the cookie middleware makes its TLDExtract at import, and with it the cache
# folder under the importing process's HOME (a child's HOME must decide where it writes).
_NOT_PRELOADED = ("scrapy.downloadermiddlewares.cookies",)


def _preload_named_components() -> None:
    """Import what a crawl loads by name from its settings (Scrapy's middlewares, extensions,
    download handlers, queues; the cookie middleware's tldextract and requests) and the
    SQLite dialect: importing our packages does not, and each crawl child imported them
    again (a one-platform crawl child: 0.30 s of CPU before, 0.25 s after). A name that
    does not import here is left to the child, which reports it as it would have."""
    import importlib

    from scrapy.settings import BaseSettings, Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    names: set[str] = {"sqlalchemy.dialects.sqlite.pysqlite"}
    for _key, value in settings.items():
        if isinstance(value, BaseSettings | dict):
            names.update(n for n in value if isinstance(n, str))
            names.update(v for v in value.values() if isinstance(v, str))
        elif isinstance(value, str):
            names.add(value)
    dotted = {n for n in names if "." in n and n.replace(".", "").replace("_", "").isalnum()}
    dotted |= {"tldextract.tldextract", "requests.adapters"}  # the cookie middleware's
    for name in sorted(dotted):
        if name.startswith(_NOT_PRELOADED):
            continue
        for module in (name, name.rpartition(".")[0]):  # a module, or a module's attribute
            with contextlib.suppress(Exception):
                importlib.import_module(module)
                break


def _child(request: dict[str, Any], fds: list[int], report: int) -> None:
    """In the forked child: become ``python -m crawler.cli ARGV``; never returns. Its set-up
    (session, streams, working directory) is reported on ``report``: "ok", or the error."""
    import runpy
    import time

    try:
        if request.get("new_session"):
            os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
    except OSError as exc:
        os.write(report, f"errno {exc.errno} {exc.strerror}: {request['cwd']}".encode())
        os._exit(127)
    os.write(report, b"ok")
    os.close(report)
    os.environ.clear()
    os.environ.update(request["env"])
    if os.environ.get(CGROUP_VARIABLE):  # `make test-cpu`: counted with the test that ran it
        with contextlib.suppress(OSError), open(os.environ[CGROUP_VARIABLE], "w") as procs:
            procs.write(str(os.getpid()))
    time.tzset()  # the child's TZ
    tempfile.tempdir = None  # found again from the child's TMPDIR
    sys.argv = ["-m", *request["argv"]]
    # sys.path as `python -m` in this directory with this PYTHONPATH would start: the
    # working directory first, then PYTHONPATH's entries instead of the server's
    rest = [p for p in sys.path[1:] if p not in _SERVER_PYTHONPATH]
    sys.path[:] = [os.getcwd(), *_python_path(os.environ), *rest]
    runpy.run_module("crawler.cli", run_name="__main__", alter_sys=True)
    raise SystemExit(0)


def _python_path(environ: Any) -> list[str]:
    """The entries ``PYTHONPATH`` puts on ``sys.path`` (absolute, as ``site`` makes them)."""
    return [os.path.abspath(p) for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]


_SERVER_PYTHONPATH: list[str] = []


def serve(socket_path: str) -> None:
    _SERVER_PYTHONPATH[:] = _python_path(os.environ)
    sys.path[0] = str(REPO)
    # Listening first: the other processes' clients connect while it imports, and wait.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(socket_path)
    listener.listen(64)
    _preload()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
    waiting: dict[int, socket.socket] = {}
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                child = _answer(conn, [selector, listener, *waiting.values()], (wake_r, wake_w))
                if child:
                    waiting[child] = conn
            elif key.fileobj == wake_r:
                while True:
                    try:
                        if not os.read(wake_r, 512):
                            break
                    except BlockingIOError:
                        break
                _reap(waiting)
            elif not os.read(sys.stdin.fileno(), 512):
                return  # the test process has gone


def _answer(conn: socket.socket, inherited: list[Any], wake: tuple[int, int]) -> int:
    """Fork the child ``conn`` asks for and tell it the pid (or why not); its pid, 0 if none.
    Nothing a client does here stops the server. The child leaves through here: whatever
    its command raises goes up to the interpreter, as in ``python -m``."""
    fds: list[int] = []
    try:
        conn.settimeout(START_TIMEOUT)
        data, fds, flags, _ = socket.recv_fds(conn, MAX_REQUEST, 3)
        if flags & socket.MSG_TRUNC or len(fds) != 3:
            raise ValueError("a request too long or without its three streams")
        request = json.loads(data)
        report_r, report_w = os.pipe()
        pid = os.fork()
    except (OSError, ValueError) as exc:  # a client gone, a bad request: that client only
        _close(fds)
        with contextlib.suppress(OSError):
            conn.sendall(f"errno 0 the fork server refused the request: {exc}".encode())
        conn.close()
        return 0
    if pid == 0:
        signal.set_wakeup_fd(-1)  # before its pipe is closed: the number may be reused
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for thing in (*inherited, conn):
            thing.close()
        _close([*wake, report_r])
        _child(request, fds, report_w)
    _close([*fds, report_w])
    with os.fdopen(report_r, "rb") as report:
        status = report.read()
    try:
        conn.sendall(f"pid {pid}".encode() if status == b"ok" else status)
    except OSError:  # the client gave up: the child runs on, reaped when it ends
        conn.close()
        return 0
    if status != b"ok":
        conn.close()
        return 0
    return pid


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _reap(waiting: dict[int, socket.socket]) -> None:
    while True:  # every child that ended, asked for or not
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = waiting.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):  # the test gave up waiting
                conn.sendall(str(os.waitstatus_to_exitcode(status)).encode())
            conn.close()


if __name__ == "__main__":
    serve(sys.argv[1])
