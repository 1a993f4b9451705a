"""Issue 14's acceptance for Retry-After: the test passes N times in a row with every core busy.

Starts one busy-looping process per core (``--burners``, default: the number
of cores), then runs the Retry-After test
(``tests/test_hostile_crawl.py::test_site_that_keeps_refusing_is_paused_then_given_up``)
``--runs`` times, each in its own pytest process, and stops at the first
failure. The burners are ended by their own process ids when it is done.

Run: ``.venv/bin/python bench/retry_after_busy.py --runs 20``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST = "tests/test_hostile_crawl.py::test_site_that_keeps_refusing_is_paused_then_given_up"
BURN = "while True:\n    pass\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(max(0, args.burners))]
    passed = 0
    try:
        for run in range(1, args.runs + 1):
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST],
                cwd=REPO,
                capture_output=True,
                text=True,
            )
            seconds = time.monotonic() - started
            ok = result.returncode == 0
            print(f"run {run:2d}: {'pass' if ok else 'FAIL'} ({seconds:.1f} s)", flush=True)
            if not ok:
                print(result.stdout[-4000:], flush=True)
                break
            passed += 1
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    print(f"{passed} of {args.runs} passed in a row with {len(burners)} busy process(es)")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    raise SystemExit(main())
