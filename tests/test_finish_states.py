"""Finish states and definition health: a crawl that stores nothing never looks like success."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST, REPO, adarchive
from crawler.health import assess, exit_code, worst

# The fixture web's politeness settings without the SSRF allow-list: loopback refused.
NO_ALLOW_LIST = FAST[:4]


def definition_variant(tmp: Path, name: str, **replace: str) -> Path:
    """A copy of a bundled definition with some selectors replaced."""
    text = (REPO / "spiders" / "definitions" / f"{name}.toml").read_text(encoding="utf-8")
    for key, value in replace.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {json.dumps(value)}", text)
        assert n == 1, key
    path = tmp / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def crawl_stats(out: Path) -> dict[str, Any]:
    files = sorted((out / "crawl-stats").glob("*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text(encoding="utf-8"))


def crawl_row(out: Path) -> tuple[Any, ...]:
    with sqlite3.connect(out / "adarchive.db") as conn:
        return conn.execute("SELECT state, health_json FROM crawl").fetchone()


# -- pure: the state table --------------------------------------------------------


def test_states_follow_the_design_table() -> None:
    ok = {"response_received_count": 10, "adarchive/detail_pages": 8, "adarchive/start_urls": 1}
    assert (
        assess("p", {**ok, "adarchive/start_fetched": 1}, ads=8, finish_reason="finished").state
        == "finished"
    )
    assert assess("p", ok, ads=8, finish_reason="closespider_pagecount").state == "finished"
    assert assess("p", {**ok, "adarchive/ads_not_stored": 1}, 7, "finished").state == "degraded"
    assert assess("p", {**ok, "log_count/ERROR": 2}, 8, "finished").state == "degraded"
    assert assess("p", {**ok, "adarchive/detail_without_id": 5}, 3, "finished").state == "degraded"
    assert assess("p", ok, 0, "finished").state == "empty"
    refused = {"adarchive/start_urls": 2, "adarchive/start_refused": 2,
               "adarchive/start_refused/ssrf": 2, "adarchive/refused/ssrf/loopback": 2}  # fmt: skip
    health = assess("p", refused, 0, "finished")
    assert health.state == "refused" and "ADARCHIVE_ALLOWED_ADDRESSES=" in (health.fix or "")
    assert assess("p", ok, 8, "shutdown").state == "stopped"
    assert assess("p", ok, 8, "evidence_writer_failed").state == "failed"
    assert worst(["finished", "empty", "degraded"]) == "empty"
    assert worst(["refused", "failed", "finished"]) == "failed"
    assert [exit_code(s) for s in ("finished", "degraded", "empty", "refused", "failed")] == [
        0, 3, 4, 5, 1,
    ]  # fmt: skip
    assert exit_code("stopped", 15) == 143 and exit_code("stopped", 2) == 130


def test_one_start_url_fetched_is_not_refused() -> None:
    stats = {"adarchive/start_urls": 2, "adarchive/start_refused": 1, "adarchive/start_fetched": 1,
             "response_received_count": 3, "adarchive/detail_pages": 2}  # fmt: skip
    assert assess("p", stats, 2, "finished").state == "finished"


# -- real crawls of the fixture web -------------------------------------------------


def test_start_url_refused_by_the_guard_is_refused_with_the_fix(
    fixture_web: Any, tmp_path: Path
) -> None:
    result = adarchive(
        "crawl", "kz_board", "--start-url", fixture_web.start_urls["kz_board"],
        "--out", str(tmp_path), *NO_ALLOW_LIST, timeout=120,
    )  # fmt: skip
    assert result.returncode == 5, result.stdout + result.stderr[-2000:]
    assert re.search(r"kz_board\s+0\s+0\s+0\s+0\s+0\s+0\s+1\s+0\s+[\d.]+\s+refused", result.stdout)
    fix = [line for line in result.stderr.splitlines() if line.startswith("adarchive: kz_board")]
    assert len(fix) == 1 and "refused" in fix[0], result.stderr[-2000:]
    assert "-s ADARCHIVE_ALLOWED_ADDRESSES=" in fix[0] and "loopback" in fix[0]
    assert "Traceback" not in result.stderr
    stats = crawl_stats(tmp_path)
    assert stats["state"] == "refused"
    assert stats["health"]["start_refusals"] == {"ssrf": 1}
    assert stats["stats"]["adarchive/refused/ssrf/loopback"] >= 1
    state, health = crawl_row(tmp_path)
    assert state == "refused" and json.loads(health)["fix"] == stats["health"]["fix"]


def test_listing_selector_finding_nothing_is_empty(fixture_web: Any, tmp_path: Path) -> None:
    definition = definition_variant(tmp_path, "kz_board", ad_links="css:ul.nothing a::attr(href)")
    out = tmp_path / "out"
    result = adarchive(
        "crawl", str(definition), "--start-url", fixture_web.start_urls["kz_board"],
        "--out", str(out), *FAST, timeout=120,
    )  # fmt: skip
    assert result.returncode == 4, result.stdout + result.stderr[-2000:]
    assert "kz_board: empty: no advert links found" in result.stderr
    assert crawl_stats(out)["state"] == "empty" and crawl_row(out)[0] == "empty"


def test_most_detail_pages_empty_is_degraded(fixture_web: Any, truth: dict, tmp_path: Path) -> None:
    definition = definition_variant(tmp_path, "kz_board", title="css:h1.renamed-title")
    out = tmp_path / "out"
    result = adarchive(
        "crawl", str(definition), "--start-url", fixture_web.start_urls["kz_board"],
        "--out", str(out), *FAST, timeout=120,
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr[-2000:]
    expected = sum(1 for ad in truth["ads"] if ad["platform"] == "kz_board")
    health = crawl_stats(out)["health"]
    assert health["ads"] == health["detail_pages"] == health["missing_required"] == expected
    assert health["listing_pages"] >= 1 and health["ad_links"] >= expected
    assert "detail pages empty" in result.stderr and "degraded" in result.stdout


# -- next_page wins over ad_links ---------------------------------------------------------


@pytest.fixture(scope="module")
def paged_web() -> Iterator[Any]:
    """A fixture web large enough for pagination (20 adverts a platform)."""
    from crawler.demo.server import FixtureWeb
    from crawler.demo.world import build_world

    web = FixtureWeb(build_world(seed=3, ads_per_platform=20), port=0)
    web.start()
    try:
        yield web
    finally:
        web.stop()


@pytest.mark.crawl
def test_loose_ad_links_keep_pagination(paged_web: Any, tmp_path: Path) -> None:
    definition = definition_variant(tmp_path, "kz_board", ad_links="css:a::attr(href)")
    out = tmp_path / "out"
    result = adarchive(
        "crawl", str(definition), "--start-url", paged_web.start_urls["kz_board"],
        "--out", str(out), *FAST, timeout=180,
    )  # fmt: skip
    expected = {
        str(ad["external_id"]) for ad in paged_web.truth()["ads"] if ad["platform"] == "kz_board"
    }
    assert len(expected) == 20
    with sqlite3.connect(out / "adarchive.db") as conn:
        stored = {r[0] for r in conn.execute("SELECT external_id FROM ad")}
    assert stored == expected, result.stdout + result.stderr[-3000:]
    stats = crawl_stats(out)["stats"]
    assert stats["adarchive/listing_pages"] >= 2
    assert stats["adarchive/ad_links_also_next_page"] >= 1
    # the pager link was never fetched as a detail page
    assert not any(
        "page=" in line and "no external_id" in line for line in result.stderr.splitlines()
    )
    check = adarchive("platform", "check", str(definition))
    assert check.returncode == 0
    assert "warning" in check.stdout and "next_page" in check.stdout and "ad_links" in check.stdout
