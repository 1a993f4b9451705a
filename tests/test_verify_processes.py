"""Verify's process pool (large bundles) reports exactly what its threads (small ones) report.

Large bundles' WARC entries are scanned by one process per core; small ones by
threads. Both paths must give the same checks, details and problems, for an
intact bundle and for one with a flipped byte in a record.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from pathlib import Path

import pytest

from crawler.evidence import inflate, verify
from crawler.evidence.selection import Selection
from crawler.evidence.synthetic import build_synthetic_archive
from crawler.evidence.wacz_export import ExportOptions, export_bundle
from crawler.store.db import open_store


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verifyproc")
    archive = build_synthetic_archive(
        root / "data", pages=60, body_bytes=3000, max_file_size=60_000
    )
    assert archive.warc_files > 1
    out = root / "b.wacz"
    export_bundle(
        open_store(archive.db_url, create=False),
        Selection(crawl=archive.crawl_id),
        ExportOptions(out, archive.data_root, case_ref="T"),
    )
    return out


def _flipped(bundle: Path, out: Path) -> tuple[Path, str]:
    """A copy of ``bundle`` with one byte of a record's block flipped (re-gzipped)."""
    with zipfile.ZipFile(bundle) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    name = next(n for n in sorted(entries) if n.startswith("archive/"))
    data = entries[name]
    d = zlib.decompressobj(zlib.MAX_WBITS | 16)
    first = d.decompress(data)
    rest = d.unused_data
    i = first.rindex(b"\r\n\r\n") - 1
    entries[name] = gzip.compress(first[:i] + bytes([first[i] ^ 0x20]) + first[i + 1 :]) + rest
    with zipfile.ZipFile(out, "w") as zf:
        for n, content in entries.items():
            zf.writestr(n, content)
    return out, name


def _summary(report: verify.Report) -> list[tuple[str, bool, str, list[str]]]:
    return [(c.name, c.ok, c.detail, c.problems) for c in report.checks]


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    monkeypatch.setattr(verify, "PROCESS_POOL_BYTES", 1 << 60)
    threads = _summary(verify.verify_bundle(path))
    monkeypatch.setattr(verify, "PROCESS_POOL_BYTES", 0)
    processes = _summary(verify.verify_bundle(path))
    return threads, processes


def test_processes_and_threads_agree_on_an_intact_bundle(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads, processes = _both(bundle, monkeypatch)
    assert processes == threads
    assert dict((n, ok) for n, ok, _, _ in threads)["WARC records"] is True


def test_processes_and_threads_name_the_same_flipped_record(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, name = _flipped(bundle, tmp_path / "flipped.wacz")
    threads, processes = _both(path, monkeypatch)
    assert processes == threads
    records = next(c for c in threads if c[0] == "WARC records")
    assert not records[1]
    assert any(f"{name} offset 0" in p and "block digest" in p for p in records[3])


def test_inflate_falls_back_to_the_standard_library_on_the_same_members() -> None:
    data = gzip.compress(b"x" * 1000) + b"tail"
    fast = inflate.decompressobj()
    standard = zlib.decompressobj(inflate.GZIP_WBITS)
    assert fast.decompress(data) == standard.decompress(data) == b"x" * 1000
    assert fast.eof and fast.unused_data == standard.unused_data == b"tail"
    with pytest.raises(inflate.INFLATE_ERRORS):
        inflate.decompressobj().decompress(b"\x1f\x8b\x08\x00garbage-that-is-not-deflate")
