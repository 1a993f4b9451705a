"""Bundle index keys are the keys pywb computes (its surt library), so it finds every capture."""

from __future__ import annotations

import json
import subprocess

from pywb import require_pywb

from crawler.evidence.cdx import surt

URLS = [
    "http://127.0.0.13:8700/profile/megan-207432/",  # trailing slash: pywb drops it
    "http://127.0.0.14:4000/bbs/board.php?bo_table=free&wr_id=5458886",
    "http://127.0.0.11:8700/ad/554905.html",
    "https://www.Example.org/a/b/?z=1&a=2",
    "http://127.0.0.12:80/",
]


def test_keys_match_pywbs_own() -> None:
    python = require_pywb() / "python"
    script = (
        "import json,sys; from surt import surt; print(json.dumps([surt(u) for u in sys.argv[1:]]))"
    )
    theirs = json.loads(
        subprocess.run(
            [str(python), "-c", script, *URLS], capture_output=True, text=True, check=True
        ).stdout  # fmt: skip
    )
    assert [surt(u) for u in URLS] == theirs
