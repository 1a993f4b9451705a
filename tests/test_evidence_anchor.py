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
from cli_inprocess import adarchive_here
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
    """``adarchive custody verify`` in this process (its report is the subject here; the real
    CLI runs, with TSA URLs from the environment, in a test further down)."""
    return adarchive_here("custody", "verify", "--db", str(data / "adarchive.db"), *extra)


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
    result = adarchive_here("status", "--db", str(anchored["db"]))  # real CLI: below
    assert result.returncode == 0, result.stderr
    assert "chain-head time-stamp request(s) queued, TSA unreachable" in result.stdout


@pytest.fixture(scope="module")
def signed_bundle(
    anchored: dict[str, Any],
    tsas: tuple[LocalTSA, LocalTSA],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Exported signed with the two TSAs and the dead one configured: a token from each."""
    root = tmp_path_factory.mktemp("several-tsas")
    # in-process: test_evidence_export runs `keys generate` as a real subprocess
    made = adarchive_here("keys", "generate", "--out", str(root / "keys"))
    assert made.returncode == 0, made.stdout + made.stderr
    bundle = root / "case.wacz"
    urls = f"{tsas[0].url} {tsas[1].url} {anchored['dead']}"
    export = adarchive(
        "export", "--db", str(anchored["db"]), "--out", str(bundle), "--crawl", "1",
        "--sign", str(root / "keys" / "adarchive-signing-key.pem"),
        env={"ADARCHIVE_TSA_URL": urls},
    )  # fmt: skip
    assert export.returncode == 0, export.stdout + export.stderr
    return {"bundle": bundle, "key": root / "keys" / "adarchive-signing-key.pub.pem"}


def _verify_bundle(signed: dict[str, Any], *roots: Path) -> Any:
    extra = [a for root in roots for a in ("--tsa-root", str(root))]
    return adarchive_here("verify", str(signed["bundle"]), "--key", str(signed["key"]), *extra)


def test_the_signature_carries_a_token_from_each_tsa(
    signed_bundle: dict[str, Any], tsas: tuple[LocalTSA, LocalTSA], anchored: dict[str, Any]
) -> None:
    import zipfile

    with zipfile.ZipFile(signed_bundle["bundle"]) as zf:
        stamps = json.loads(zf.read("datapackage-digest.json"))["signatureTimeStamp"]
    assert [s["tsa"] for s in stamps] == [tsas[0].url, tsas[1].url, anchored["dead"]]
    assert [bool(s.get("token")) for s in stamps] == [True, True, False]
    assert "unreachable" in stamps[2]["error"]


@pytest.mark.parametrize("trusted", [0, 1])
def test_one_trusted_signature_token_suffices_every_one_is_reported(
    signed_bundle: dict[str, Any], tsas: tuple[LocalTSA, LocalTSA], trusted: int
) -> None:
    """Only one TSA's root is trusted: verify passes on it and reports the others."""
    result = _verify_bundle(signed_bundle, tsas[trusted].ca_pem)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "signed no later than" in out
    assert "1 of 3 signature tokens under a trusted TSA root" in out
    own, other = f"({tsas[trusted].url}): valid, ", f"({tsas[1 - trusted].url}): root "
    assert own in out and other in out and "not trusted" in out
    assert "no token (TSA" in out and "unreachable" in out  # the dead TSA, named
    # The chain-head anchors: every TSA reported, one valid token per anchor suffices.
    anchors = next(x for x in out.splitlines() if x.startswith("custody anchors"))
    assert " FAIL " not in anchors
    assert out.count("TSA http_127_0_0_1_") >= 2 and ", not trusted" in out


def test_no_trusted_root_dates_nothing_but_reports_every_token(
    signed_bundle: dict[str, Any], tsas: tuple[LocalTSA, LocalTSA]
) -> None:
    result = _verify_bundle(signed_bundle)
    assert result.returncode == 0, result.stdout + result.stderr  # --key: signer verified
    assert "signing time only claimed" in result.stdout
    assert result.stdout.count("well-formed, NOT trusted (no TSA root configured)") == 2
    both = _verify_bundle(signed_bundle, tsas[0].ca_pem, tsas[1].ca_pem)
    assert "2 of 3 signature tokens under a trusted TSA root" in both.stdout


def test_each_closed_file_has_a_token_from_each_reachable_tsa_and_the_gap_is_reported(
    anchored: dict[str, Any], tsas: tuple[LocalTSA, LocalTSA]
) -> None:
    from crawler.evidence.timestamp import missing_tokens, token_paths

    warcs = sorted((anchored["out"] / "warc").glob("*.warc.gz"))
    assert warcs
    for warc in warcs:
        assert token_paths(warc, tsas[0].url, first=True)[0].exists()
        assert token_paths(warc, tsas[1].url, first=False)[0].exists()
    missing = missing_tokens(anchored["out"] / "warc", [t.url for t in tsas] + [anchored["dead"]])
    assert {(w, url) for w, url, _ in missing} == {(w, anchored["dead"]) for w in warcs}
    env = {"ADARCHIVE_TSA_URL": f"{tsas[0].url} {tsas[1].url} {anchored['dead']}"}
    verify = adarchive("custody", "verify", "--db", str(anchored["db"]), env=env)
    assert f"no token from {anchored['dead']} yet" in verify.stdout
    status = adarchive("status", "--db", str(anchored["db"]), env=env)
    assert "WARC file time-stamp request(s) queued, TSA unreachable" in status.stdout


def test_a_failed_file_time_stamp_is_retried(
    anchored: dict[str, Any], tsas: tuple[LocalTSA, LocalTSA], tmp_path: Path
) -> None:
    from crawler.evidence.timestamp import missing_tokens, retry_missing, token_paths

    data = _copy_data(anchored["out"], tmp_path / "data")
    warc = sorted((data / "warc").glob("*.warc.gz"))[0]
    token, chain = token_paths(warc, tsas[1].url, first=False)
    token.unlink()  # as if the second TSA had been unreachable when the file closed
    chain.unlink()
    urls = [tsas[0].url, tsas[1].url]
    assert [(w, u) for w, u, _ in missing_tokens(data / "warc", urls)] == [(warc, tsas[1].url)]
    assert retry_missing(data / "warc", urls, None, str) == 1
    assert token.exists() and chain.exists()
    assert missing_tokens(data / "warc", urls) == []
