"""A time-stamped crawl, its signed bundle, and every kind of tampering `verify` must catch.

Each tamper test edits one thing; where a forger would also fix the hashes
(datapackage.json, its digest) the test does that too, so the deeper check
has to name the exact spot: the record, the CSV line, the manifest, the event.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_inprocess import adarchive_here
from evidence_tools import read_entries, rehash, signer, write_bundle
from tsa import LocalTSA

from conftest import FAST, adarchive, start_url_args, static_platforms

pytestmark = [pytest.mark.crawl]


@pytest.fixture(scope="module")
def tsa() -> Iterator[LocalTSA]:
    with LocalTSA() as authority:
        yield authority


@pytest.fixture(scope="module")
def stamped(fixture_web: Any, tsa: LocalTSA, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One platform crawled with ADARCHIVE_TSA_URL set, exported signed."""
    root = tmp_path_factory.mktemp("evidence-tamper")
    name = static_platforms(fixture_web)[0]
    out = root / "data"
    crawl = adarchive(
        "crawl", name, *start_url_args(fixture_web, [name]), "--out", str(out), *FAST,
        "-s", f"ADARCHIVE_TSA_URL={tsa.url}",
        "-s", "ADARCHIVE_WARC_MAX_SIZE=30000",  # several files: one can break alone
    )  # fmt: skip
    assert crawl.returncode == 0, crawl.stdout + crawl.stderr
    # in-process: test_evidence_export runs `keys generate` as a real subprocess
    for folder in ("keys", "other"):
        made = adarchive_here("keys", "generate", "--out", str(root / folder))
        assert made.returncode == 0, made.stdout + made.stderr
    bundle = root / "stamped.wacz"
    export = adarchive(
        "export", "--db", str(out / "adarchive.db"), "--out", str(bundle), "--platform", name,
        "--case-ref", "CASE-TAMPER", "--sign", str(root / "keys" / "adarchive-signing-key.pem"),
    )  # fmt: skip
    assert export.returncode == 0, export.stdout + export.stderr
    return {"root": root, "out": out, "bundle": bundle, "platform": name}


