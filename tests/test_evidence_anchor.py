"""The custody chain anchored outside the store (issue 15 finding 4).

A crawl with two local TSAs (different roots) and one unreachable TSA: the
chain head is time-stamped at the crawl's end by each reachable one, the
unreachable one is queued and reported as a gap, and ``custody verify`` trusts
tokens only under the roots it is given. A history rewritten in the store, or
rewritten and re-stamped, is caught through the anchors.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pywb import free_port
from tsa import LocalTSA

from conftest import FAST, adarchive, start_url_args, static_platforms


@pytest.fixture(scope="module")
def tsas() -> Iterator[tuple[LocalTSA, LocalTSA]]:
    with LocalTSA() as first, LocalTSA() as second:
        yield first, second


@pytest.fixture(scope="module")
def anchored(
    fixture_web: Any, tsas: tuple[LocalTSA, LocalTSA], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("anchored") / "data"
    name = static_platforms(fixture_web)[0]
    dead = f"http://127.0.0.1:{free_port()}/tsa"  # nothing listens: unreachable
    urls = f"{tsas[0].url} {tsas[1].url} {dead}"
    crawl = adarchive(
        "crawl", name, *start_url_args(fixture_web, [name]), "--out", str(out), *FAST,
        "-s", f"ADARCHIVE_TSA_URL={urls}",
    )  # fmt: skip
    assert crawl.returncode == 0, crawl.stdout + crawl.stderr[-3000:]
    return {"out": out, "db": out / "adarchive.db", "dead": dead}


def _copy_data(src: Path, dst: Path) -> Path:
    """WARC files and anchors copied; the store through SQLite's backup (WAL-safe)."""
    shutil.copytree(src / "warc", dst / "warc")
    with (
        sqlite3.connect(src / "adarchive.db") as source,
        sqlite3.connect(dst / "adarchive.db") as target,
    ):
        source.backup(target)
    return dst


def _custody_verify(data: Path, *extra: str) -> Any:
    return adarchive("custody", "verify", "--db", str(data / "adarchive.db"), *extra)


def test_crawl_end_anchors_the_head_with_every_reachable_tsa(anchored: dict[str, Any]) -> None:
    directory = anchored["out"] / "warc" / "custody"
    anchors = sorted(directory.glob("head-*.json"))
    assert anchors, "no chain-head anchor beside the WARC files"
    last = anchors[-1]
    assert len(list(directory.glob(f"{last.stem}.*.tsr"))) == 2
    assert len(list(directory.glob(f"{last.stem}.*.pending"))) == 1
    body = json.loads(last.read_bytes())
    with sqlite3.connect(anchored["db"]) as conn:
        (stored,) = conn.execute("SELECT hash FROM custody_event WHERE seq = ?", (body["seq"],))
    assert stored[0] == body["hash"]


def test_one_trusted_token_suffices_all_are_reported_gaps_too(
    anchored: dict[str, Any], tsas: tuple[LocalTSA, LocalTSA]
) -> None:
    result = _custody_verify(anchored["out"], "--tsa-root", str(tsas[0].ca_pem))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "custody chain intact" in result.stdout
    assert ": valid, " in result.stdout and "not trusted" in result.stdout
    assert "GAP" in result.stdout and "still queued (TSA unreachable)" in result.stdout
    untrusted = _custody_verify(anchored["out"])
    assert "NOT trusted (no TSA root configured)" in untrusted.stdout
    assert "no valid token under a trusted root" in untrusted.stdout


def _rewrite(db: Path, shift: timedelta) -> None:
    """Edit event 1 and recompute every hash after it, as someone with the store could."""
    from crawler.evidence.canonical import canonical_bytes
    from crawler.evidence.chain import GENESIS_HASH, event_hash, rfc3339, sha256_hex

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT seq, at, actor, action, subject, details FROM custody_event ORDER BY seq"
        ).fetchall()
        prev = GENESIS_HASH
        for seq, at, actor, action, subject, details in rows:
            when = datetime.fromisoformat(str(at)) - shift
            if seq == 1:
                data = json.loads(details)
                data["robots"] = "edited"
                details = canonical_bytes(data).decode()
            digest = sha256_hex(details.encode())
            new = event_hash(seq, rfc3339(when), actor, action, subject, digest, prev)
            conn.execute(
                "UPDATE custody_event SET at = ?, details = ?, details_sha256 = ?, prev_hash = ?,"
                " hash = ? WHERE seq = ?",
                (when.strftime("%Y-%m-%d %H:%M:%S.%f"), details, digest, prev, new, seq),
            )
            prev = new


def test_rewritten_history_is_caught_by_the_anchor(
    anchored: dict[str, Any], tsas: tuple[LocalTSA, LocalTSA], tmp_path: Path
) -> None:
    data = _copy_data(anchored["out"], tmp_path / "data")
    _rewrite(data / "adarchive.db", timedelta(0))
    result = _custody_verify(data, "--tsa-root", str(tsas[0].ca_pem))
    assert "custody chain intact" in result.stdout  # the chain alone is fooled
    assert result.returncode == 1
    assert "was rewritten" in result.stdout


def test_rewritten_and_restamped_history_shows_a_late_token(
    anchored: dict[str, Any], tsas: tuple[LocalTSA, LocalTSA], tmp_path: Path
) -> None:
    """The forger deletes the anchors and stamps the rewritten head anew: too late."""
    from crawler.evidence.anchor import anchor_head
    from crawler.store.db import open_store

    data = _copy_data(anchored["out"], tmp_path / "data")
    _rewrite(data / "adarchive.db", timedelta(days=1))  # as if rewritten a day later
    shutil.rmtree(data / "warc" / "custody")
    factory = open_store(f"sqlite:///{data / 'adarchive.db'}", create=False)
    with factory() as session:
        anchor_head(session, data, "forged", [tsas[0].url])
    result = _custody_verify(data, "--tsa-root", str(tsas[0].ca_pem))
    assert result.returncode == 1
    assert "re-stamped later?" in result.stdout


def test_status_reports_the_gap(anchored: dict[str, Any]) -> None:
    result = adarchive("status", "--db", str(anchored["db"]))
    assert result.returncode == 0, result.stderr
    assert "chain-head time-stamp request(s) queued, TSA unreachable" in result.stdout
