"""A minimal ZIP writer for evidence bundles: stored entries, headers that agree.

Why not ``zipfile``: streamed entries opened with ``force_zip64`` carry a ZIP64
extra field in the local header that the central directory lacks, and
ReplayWeb.page (wabac.js) finds an entry's data from the central directory's
extra length, so it reads every entry from the wrong offset. Here each entry's
size is declared before its data, ZIP64 is used only by an entry that needs it
(size or header offset at or past 4 GiB), and then the very same extra field is
written in the local header and in the central directory. Entries are stored,
never deflated: WACZ readers seek into WARC members by offset.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

ZIP64_LIMIT = 0xFFFFFFFF
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR = struct.Struct("<IIQI")
_UTF8_FLAG = 0x0800
_UNIX_644 = 0o100644 << 16


class ZipWriteError(Exception):
    """An entry did not receive exactly the bytes it declared."""


@dataclass
class _Written:
    name: bytes
    flags: int
    dos_time: int
    dos_date: int
    crc: int
    size: int
    offset: int
    extra: bytes
    version: int


class ZipEntry:
    """One stored entry whose size is known before its first byte is written."""

    def __init__(self, writer: ZipWriter, record: _Written) -> None:
        self._writer, self._record = writer, record
        self._crc = 0
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)
        if self.written > self._record.size:
            raise ZipWriteError(
                f"{self._record.name.decode()}: more than the declared {self._record.size} bytes"
            )
        self._crc = zlib.crc32(data, self._crc)
        self._writer.raw.write(data)

    def close(self) -> None:
        record = self._record
        if self.written != record.size:
            raise ZipWriteError(
                f"{record.name.decode()}: {self.written} bytes written, {record.size} declared"
            )
        record.crc = self._crc
        raw = self._writer.raw
        end = raw.tell()
        raw.seek(record.offset + 14)  # the CRC field of the local header
        raw.write(struct.pack("<I", record.crc))
        raw.seek(end)
        self._writer.entries.append(record)
        self._writer.busy = False


class ZipWriter:
    """Writes entries one after another to a seekable binary file, then the directory."""

    def __init__(self, raw: BinaryIO, zip64_limit: int = ZIP64_LIMIT) -> None:
        self.raw = raw
        self.limit = zip64_limit
        self.entries: list[_Written] = []
        self.busy = False

    def open(self, name: str, size: int, when: datetime) -> ZipEntry:
        if self.busy:
            raise ZipWriteError("the previous entry is still open")
        encoded = name.encode("utf-8")
        flags = 0 if name.isascii() else _UTF8_FLAG
        offset = self.raw.tell()
        zip64 = size >= self.limit or offset >= self.limit
        if zip64:
            fields = [size, size] + ([offset] if offset >= self.limit else [])
            extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields)
            small_size = ZIP64_LIMIT
        else:
            extra, small_size = b"", size
        dos_time = (when.hour << 11) | (when.minute << 5) | (when.second // 2)
        dos_date = ((max(when.year, 1980) - 1980) << 9) | (when.month << 5) | when.day
        version = 45 if zip64 else 20
        record = _Written(encoded, flags, dos_time, dos_date, 0, size, offset, extra, version)
        header = _LOCAL.pack(
            0x04034B50, version, flags, 0, dos_time, dos_date, 0, small_size, small_size,
            len(encoded), len(extra),
        )  # fmt: skip
        self.raw.write(header + encoded + extra)
        self.busy = True
        return ZipEntry(self, record)

    def close(self) -> None:
        """Central directory (same extra fields as the local headers) and end records."""
        if self.busy:
            raise ZipWriteError("an entry is still open")
        start = self.raw.tell()
        for e in self.entries:
            zip64 = bool(e.extra)
            size32 = ZIP64_LIMIT if zip64 else e.size
            offset32 = ZIP64_LIMIT if e.offset >= self.limit else e.offset
            self.raw.write(
                _CENTRAL.pack(
                    0x02014B50,
                    (3 << 8) | e.version,
                    e.version,
                    e.flags,
                    0,
                    e.dos_time,
                    e.dos_date,
                    e.crc,
                    size32,
                    size32,
                    len(e.name),
                    len(e.extra),
                    0,
                    0,
                    0,
                    _UNIX_644,
                    offset32,
                )  # fmt: skip
                + e.name
                + e.extra
            )
        end = self.raw.tell()
        count, cd_size = len(self.entries), end - start
        if count >= 0xFFFF or cd_size >= self.limit or start >= self.limit:
            self.raw.write(
                _END64.pack(0x06064B50, 44, (3 << 8) | 45, 45, 0, 0, count, count, cd_size, start)
            )
            self.raw.write(_LOCATOR.pack(0x07064B50, 0, end, 1))
            self.raw.write(_END.pack(0x06054B50, 0, 0, 0xFFFF, 0xFFFF, ZIP64_LIMIT, ZIP64_LIMIT, 0))
        else:
            self.raw.write(_END.pack(0x06054B50, 0, 0, count, count, cd_size, start, 0))