def _verify(bundle: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``adarchive verify`` in this process: these tests are about its report (the CLI's
    own, with its environment and its one-line errors, runs for real below and in
    test_evidence_export)."""
    return adarchive_here("verify", str(bundle), *extra)


def _tampered(stamped: dict, name: str, entries: dict[str, bytes]) -> Path:
    return write_bundle(entries, stamped["root"] / f"{name}.wacz")


# -- the time-stamped crawl itself ------------------------------------------


def test_closed_warc_files_are_stamped_and_logged(stamped: dict) -> None:
    warcs = sorted((stamped["out"] / "warc").glob("*.warc.gz"))
    assert warcs
    for warc in warcs:
        for suffix in (".manifest.json", ".tsr", ".tsa.pem"):
            assert warc.with_name(warc.name + suffix).exists()
    with sqlite3.connect(stamped["out"] / "adarchive.db") as conn:
        actions = [a for (a,) in conn.execute("SELECT action FROM custody_event ORDER BY seq")]
    assert actions.count("warc.timestamped") == len(warcs)
    assert actions.index("crawl.started") < actions.index("warc.closed")
    assert actions.index("warc.closed") < actions.index("warc.timestamped")


def test_bundle_ships_tokens_that_openssl_and_verify_accept(stamped: dict, tmp_path: Path) -> None:
    with zipfile.ZipFile(stamped["bundle"]) as zf:
        zf.extractall(tmp_path)
    manifests = sorted((tmp_path / "evidence").glob("*.manifest.json"))
    assert manifests
    for manifest in manifests:
        base = str(manifest)[: -len(".manifest.json")]
        result = subprocess.run(
            ["openssl", "ts", "-verify", "-data", str(manifest), "-in", base + ".tsr",
             "-CAfile", base + ".tsa.pem"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr
    ok = _verify(stamped["bundle"])
    assert ok.returncode == 3, ok.stdout + ok.stderr  # no anchors: integrity only
    line = next(x for x in ok.stdout.splitlines() if x.startswith("time-stamps"))
    assert " WARN " in line and "NOT trusted: no TSA root configured" in line


def test_trusted_tsa_root_is_enforced(stamped: dict, tsa: LocalTSA) -> None:
    fingerprint = subprocess.run(
        ["openssl", "x509", "-in", str(tsa.ca_pem), "-noout", "-fingerprint", "-sha256"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split("=", 1)[1].strip()  # fmt: skip
    key = ["--key", str(stamped["root"] / "keys" / "adarchive-signing-key.pub.pem")]
    for root in (fingerprint, str(tsa.ca_pem)):
        good = _verify(stamped["bundle"], "--tsa-root", root, *key)
        assert good.returncode == 0, good.stdout + good.stderr
        assert "RESULT: all checks passed" in good.stdout
    wrong = _verify(stamped["bundle"], "--tsa-root", "00" * 32, *key)
    assert wrong.returncode == 1 and "not a trusted TSA root" in wrong.stdout


# -- tampering ----------------------------------------------------------------


def _last_record_flipped(data: bytes) -> tuple[bytes, int]:
    """Flip one payload byte in the file's last record, re-gzipped as its own member."""
    members = []
    rest = data
    import zlib

    while rest:
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        body = d.decompress(rest)
        members.append((len(data) - len(rest), body))
        rest = d.unused_data
    offset, body = members[-1]
    i = body.rindex(b"\r\n\r\n") - 1  # last byte of the block
    changed = body[:i] + bytes([body[i] ^ 0x20]) + body[i + 1 :]
    return data[:offset] + gzip.compress(changed, mtime=0), offset


def test_flipped_byte_in_a_warc_record_is_named(stamped: dict) -> None:
    entries = read_entries(stamped["bundle"])
    name = next(n for n in entries if n.startswith("archive/"))
    entries[name], offset = _last_record_flipped(entries[name])
    plain = _verify(_tampered(stamped, "record", dict(entries)))
    assert plain.returncode == 1
    assert f"{name}: SHA-256" in plain.stdout
    assert f"{name} offset {offset}" in plain.stdout and "block digest" in plain.stdout
    rehash(entries)  # a forger fixes every hash, but cannot re-sign with the agency key
    forged = _verify(_tampered(stamped, "record-rehashed", entries))
    assert forged.returncode == 1
    assert f"{name} offset {offset}" in forged.stdout
    assert "signedData.hash differs" in forged.stdout


def test_flipped_byte_in_the_zip_is_named(stamped: dict) -> None:
    data = bytearray(stamped["bundle"].read_bytes())
    with zipfile.ZipFile(stamped["bundle"]) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("archive/"))
    data[info.header_offset + 30 + len(info.filename) + 100] ^= 0x01
    path = stamped["root"] / "zipbyte.wacz"
    path.write_bytes(bytes(data))
    result = _verify(path)
    assert result.returncode == 1 and info.filename in result.stdout


def test_edited_csv_row_is_named(stamped: dict) -> None:
    entries = read_entries(stamped["bundle"])
    lines = entries["evidence/captures.csv"].decode().split("\r\n")
    fields = lines[3].split(",")
    fields[7] = "0" * 64  # block_sha256 of the record on CSV line 4
    lines[3] = ",".join(fields)
    entries["evidence/captures.csv"] = "\r\n".join(lines).encode()
    assert (
        "evidence/captures.csv: SHA-256" in _verify(_tampered(stamped, "csv", dict(entries))).stdout
    )
    rehash(entries)
    result = _verify(_tampered(stamped, "csv-rehashed", entries))
    assert result.returncode == 1
    assert "captures.csv line 4" in result.stdout and "block SHA-256" in result.stdout


def test_edited_datapackage_is_caught(stamped: dict) -> None:
    entries = read_entries(stamped["bundle"])
    entries["datapackage.json"] = entries["datapackage.json"].replace(
        b"CASE-TAMPER", b"CASE-OTHER!"
    )
    result = _verify(_tampered(stamped, "datapackage", dict(entries)))
    assert result.returncode == 1 and "datapackage.json: SHA-256" in result.stdout
    digest = json.loads(entries["datapackage-digest.json"])
    import hashlib

    digest["hash"] = "sha256:" + hashlib.sha256(entries["datapackage.json"]).hexdigest()
    entries["datapackage-digest.json"] = json.dumps(digest).encode()
    result = _verify(_tampered(stamped, "datapackage-digest", entries))
    assert result.returncode == 1 and "signedData.hash differs" in result.stdout


