"""Run an ``adarchive`` command in the test's own process.

For tests about what a command reports (``verify`` on a tampered bundle, say), not about
the command-line process: each ``adarchive`` subprocess costs about half a second of CPU
to start, in-process calls a hundredth of that. The command goes through the CLI's own
parser and entry point (``crawler.cli.entry.main``: the same output escaping, the same
one-line user errors and exit codes); every command keeps real subprocess tests elsewhere.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout


def adarchive_here(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``adarchive ARGS`` run by ``main`` in this process, as :func:`conftest.adarchive` runs
    it in a subprocess (without ``ADARCHIVE_DB``): its exit code, stdout and stderr.
    ``stdin``: what the command reads on standard input."""
    from crawler.cli.entry import main

    out, err = io.StringIO(), io.StringIO()
    record_factory = logging.getLogRecordFactory()  # main installs log escaping for good
    store = os.environ.pop("ADARCHIVE_DB", None)
    saved_stdin, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin = saved_stdin
        logging.setLogRecordFactory(record_factory)
        if store is not None:
            os.environ["ADARCHIVE_DB"] = store
    return subprocess.CompletedProcess(["adarchive", *args], code, out.getvalue(), err.getvalue())
