"""ZIP layout of bundles: local and central headers agree, WARCs stored, ZIP64 only when needed.

Finding 1 of issue 15: every entry's local header carried a ZIP64 extra the
central directory lacked, so ReplayWeb.page read each entry 20 bytes early.
"""

from __future__ import annotations

import io
import struct
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.evidence.zipwriter import ZipWriteError, ZipWriter

WHEN = datetime(2026, 3, 1, 12, 30, 14, tzinfo=UTC)


def header_extras(data: bytes) -> list[tuple[str, int, bytes, bytes]]:
    """(name, method, local extra, central extra) of every entry, read from the raw bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    out = []
    for info in infos:
        local = data[info.header_offset : info.header_offset + 30]
        sig, *_, name_len, extra_len = struct.unpack("<IHHHHHIIIHH", local)
        assert sig == 0x04034B50, info.filename
        start = info.header_offset + 30 + name_len
        out.append((info.filename, info.compress_type, data[start : start + extra_len], info.extra))
    return out


def _write(raw: io.BytesIO, entries: dict[str, bytes], limit: int | None = None) -> bytes:
    zw = ZipWriter(raw) if limit is None else ZipWriter(raw, zip64_limit=limit)
    for name, data in entries.items():
        entry = zw.open(name, len(data), WHEN)
        entry.write(data[:3])
        entry.write(data[3:])
        entry.close()
    zw.close()
    return raw.getvalue()


ENTRIES = {
    "archive/a.warc.gz": b"x" * 5000,
    "indexes/index.cdx": b"small\n",
    "evidence/é-name.txt": "ünïcode".encode(),
    "datapackage.json": b"{}",
}


def test_small_entries_have_no_zip64_and_read_back_everywhere(tmp_path: Path) -> None:
    data = _write(io.BytesIO(), ENTRIES)
    for name, method, local, central in header_extras(data):
        assert local == central == b"", name
        assert method == zipfile.ZIP_STORED
    path = tmp_path / "b.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert {n: zf.read(n) for n in zf.namelist()} == ENTRIES
        assert zf.getinfo("datapackage.json").date_time == (2026, 3, 1, 12, 30, 14)
    tested = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_zip64_entries_carry_the_same_extra_in_both_headers(tmp_path: Path) -> None:
    """With the threshold lowered, large sizes and offsets take the ZIP64 path for real."""
    data = _write(io.BytesIO(), ENTRIES, limit=4000)
    extras = header_extras(data)
    zip64 = [name for name, _, local, _ in extras if local]
    # the 5000-byte entry needs ZIP64 for its size, every later one for its offset
    assert zip64 == list(ENTRIES)[0:1] + list(ENTRIES)[1:]
    for name, _, local, central in extras:
        assert local == central, name
    path = tmp_path / "b64.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == ENTRIES
    tested = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_an_entry_must_receive_exactly_its_declared_size() -> None:
    zw = ZipWriter(io.BytesIO())
    entry = zw.open("a", 4, WHEN)
    with pytest.raises(ZipWriteError, match="more than the declared 4"):
        entry.write(b"12345")
    zw = ZipWriter(io.BytesIO())
    entry = zw.open("a", 4, WHEN)
    entry.write(b"12")
    with pytest.raises(ZipWriteError, match="2 bytes written, 4 declared"):
        entry.close()