def test_edited_manifest_is_named(stamped: dict) -> None:
    entries = read_entries(stamped["bundle"])
    name = next(n for n in entries if n.endswith(".manifest.json"))
    manifest = json.loads(entries[name])
    manifest["records"][-1]["length"] += 1
    entries[name] = json.dumps(manifest, separators=(",", ":")).encode()
    rehash(entries, signer(stamped["root"] / "keys" / "adarchive-signing-key.pem"))
    result = _verify(_tampered(stamped, "manifest", entries))
    assert result.returncode == 1
    token = name[: -len(".manifest.json")] + ".tsr"
    assert f"{token}: token's message imprint does not match the manifest" in result.stdout


def test_removed_custody_event_is_named(stamped: dict) -> None:
    entries = read_entries(stamped["bundle"])
    lines = entries["evidence/custody.jsonl"].splitlines(keepends=True)
    del lines[1]  # event 2
    entries["evidence/custody.jsonl"] = b"".join(lines)
    rehash(entries, signer(stamped["root"] / "keys" / "adarchive-signing-key.pem"))
    result = _verify(_tampered(stamped, "custody-removed", entries))
    assert result.returncode == 1
    assert "custody chain broken at event 3" in result.stdout and "missing" in result.stdout


def test_edited_custody_event_is_named(stamped: dict) -> None:
    entries = read_entries(stamped["bundle"])
    lines = entries["evidence/custody.jsonl"].splitlines(keepends=True)
    event = json.loads(lines[0])
    event["details"]["robots"] = "robots.txt NOT obeyed"
    lines[0] = (json.dumps(event) + "\n").encode()
    entries["evidence/custody.jsonl"] = b"".join(lines)
    rehash(entries, signer(stamped["root"] / "keys" / "adarchive-signing-key.pem"))
    result = _verify(_tampered(stamped, "custody-edited", entries))
    assert result.returncode == 1
    assert "custody chain broken at event 1" in result.stdout and "details" in result.stdout


def test_bundle_resigned_by_another_key_fails(stamped: dict) -> None:
    entries = read_entries(stamped["bundle"])
    entries["evidence/report.html"] += b"<!-- edited -->"
    rehash(entries, signer(stamped["root"] / "other" / "adarchive-signing-key.pem"))
    path = _tampered(stamped, "resigned", entries)
    result = _verify(path)
    assert result.returncode == 1 and "re-signed?" in result.stdout
    pinned = _verify(path, "--key", str(stamped["root"] / "keys" / "adarchive-signing-key.pub.pem"))
    assert pinned.returncode == 1 and "not the required" in pinned.stdout
    assert "signature" in pinned.stdout.split("RESULT")[0]


def test_removed_time_stamp_is_missed(stamped: dict) -> None:
    entries = read_entries(stamped["bundle"])
    manifest = next(n for n in entries if n.endswith(".manifest.json"))
    base = manifest[: -len(".manifest.json")]
    for name in (manifest, base + ".tsr", base + ".tsa.pem"):
        del entries[name]
    package = json.loads(entries["datapackage.json"])
    package["resources"] = [r for r in package["resources"] if r["path"] in entries]
    entries["datapackage.json"] = json.dumps(package).encode()
    rehash(entries, signer(stamped["root"] / "keys" / "adarchive-signing-key.pem"))
    result = _verify(_tampered(stamped, "stamp-removed", entries))
    assert result.returncode == 1
    assert f"{manifest}: missing, but custody event" in result.stdout


# -- trust anchors (issue 15 finding 2) ---------------------------------------


