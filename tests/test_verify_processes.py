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
from typing import Any

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


def _members(data: bytes) -> list[int]:
    """Start offsets of the gzip members of a WARC (read sequentially, the reference)."""
    starts, pos = [], 0
    while pos < len(data):
        starts.append(pos)
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        d.decompress(data[pos:])
        pos = len(data) - len(d.unused_data)
    return starts


def _split_both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    """Threads against processes whose ranges are small enough to cut every WARC entry."""
    monkeypatch.setattr(verify, "RANGE_BYTES", 7_000)
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("archive/"))
        ranges = verify._ranges(path, info)
    assert ranges is not None and len(ranges) > 3  # the entry really is cut
    return _both(path, monkeypatch)


def test_ranges_start_at_members_and_cover_the_entry(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        info = next(i for i in zf.infolist() if i.filename.startswith("archive/"))
        data = zf.read(info)
    starts = _members(data)
    with bundle.open("rb") as fh:
        hints = verify.member_starts(fh, verify._ranges(bundle, info)[0][0], len(data), 5_000)
    assert hints and set(hints) <= set(starts)
    assert hints == sorted(set(hints))


def test_split_entries_report_what_one_pass_reports(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads, processes = _split_both(bundle, monkeypatch)
    assert processes == threads
    assert dict((n, ok) for n, ok, _, _ in threads)["WARC records"] is True
    path, name = _flipped(bundle, tmp_path / "flipped.wacz")
    threads, processes = _split_both(path, monkeypatch)
    assert processes == threads
    records = next(c for c in threads if c[0] == "WARC records")
    assert any(f"{name} offset 0" in p and "block digest" in p for p in records[3])


def _rewritten(bundle: Path, out: Path, change: Any) -> tuple[Path, str, int]:
    """A copy of ``bundle`` whose first WARC entry is ``change(data, member starts)``."""
    with zipfile.ZipFile(bundle) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    name = next(n for n in sorted(entries) if n.startswith("archive/"))
    data = entries[name]
    starts = _members(data)
    at = starts[len(starts) // 2]
    entries[name] = change(data, at, starts)
    with zipfile.ZipFile(out, "w") as zf:
        for n, content in entries.items():
            zf.writestr(n, content)
    return out, name, at


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d, at, s: d[:at] + b"\0garbage\0" + d[at:], id="garbage-between"),
        pytest.param(lambda d, at, s: d[:at] + d[at:][:-9], id="truncated-end"),
        pytest.param(
            lambda d, at, s: d[:at] + gzip.compress(b"WARC/1.1\r\nNo-Length: x\r\n\r\n") + d[at:],
            id="bad-member",
        ),
    ],
)
def test_a_gap_or_broken_member_is_named_as_one_pass_names_it(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Any
) -> None:
    path, name, at = _rewritten(bundle, tmp_path / "changed.wacz", change)
    threads, processes = _split_both(path, monkeypatch)
    assert processes == threads
    records = next(c for c in threads if c[0] == "WARC records")
    assert not records[1]
    assert any(p.startswith(f"{name}: ") for p in records[3]), records[3]


def test_a_record_the_index_omits_is_still_checked(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranges come from the bytes, not the CDXJ index: an extra, unindexed record is scanned."""
    with zipfile.ZipFile(bundle) as zf:
        first = next(i for i in zf.infolist() if i.filename.startswith("archive/"))
        data = zf.read(first)
    body = gzip.decompress(data[: _members(data)[1]])  # the warcinfo record again, altered
    i = body.index(b"\r\n\r\n") + 4
    tampered = gzip.compress(body[:i] + bytes([body[i] ^ 0x20]) + body[i + 1 :])

    def insert(d: bytes, at: int, starts: list[int]) -> bytes:
        return d[:at] + tampered + d[at:]

    path, name, at = _rewritten(bundle, tmp_path / "extra.wacz", insert)
    threads, processes = _split_both(path, monkeypatch)
    assert processes == threads
    records = next(c for c in threads if c[0] == "WARC records")
    assert any(f"{name} offset {at} " in p and "block digest" in p for p in records[3]), records[3]
