"""The configuration reaches a real crawl of the fixture web (subprocesses).

Issue 17, finding 2: ``export ADARCHIVE_OPERATOR_CONTACT=…`` must change the
User-Agent every request carries and the warcinfo of every WARC file, for
``adarchive crawl`` and for ``scrapy crawl`` run from the repository root (as
Scrapyd runs jobs); the allow-list comes from the configuration file here, so
a crawl that fetched anything proves the file was read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator

from conftest import REPO, adarchive

PLATFORM = "kz_board"
CONTACT = "unit7@police.example"


def config_file(directory: Path) -> Path:
    """The fixture web's allow-list and a short pause, from a configuration file."""
    path = directory / "case.toml"
    path.write_text(
        '# synthetic test configuration\nADARCHIVE_ALLOWED_ADDRESSES = "127.0.0.10-127.0.0.99"\n'
        "DOWNLOAD_DELAY = 0.01\nAUTOTHROTTLE_ENABLED = false\n"
        'ADARCHIVE_WARC_PREFIX = "fromfile"\n',
        encoding="utf-8",
    )
    return path


def warcinfo_texts(warc_dir: Path) -> list[str]:
    texts = []
    files = sorted(warc_dir.glob("*.warc.gz"))
    assert files, f"no WARC files in {warc_dir}"
    for path in files:
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "warcinfo":
                    texts.append(record.content_stream().read().decode())
    return texts


def agents_sent(web: Any, start: int) -> set[str | None]:
    return {e.user_agent for e in web.request_log[start:] if e.platform == PLATFORM}


def test_environment_contact_reaches_user_agent_and_warcinfo(
    fixture_web: Any, tmp_path: Path
) -> None:
    config = config_file(tmp_path)
    out = tmp_path / "out"
    start = len(fixture_web.request_log)
    result = adarchive(
        "crawl", PLATFORM, "--start-url", fixture_web.start_urls[PLATFORM], "--out", str(out),
        "--max-pages", "8", "--config", str(config), "-s", "ADARCHIVE_WARC_PREFIX=froms",
        env={"ADARCHIVE_OPERATOR_CONTACT": CONTACT, "ADARCHIVE_WARC_PREFIX": "fromenv"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    agents = agents_sent(fixture_web, start)
    assert agents and all(a and f"contact: {CONTACT})" in a for a in agents), agents
    texts = warcinfo_texts(out / "warc")
    assert all(f"operator: {CONTACT}" in t and f"contact: {CONTACT})" in t for t in texts)
    # -s beats the environment, which beats the file
    assert all(p.name.startswith("froms-") for p in (out / "warc").glob("*.warc.gz"))


def test_scrapy_crawl_from_the_repository_root_reads_the_same_layers(
    fixture_web: Any, tmp_path: Path
) -> None:
    config = config_file(tmp_path)
    out = tmp_path / "scrapy-out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADARCHIVE_")}
    env.update(
        ADARCHIVE_OPERATOR_CONTACT=CONTACT,
        ADARCHIVE_DATA_DIR=str(out),
        ADARCHIVE_CONFIG=str(config),
        ADARCHIVE_EVIDENCE_PROCESS="false",
    )
    start = len(fixture_web.request_log)
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", PLATFORM,
         "-a", f"start_url={fixture_web.start_urls[PLATFORM]}", "-s", "CLOSESPIDER_PAGECOUNT=8"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    agents = agents_sent(fixture_web, start)
    assert agents and all(a and f"contact: {CONTACT})" in a for a in agents), agents
    texts = warcinfo_texts(out / "warc")
    assert all(f"operator: {CONTACT}" in t for t in texts)
    assert all(p.name.startswith("fromfile-") for p in (out / "warc").glob("*.warc.gz"))
    assert (out / "adarchive.db").is_file()


def test_scrapy_crawl_bad_environment_value_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADARCHIVE_")}
    env.update(ADARCHIVE_MAX_DEPTH="deep", ADARCHIVE_DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", PLATFORM],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "adarchive: error: ADARCHIVE_MAX_DEPTH: expected a whole number, got 'deep' "
        "(from environment)\n"
    )
