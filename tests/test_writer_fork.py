"""The evidence writer forked from the crawl's process (crawler/sink/writer_fork.py).

In a fresh interpreter (a pytest worker has threads of its own): forked only while the
process is one thread with no child; the fork keeps none of the crawl's ends of its
pipes nor any inheritable fd the crawl's launcher passed down, so closing the crawl's end
is its end of input and it exits; it answers on its own pipe whatever the crawl bound to
``sys.stdout``; with SIGCHLD ignored its end is still seen; its name says what it is; the spare the runner forks is taken once, at its log level, and one nobody took
ends when its process exits. The crawl-level tests (a forked writer killed, an exec'd writer outliving its
crawl) are in tests/test_evidence_process.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO

PROBE = """
import contextlib, io, os, select, signal, subprocess, threading, time
from crawler.sink.writer_fork import fork_is_safe, fork_writer, start_spare, take_spare

assert fork_is_safe(), "one thread, no child: safe"
writer = fork_writer("WARNING")
deadline = time.monotonic() + 30  # the child names itself first thing, not at once
while open(f"/proc/{writer.pid}/comm").read().strip() != "evidence-writer":
    assert time.monotonic() < deadline, "the forked writer did not name itself"
    time.sleep(0.01)
assert writer.poll() is None
writer.stdin.close()  # the crawl's end closed: end of input, nothing open, exit 0
assert writer.wait(timeout=60) == 0
assert writer.stdout.read() == b""  # no answer was due, and nothing else came out

busy = threading.Thread(target=time.sleep, args=(0.5,))
busy.start()
assert not fork_is_safe(), "a second thread"
busy.join()
child = subprocess.Popen(["sleep", "30"])
assert not fork_is_safe(), "a child that would inherit the writer's pipes"
child.kill()
child.wait()
deadline = time.monotonic() + 10  # a joined thread's kernel task may linger a moment
while not fork_is_safe():
    assert time.monotonic() < deadline, "still unsafe with one thread and no child"
    time.sleep(0.01)

# Whatever the crawl has bound to sys.stdout, the writer answers on its own pipe.
with contextlib.redirect_stdout(io.StringIO()):
    redirected = fork_writer("WARNING")
redirected.stdin.close()
assert redirected.wait(timeout=60) == 0

# A pipe the crawl's launcher passed down (inheritable): the writer does not keep it.
read_end, write_end = os.pipe()
os.set_inheritable(write_end, True)
holder = fork_writer("WARNING")
os.close(write_end)
assert select.select([read_end], [], [], 30)[0] and os.read(read_end, 1) == b""
holder.stdin.close()
assert holder.wait(timeout=60) == 0

# SIGCHLD ignored by whoever started the crawl: the kernel reaps the writer, and the
# crawl's handle says it ended (as subprocess.Popen does) instead of waiting for ever.
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
reaped = fork_writer("WARNING")
reaped.stdin.close()
assert reaped.wait(timeout=60) == 0
signal.signal(signal.SIGCHLD, signal.SIG_DFL)

assert start_spare("WARNING")  # as the runner does before Scrapy starts
assert take_spare("INFO") is None  # another log level: not this spare
spare = take_spare("WARNING")
assert spare is not None and take_spare("WARNING") is None  # taken once
spare.stdin.close()
assert spare.wait(timeout=60) == 0
print("probe ok")
"""

UNUSED = """
from crawler.sink import writer_fork
assert writer_fork.start_spare("WARNING")
print(writer_fork._spare.pid)
"""


def in_a_new_interpreter(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=REPO, stdin=subprocess.DEVNULL)  # fmt: skip


def test_forked_only_when_safe_and_ends_with_its_input() -> None:
    result = in_a_new_interpreter(PROBE)
    assert result.returncode == 0 and "probe ok" in result.stdout, result.stderr[-3000:]


def test_a_spare_nobody_takes_ends_with_the_crawl() -> None:
    result = in_a_new_interpreter(UNUSED)
    assert result.returncode == 0, result.stderr[-3000:]
    pid = int(result.stdout.split()[-1])
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped at the crawl's exit