def _rechain(lines: list[bytes]) -> list[bytes]:
    """Recompute every event's hash after an edit, as a forger with the bundle would."""
    from crawler.evidence.canonical import canonical_bytes
    from crawler.evidence.chain import GENESIS_HASH, event_hash, sha256_hex

    out, prev = [], GENESIS_HASH
    for raw in lines:
        event = json.loads(raw)
        if "details" in event:
            event["details_sha256"] = sha256_hex(canonical_bytes(event["details"]))
        event["prev_hash"] = prev
        event["hash"] = prev = event_hash(
            event["seq"], event["at"], event["actor"], event["action"], event["subject"],
            event["details_sha256"], prev,
        )  # fmt: skip
        out.append((json.dumps(event, ensure_ascii=False) + "\n").encode())
    return out


def _full_forgery(stamped: dict) -> Path:
    """Dates shifted back a day, hashes redone, re-signed by another key, custody rewritten."""
    from datetime import datetime, timedelta

    entries = read_entries(stamped["bundle"])
    lines = entries["evidence/captures.csv"].decode().split("\r\n")
    for i in range(1, len(lines)):
        if not lines[i]:
            continue
        fields = lines[i].split(",")
        at = datetime.fromisoformat(fields[3].replace("Z", "+00:00")) - timedelta(days=1)
        fields[3] = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines[i] = ",".join(fields)
    entries["evidence/captures.csv"] = "\r\n".join(lines).encode()
    other = stamped["root"] / "other" / "adarchive-signing-key.pem"
    from crawler.evidence.signing import fingerprint, load_private_key

    custody = entries["evidence/custody.jsonl"].splitlines(keepends=True)
    last = json.loads(custody[-1])
    last["details"]["signer_fingerprint"] = fingerprint(load_private_key(other).public_key())
    custody[-1] = json.dumps(last).encode()
    entries["evidence/custody.jsonl"] = b"".join(_rechain(custody))
    rehash(entries, signer(other))
    return _tampered(stamped, "full-forgery", entries)


def test_full_forgery_is_not_passed_without_a_pinned_key(stamped: dict) -> None:
    forged = _full_forgery(stamped)
    result = _verify(forged)
    assert result.returncode != 0, result.stdout
    assert "all checks passed" not in result.stdout
    assert "signer NOT verified" in result.stdout


