"""Scrapy's own feed exports carry each advert's identifiers, writer process on or off.

With the evidence writer process on, the adverts are stored in another
process; the contacts pipeline still puts the identifiers on the item (read
by the extraction helper process, not in the reactor's thread), so ``-O``
feeds carry the same identifiers as a crawl that writes in its own process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import FAST, REPO

PLATFORM = "kz_board"


def feed_crawl(web: Any, out: Path, process: bool) -> dict[str, list]:
    """``scrapy crawl -O`` of one fixture platform; each advert's identifiers by its id."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADARCHIVE_")}
    env.update(ADARCHIVE_OPERATOR_CONTACT="ops@example.org", ADARCHIVE_DATA_DIR=str(out))
    feed = out / "items.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", PLATFORM,
         "-a", f"start_url={web.start_urls[PLATFORM]}", "-O", str(feed), *FAST,
         "-s", f"ADARCHIVE_EVIDENCE_PROCESS={process}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    adverts: dict[str, list] = {}
    for line in feed.read_text().splitlines():
        item = json.loads(line)
        found = [(i["kind"], i["value"], i["field"], i["start"]) for i in item["identifiers"]]
        adverts[item["external_id"]] = sorted(found)
    return adverts


def test_feed_lines_carry_the_same_identifiers_with_the_writer_process_on(
    fixture_web: Any, tmp_path: Path
) -> None:
    on = feed_crawl(fixture_web, tmp_path / "on", process=True)
    off = feed_crawl(fixture_web, tmp_path / "off", process=False)
    assert on and on.keys() == off.keys()
    assert on == off
    # Not a vacuous match: most adverts of the fixture board show a contact.
    assert sum(1 for found in on.values() if found) >= len(on) // 2
