"""Export a real crawl of the fixture web and check the bundle with independent tools."""

from __future__ import annotations

import csv
import gzip
import hashlib
import html
import io
import json
import sqlite3
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cli_inprocess import adarchive_here
from evidence_tools import (
    WARCIO_BIN,
    copy_store,
    read_entries,
    require_wacz,
    run,
    signature_files,
)

from conftest import CrawlRun, adarchive

pytestmark = [pytest.mark.crawl]


@pytest.fixture(scope="module")
def case(static_crawl: CrawlRun, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A signed bundle of one advert (chosen by its identifier too) from a private store copy."""
    root = tmp_path_factory.mktemp("evidence-export")
    data = copy_store(static_crawl.out, root / "data")
    db = data / "adarchive.db"
    keys = root / "keys"
    adarchive("keys", "generate", "--out", str(keys), check=True)
    with sqlite3.connect(db) as conn:
        ad_id, platform, external, title, capture_id, crawl_id = conn.execute(
            "SELECT a.id, p.name, a.external_id, a.title, a.capture_id, c.crawl_id FROM ad a "
            "JOIN platform p ON p.id = a.platform_id JOIN capture c ON c.id = a.capture_id "
            "JOIN ad_identifier ai ON ai.ad_id = a.id ORDER BY a.id LIMIT 1"
        ).fetchone()
        url, fetched = conn.execute(
            "SELECT url, fetched_at FROM capture WHERE id = ?", (capture_id,)
        ).fetchone()
    bundle = root / "CASE-0001.wacz"
    result = adarchive(
        "export", "--db", str(db), "--out", str(bundle), "--ad", f"{platform}:{external}",
        "--case-ref", "CASE-0001 <test>", "--sign", str(keys / "adarchive-signing-key.pem"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return {
        "root": root, "data": data, "db": db, "bundle": bundle, "keys": keys, "ad_id": ad_id,
        "platform": platform, "external": external, "title": title, "capture_id": capture_id,
        "crawl_id": crawl_id, "url": url, "fetched": fetched, "stdout": result.stdout,
    }  # fmt: skip


def _rows(bundle: Path) -> list[dict[str, str]]:
    with zipfile.ZipFile(bundle) as zf:
        text = zf.read("evidence/captures.csv").decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_records_are_copied_byte_for_byte_with_each_source_warcinfo(case: dict[str, Any]) -> None:
    entries = read_entries(case["bundle"])
    rows = _rows(case["bundle"])
    assert str(case["capture_id"]) in {r["capture_id"] for r in rows}
    assert {r["kind"] for r in rows} >= {"response", "request", "metadata"}
    for row in rows:
        source = (case["data"] / "warc" / row["source_warc"]).read_bytes()
        assert hashlib.sha256(source).hexdigest() == row["source_warc_sha256"]
        start, length = int(row["source_offset"]), int(row["source_length"])
        bundled = entries[f"archive/{row['bundle_warc']}"]
        offset = int(row["bundle_offset"])
        assert bundled[offset : offset + length] == source[start : start + length]
    for name, data in entries.items():
        if name.startswith("archive/"):
            first = gzip.GzipFile(fileobj=io.BytesIO(data)).read(400)
            assert b"WARC-Type: warcinfo" in first
    with zipfile.ZipFile(case["bundle"]) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        assert all(i.filename.count("/") <= 1 for i in zf.infolist())


def test_adarchive_verify_passes_with_the_agency_key(case: dict[str, Any]) -> None:
    result = adarchive(
        "verify", str(case["bundle"]), "--key", str(case["keys"] / "adarchive-signing-key.pub.pem")
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # no TSA in this crawl: the absence of trusted time is a warning, never "OK"
    assert "RESULT: integrity OK, signer verified, 2 warning(s) above" in result.stdout
    lines = result.stdout.splitlines()
    for check in ("files", "WARC records", "signature", "captures.csv", "custody chain"):
        assert any(line.startswith(check) and " OK " in line for line in lines)
    assert any(line.startswith("time-stamps") and " WARN " in line for line in lines)
    assert any(line.startswith("custody anchors") and " WARN " in line for line in lines)


def test_py_wacz_validates_the_bundle(case: dict[str, Any]) -> None:
    result = run([str(require_wacz()), "validate", "-f", str(case["bundle"])])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation succeeded" in result.stdout


def test_warcio_checks_every_exported_record(case: dict[str, Any], tmp_path: Path) -> None:
    with zipfile.ZipFile(case["bundle"]) as zf:
        names = [n for n in zf.namelist() if n.startswith("archive/")]
        zf.extractall(tmp_path, names)
    result = run([str(WARCIO_BIN), "check", "-v", *(str(tmp_path / n) for n in names)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("digest pass") >= len(_rows(case["bundle"]))
    assert "invalid" not in result.stdout


def test_openssl_verifies_the_converted_signature(case: dict[str, Any], tmp_path: Path) -> None:
    entries = read_entries(case["bundle"])
    signature_files(entries["datapackage-digest.json"], tmp_path)
    assert json.loads(entries["datapackage-digest.json"])["hash"] == (
        "sha256:" + hashlib.sha256(entries["datapackage.json"]).hexdigest()
    )
    steps = [
        ["openssl", "pkey", "-pubin", "-inform", "DER", "-in", "pub.der", "-out", "pub.pem"],
        ["openssl", "asn1parse", "-genconf", "sig.cnf", "-out", "sig.der", "-noout"],
        ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "hash.txt"],
    ]
    for step in steps:
        result = run(step, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "Verified OK" in result.stdout
    published = (case["keys"] / "adarchive-signing-key.pub.pem").read_bytes()
    assert (tmp_path / "pub.pem").read_bytes() == published
    assert "adarchive-signing-key.pem" not in " ".join(entries)
    assert b"PRIVATE KEY" not in b"".join(entries.values())


def test_pywb_replays_the_exported_page(case: dict[str, Any], tmp_path: Path) -> None:
    from pywb import wayback

    with zipfile.ZipFile(case["bundle"]) as zf:
        names = [n for n in zf.namelist() if n.startswith("archive/")]
        zf.extractall(tmp_path / "x", names)
    row = next(r for r in _rows(case["bundle"]) if r["capture_id"] == str(case["capture_id"]))
    timestamp = row["fetched_at"][:19].replace("-", "").replace(":", "").replace("T", "")
    with wayback([tmp_path / "x" / n for n in names], tmp_path / "pywb") as server:
        fetched = server.raw(case["url"], timestamp)
    assert fetched.status == 200
    assert hashlib.sha256(fetched.body).hexdigest() == row["payload_sha256"]


def test_report_and_verify_txt(case: dict[str, Any]) -> None:
    entries = read_entries(case["bundle"])
    report = entries["evidence/report.html"].decode("utf-8")
    fingerprint = hashlib.sha256(
        __import__("base64").b64decode(
            json.loads(entries["datapackage-digest.json"])["signedData"]["publicKey"]
        )
    ).hexdigest()
    assert "CASE-0001 &lt;test&gt;" in report and "CASE-0001 <test>" not in report
    assert fingerprint in report
    assert "<img" not in report and "<script" not in report
    assert html.escape(case["title"]) in report and case["external"] in report
    assert "default-src 'none'" in report
    verify_txt = entries["evidence/VERIFY.txt"].decode("utf-8")
    for tool in ("sha256sum", "warcio check", "wacz validate", "openssl dgst -sha256 -verify"):
        assert tool in verify_txt
    assert fingerprint in verify_txt
    pages = entries["pages/pages.jsonl"].decode().splitlines()
    assert json.loads(pages[0])["format"] == "json-pages-1.0"
    assert case["url"] in {json.loads(p)["url"] for p in pages[1:]}
    index = entries["indexes/index.cdx"].decode().splitlines()
    assert any(json.loads(line.split(" ", 2)[2])["url"] == case["url"] for line in index)


def test_custody_log_in_bundle_redacts_other_cases(case: dict[str, Any]) -> None:
    entries = read_entries(case["bundle"])
    events = [json.loads(line) for line in entries["evidence/custody.jsonl"].splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    last = events[-1]
    assert last["action"] == "export.created"
    assert last["details"]["case_ref"] == "CASE-0001 <test>"
    ours = f"crawl:{case['crawl_id']}"
    started = [e for e in events if e["action"] == "crawl.started"]
    assert len(started) >= 2  # the fixture crawl covers several platforms
    for event in started:
        if event["subject"] == ours:
            assert event["details"]["robots"].startswith("robots.txt obeyed")
        else:
            assert event["redacted"] is True and "details" not in event
    closed = [e for e in events if e["action"] == "warc.closed" and "details" in e]
    assert {e["details"]["name"] for e in closed} == {
        r["source_warc"] for r in _rows(case["bundle"])
    }


def test_store_custody_chain_and_show(case: dict[str, Any]) -> None:
    ok = adarchive("custody", "verify", "--db", str(case["db"]))
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stdout + ok.stderr
    shown = adarchive("custody", "show", "--db", str(case["db"]), "--crawl", str(case["crawl_id"]))
    assert shown.returncode == 0
    assert "crawl.started" in shown.stdout and "warc.closed" in shown.stdout
    assert f"crawl:{case['crawl_id']}" in shown.stdout
    with sqlite3.connect(case["db"]) as conn:
        actions = [a for (a,) in conn.execute("SELECT action FROM custody_event ORDER BY seq")]
    assert actions[-2:] == ["export.created", "export.written"]


def test_verification_is_recorded_in_the_store(case: dict[str, Any]) -> None:
    result = adarchive("verify", str(case["bundle"]), "--db", str(case["db"]))
    assert result.returncode == 3, result.stdout + result.stderr  # no trust anchor given
    with sqlite3.connect(case["db"]) as conn:
        action, details = conn.execute(
            "SELECT action, details FROM custody_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    assert action == "verify.run" and json.loads(details)["ok"] is True


def test_selecting_nothing_is_an_error(case: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "empty.wacz"
    db = str(case["db"])
    for args, message in (
        ([], "say what to export"),
        (["--ad", "nowhere:1"], "no ad"),
        (["--since", "2999-01-01"], "matches no archived capture"),
        (["--platform", "no_such_platform"], "no platform"),
    ):
        # in-process (the CLI's own entry point): the subprocess case is the one below
        result = adarchive_here("export", "--db", db, "--out", str(out), *args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
        assert not out.exists()
    missing = adarchive(
        "export", "--db", str(tmp_path / "none.db"), "--out", str(out), "--crawl", "1"
    )
    assert missing.returncode == 2 and not (tmp_path / "none.db").exists()


def test_export_by_identifier_and_crawl(case: dict[str, Any], tmp_path: Path) -> None:
    with sqlite3.connect(case["db"]) as conn:
        (kind, value) = conn.execute(
            "SELECT i.kind, i.value FROM identifier i JOIN ad_identifier ai "
            "ON ai.identifier_id = i.id WHERE ai.ad_id = ? LIMIT 1",
            (case["ad_id"],),
        ).fetchone()
    out = tmp_path / "by-identifier.wacz"
    # one identifier syntax (issue 17): KIND:VALUE, normalised as extraction does
    result = adarchive_here(
        "export", "--db", str(case["db"]), "--out", str(out), "--identifier", f"{kind}:{value}"
    )
    assert result.returncode == 0, result.stderr
    assert str(case["capture_id"]) in {r["capture_id"] for r in _rows(out)}
    crawl_out = tmp_path / "crawl.wacz"
    result = adarchive_here(
        "export", "--db", str(case["db"]), "--out", str(crawl_out), "--crawl", str(case["crawl_id"])
    )
    assert result.returncode == 0, result.stderr
    assert len(_rows(crawl_out)) > len(_rows(case["bundle"]))
    unsigned = adarchive_here("verify", str(crawl_out))
    assert unsigned.returncode == 3, unsigned.stdout + unsigned.stderr
    assert "RESULT: integrity OK, signer NOT verified" in unsigned.stdout


def test_zip_headers_agree_and_warcs_are_stored(case: dict[str, Any]) -> None:
    """Issue 15 finding 1: no local-only ZIP64 extra; ReplayWeb.page reads by the central one."""
    from test_evidence_zip import header_extras

    extras = header_extras(case["bundle"].read_bytes())
    assert any(name.startswith("archive/") for name, *_ in extras)
    for name, method, local, central in extras:
        assert len(local) == len(central) and local == central, name
        assert method == zipfile.ZIP_STORED, name
    listed = subprocess.run(["unzip", "-t", str(case["bundle"])], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stdout + listed.stderr


def test_custody_verify_checks_warc_files_on_disk(case: dict[str, Any], tmp_path: Path) -> None:
    """Issue 15 finding 4: the log alone proves only itself; the files must agree with it."""
    data = copy_store(case["data"], tmp_path / "data")
    db = data / "adarchive.db"
    ok = adarchive_here("custody", "verify", "--db", str(db))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "closed files on disk match the store and the log" in ok.stdout
    with sqlite3.connect(db) as conn:
        file_id, path = conn.execute(
            "SELECT id, path FROM warc_file ORDER BY id LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE warc_file SET sha256 = ? WHERE id = ?", ("0" * 64, file_id))
    edited = adarchive_here("custody", "verify", "--db", str(db))
    assert edited.returncode == 1
    assert f"warc_file {file_id} ({path}): the store says SHA-256 {'0' * 64}" in edited.stdout
    warc = data / path
    warc.write_bytes(warc.read_bytes() + b"\0")
    changed = adarchive_here("custody", "verify", "--db", str(db))
    assert "recorded SHA-256" in changed.stdout and "the file on disk is" in changed.stdout


def test_actor_is_the_operator_identity_plus_the_os_user(
    case: dict[str, Any], tmp_path: Path
) -> None:
    import getpass
    import socket

    data = copy_store(case["data"], tmp_path / "data")
    db = data / "adarchive.db"
    env = {"ADARCHIVE_OPERATOR_NAME": "A. Examiner", "ADARCHIVE_OPERATOR_UNIT": "Unit 7"}
    done = adarchive(
        "export", "--db", str(db), "--out", str(tmp_path / "a.wacz"), "--ad", str(case["ad_id"]),
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        (actor,) = conn.execute("SELECT actor FROM custody_event ORDER BY seq DESC").fetchone()
    account = f"{getpass.getuser()}@{socket.gethostname()}"
    assert actor == f"A. Examiner, Unit 7 [OS user {account}]"
    unset = adarchive("export", "--db", str(db), "--out", str(tmp_path / "b.wacz"),
                      "--ad", str(case["ad_id"]))  # fmt: skip
    assert unset.returncode == 0
    with sqlite3.connect(db) as conn:
        (actor,) = conn.execute("SELECT actor FROM custody_event ORDER BY seq DESC").fetchone()
    assert actor == f"operator not configured [OS user {account}]"