def test_full_forgery_fails_against_the_trusted_signers_file(stamped: dict, tmp_path: Path) -> None:
    trusted = tmp_path / "trusted-signers.json"
    added = adarchive(
        "keys", "trust", str(stamped["root"] / "keys" / "adarchive-signing-key.pub.pem"),
        "--name", "Evidence Office", "--unit", "Unit 7", "--valid-from", "2020-01-01",
        "--file", str(trusted),
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    listed = adarchive("keys", "list", "--file", str(trusted))
    assert "Evidence Office" in listed.stdout and "Unit 7" in listed.stdout
    env = {"ADARCHIVE_TRUSTED_SIGNERS": str(trusted)}
    genuine = adarchive("verify", str(stamped["bundle"]), env=env)
    assert genuine.returncode == 0, genuine.stdout + genuine.stderr
    assert "Evidence Office (Unit 7)" in genuine.stdout
    forged = adarchive("verify", str(_full_forgery(stamped)), env=env)
    assert forged.returncode == 1
    assert "which no trusted signer holds" in forged.stdout


def test_a_key_outside_its_validity_period_is_refused(stamped: dict, tmp_path: Path) -> None:
    trusted = tmp_path / "retired.json"
    added = adarchive_here(  # the real CLI: test_full_forgery_fails_against_the_trusted_signers_file
        "keys", "trust", str(stamped["root"] / "keys" / "adarchive-signing-key.pub.pem"),
        "--name", "Retired Office", "--valid-from", "2020-01-01", "--valid-until", "2021-01-01",
        "--file", str(trusted),
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    result = _verify(stamped["bundle"], "--trusted-signers", str(trusted))
    assert result.returncode == 1
    assert "key of Retired Office is valid 2020-01-01 to 2021-01-01" in result.stdout


def test_bad_trust_input_is_one_clear_line(stamped: dict, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    for args in (
        ["verify", str(stamped["bundle"]), "--trusted-signers", str(bad)],
        ["verify", str(stamped["bundle"]), "--fingerprint", "xyz"],
        ["keys", "trust", str(bad), "--name", "x", "--file", str(tmp_path / "t.json")],
        ["keys", "list"],
    ):
        result = adarchive(*args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_require_timestamp_needs_a_trusted_root(stamped: dict, tsa: LocalTSA) -> None:
    key = ["--key", str(stamped["root"] / "keys" / "adarchive-signing-key.pub.pem")]
    untrusted = _verify(stamped["bundle"], "--require-timestamp", *key)
    assert untrusted.returncode == 1 and "(--require-timestamp)" in untrusted.stdout
    with LocalTSA() as stranger:  # a TSA with a root of its own: not the one that stamped
        other = _verify(stamped["bundle"], "--require-timestamp", "--tsa-root",
                        str(stranger.ca_pem), *key)  # fmt: skip
    assert other.returncode == 1 and "not a trusted TSA root" in other.stdout
    trusted = _verify(stamped["bundle"], "--require-timestamp", "--tsa-root", str(tsa.ca_pem), *key)
    assert trusted.returncode == 0, trusted.stdout


# -- every captures.csv column against its record (issue 15 finding 3) ---------


@pytest.mark.parametrize(
    ("column", "edit", "label"),
    [
        (3, lambda v: "2020-01-01T00:00:00.000000Z", "fetched_at (WARC-Date)"),
        (4, lambda v: "404" if v == "200" else "200", "status"),
        (5, lambda v: "text/plain; edited", "content_type"),
        (2, lambda v: v + "?edited=1", "url"),
    ],
)  # fmt: skip
def test_each_csv_column_edit_names_its_line(
    stamped: dict, column: int, edit: Any, label: str
) -> None:
    entries = read_entries(stamped["bundle"])
    lines = entries["evidence/captures.csv"].decode().split("\r\n")
    row = next(i for i, line in enumerate(lines) if ",response," in line)
    fields = lines[row].split(",")
    fields[column] = edit(fields[column])
    lines[row] = ",".join(fields)
    entries["evidence/captures.csv"] = "\r\n".join(lines).encode()
    plain = _verify(_tampered(stamped, f"csv-{column}", dict(entries)))
    assert plain.returncode == 1
    # named by line even before a forger fixes the file hashes
    assert f"captures.csv line {row + 1}" in plain.stdout and label in plain.stdout, plain.stdout
    rehash(entries, signer(stamped["root"] / "keys" / "adarchive-signing-key.pem"))
    forged = _verify(_tampered(stamped, f"csv-{column}-rehashed", entries))
    assert forged.returncode == 1
    assert f"captures.csv line {row + 1}" in forged.stdout and label in forged.stdout
    assert "rows match" not in forged.stdout


def test_full_forgery_names_the_shifted_dates(stamped: dict) -> None:
    result = _verify(_full_forgery(stamped))
    assert result.returncode == 1, result.stdout
    assert "captures.csv line 2" in result.stdout and "fetched_at (WARC-Date)" in result.stdout


# -- honest output (issue 15 finding 6) ----------------------------------------


def test_crc_failure_in_one_warc_claims_nothing_about_it(stamped: dict) -> None:
    with zipfile.ZipFile(stamped["bundle"]) as zf:
        warcs = [i for i in zf.infolist() if i.filename.startswith("archive/")]
    assert len(warcs) >= 2, "the fixture must export several WARC files"
    broken = warcs[-1]
    data = bytearray(stamped["bundle"].read_bytes())
    data[broken.header_offset + 30 + len(broken.filename) + 200] ^= 0x01  # CRC no longer holds
    path = stamped["root"] / "crc.wacz"
    path.write_bytes(bytes(data))
    out = _verify(path).stdout
    records = next(line for line in out.splitlines() if line.startswith("WARC records"))
    assert " FAIL " in records and broken.filename in records, out
    assert "no record starts at" not in out
    assert f"not checked, {broken.filename} could not be read" in out
    assert "RESULT: VERIFICATION FAILED" in out


def test_a_huge_captures_csv_is_not_called_missing(
    stamped: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crawler.evidence import verify

    size = zipfile.ZipFile(stamped["bundle"]).getinfo("evidence/captures.csv").file_size
    monkeypatch.setattr(verify, "SMALL_FILE", size - 1)
    report = verify.verify_bundle(stamped["bundle"])
    captures = next(c for c in report.checks if c.name == "captures.csv")
    assert not captures.ok and "not checked" in captures.detail and "missing" not in captures.detail


def test_broken_datapackage_does_not_blame_intact_files(stamped: dict) -> None:
    entries = read_entries(stamped["bundle"])
    entries["datapackage.json"] = b"{not json"
    out = _verify(_tampered(stamped, "broken-datapackage", entries)).stdout
    assert "datapackage.json: missing or not valid JSON" in out
    custody = next(line for line in out.splitlines() if line.startswith("custody chain"))
    assert " OK " in custody, out


# -- VERIFY.txt runs as written (issue 15 finding 5) ---------------------------

REPO = Path(__file__).resolve().parent.parent
TOOLS_PATH = f"{REPO / '.venv' / 'bin'}:{REPO / '.tools' / 'wacz' / 'bin'}:/usr/bin:/bin"


def run_verify_txt(
    bundle: Path, name: str, tsa_root: Path, workdir: Path
) -> dict[int, subprocess.CompletedProcess[str]]:
    """Every command block of the bundle's VERIFY.txt, pasted into bash in a clean directory."""
    import re
    import shutil

    from evidence_tools import require_wacz

    require_wacz()
    workdir.mkdir()
    shutil.copy(bundle, workdir / name)
    shutil.copy(tsa_root, workdir / "tsa-root.pem")
    with zipfile.ZipFile(bundle) as zf:
        text = zf.read("evidence/VERIFY.txt").decode("utf-8")
    blocks = re.findall(r"^---- run \(step (\d+)\)\n(.*?)^---- end$", text, re.M | re.S)
    assert [int(n) for n, _ in blocks] == [1, 2, 3, 4, 5, 7, 8, 9], text
    env = {"PATH": TOOLS_PATH, "HOME": str(workdir), "LC_ALL": "C.UTF-8"}
    results = {}
    for number, block in blocks:
        results[int(number)] = subprocess.run(
            ["bash", "-c", block], cwd=workdir, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
    return results


def _failed(results: dict[int, subprocess.CompletedProcess[str]]) -> set[int]:
    failed = set()
    for step, result in results.items():
        ok = result.returncode == 0 and f"step {step} OK" in result.stdout
        if not ok:
            failed.add(step)
    return failed


def test_verify_txt_runs_as_written_on_the_genuine_bundle(
    stamped: dict, tsa: LocalTSA, tmp_path: Path
) -> None:
    results = run_verify_txt(stamped["bundle"], stamped["bundle"].name, tsa.ca_pem, tmp_path / "g")
    assert _failed(results) == set(), {
        s: r.stdout[-800:] + r.stderr[-800:] for s, r in results.items() if r.returncode
    }
    assert "Verified OK" in results[7].stdout and "Verification: OK" in results[8].stdout


def test_verify_txt_fails_the_right_steps_on_tampered_bundles(
    stamped: dict, tsa: LocalTSA, tmp_path: Path
) -> None:
    name = stamped["bundle"].name
    agency = signer(stamped["root"] / "keys" / "adarchive-signing-key.pem")
    other = signer(stamped["root"] / "other" / "adarchive-signing-key.pem")

    record = read_entries(stamped["bundle"])
    warc = next(n for n in record if n.startswith("archive/"))
    record[warc], _ = _last_record_flipped(record[warc])
    rehash(record)  # hashes fixed, signature kept (the forger lacks the agency key)

    csv_edit = read_entries(stamped["bundle"])
    lines = csv_edit["evidence/captures.csv"].decode().split("\r\n")
    fields = lines[3].split(",")
    fields[7] = "0" * 64
    lines[3] = ",".join(fields)
    csv_edit["evidence/captures.csv"] = "\r\n".join(lines).encode()

    custody = read_entries(stamped["bundle"])
    events = custody["evidence/custody.jsonl"].splitlines(keepends=True)
    first = json.loads(events[0])
    first["actor"] = "someone-else"
    events[0] = (json.dumps(first) + "\n").encode()
    custody["evidence/custody.jsonl"] = b"".join(events)
    rehash(custody, agency)  # isolates the custody step: signed as if by the agency

    resigned = read_entries(stamped["bundle"])
    resigned["evidence/report.html"] += b"<!-- edited -->"
    rehash(resigned, other)

    cases = {
        "record": (record, {4, 7}),
        "csv": (csv_edit, {3, 8}),
        "custody": (custody, {9}),
        "resigned": (resigned, {7}),
    }
    for label, (entries, expected) in cases.items():
        bundle = _tampered(stamped, f"verifytxt-{label}", entries)
        results = run_verify_txt(bundle, name, tsa.ca_pem, tmp_path / label)
        assert _failed(results) - {5} == expected, (label, _failed(results))


def test_rewritten_custody_history_is_caught_by_the_bundled_anchor(
    stamped: dict, tsa: LocalTSA
) -> None:
    """Edit event 1 and recompute the chain after it (re-signed as if by the agency): the
    chain verifies, but the anchor time-stamped at the crawl's end names the rewrite."""
    entries = read_entries(stamped["bundle"])
    assert any(n.startswith("evidence/anchor-head-") for n in entries), list(entries)
    events = entries["evidence/custody.jsonl"].splitlines(keepends=True)
    first = json.loads(events[0])
    first["details"]["robots"] = "robots.txt NOT obeyed"
    events[0] = json.dumps(first).encode()
    entries["evidence/custody.jsonl"] = b"".join(_rechain(events))
    rehash(entries, signer(stamped["root"] / "keys" / "adarchive-signing-key.pem"))
    key = ["--key", str(stamped["root"] / "keys" / "adarchive-signing-key.pub.pem")]
    result = _verify(_tampered(stamped, "rewritten-history", entries), "--tsa-root",
                     str(tsa.ca_pem), *key)  # fmt: skip
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(x.startswith("custody chain") and " OK " in x for x in lines)
    anchor = next(x for x in lines if x.startswith("custody anchors"))
    assert " FAIL " in anchor and "was rewritten" in anchor


def test_signature_is_time_stamped_when_a_tsa_is_configured(
    stamped: dict, tsa: LocalTSA, tmp_path: Path
) -> None:
    from evidence_tools import require_wacz, run

    bundle = tmp_path / "stamped-signature.wacz"
    export = adarchive(
        "export", "--db", str(stamped["out"] / "adarchive.db"), "--out", str(bundle),
        "--platform", stamped["platform"], "--sign",
        str(stamped["root"] / "keys" / "adarchive-signing-key.pem"),
        env={"ADARCHIVE_TSA_URL": tsa.url},
    )  # fmt: skip
    assert export.returncode == 0, export.stdout + export.stderr
    with zipfile.ZipFile(bundle) as zf:
        assert "signatureTimeStamp" in json.loads(zf.read("datapackage-digest.json"))
    key = ["--key", str(stamped["root"] / "keys" / "adarchive-signing-key.pub.pem")]
    result = _verify(bundle, "--tsa-root", str(tsa.ca_pem), *key)
    assert result.returncode == 0, result.stdout
    assert "signed no later than" in result.stdout and "(RFC 3161)" in result.stdout
    claimed = _verify(bundle, *key)
    assert "signing time only claimed" in claimed.stdout
    validated = run([str(require_wacz()), "validate", "-f", str(bundle)])
    assert validated.returncode == 0, validated.stdout + validated.stderr
    retired = tmp_path / "retired.json"
    added = adarchive_here(
        "keys", "trust", str(stamped["root"] / "keys" / "adarchive-signing-key.pub.pem"),
        "--name", "Retired Office", "--valid-until", "2021-01-01", "--file", str(retired),
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    late = _verify(bundle, "--trusted-signers", str(retired), "--tsa-root", str(tsa.ca_pem))
    assert late.returncode == 1 and "(trusted time)" in late.stdout
