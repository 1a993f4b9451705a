"""Rotating WARC/1.1 file writer with SHA-256 digests.

Each record is its own gzip member, so any record can be read from
(file, offset, length) alone. A file is written as ``*.open``, fsynced and
renamed when closed, so a crash leaves only complete closed files or ``*.open``
files. Record ids and dates come from injectable factories, so tests can pin
them and compare output byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from crawler.archive.digests import file_sha256, hex_to_warc

WARC_VERSION = "WARC/1.1"
OPEN_SUFFIX = ".open"
GZIP_LEVEL = 6

CONTENT_TYPES = {
    "warcinfo": "application/warc-fields",
    "response": "application/http; msgtype=response",
    "request": "application/http; msgtype=request",
    "metadata": "application/warc-fields",
}


@dataclass(frozen=True)
class RecordSpec:
    """One record to write: all but digests, length and position, which the writer adds."""

    kind: str
    url: str
    date: datetime
    record_id: str
    payload: bytes
    http_head: bytes | None = None
    """Status/request line and headers, ending with the blank line (HTTP records only)."""
    warc_headers: tuple[tuple[str, str], ...] = ()
    """Extra WARC headers, e.g. WARC-Concurrent-To, WARC-IP-Address."""
    status: int | None = None
    ip: str | None = None
    content_type: str | None = None
    """The captured content's type (HTTP Content-Type), for the capture row."""


@dataclass(frozen=True)
class WrittenRecord:
    """Where a record landed and what proves it: the shape a capture row stores."""

    kind: str
    url: str
    fetched_at: datetime
    status: int | None
    path: Path
    """The file's final name (it may still be ``*.open`` on disk)."""
    warc_file_id: int | None
    offset: int
    length: int
    record_id: str
    block_sha256: str
    payload_sha256: str | None
    ip: str | None
    content_type: str | None


@dataclass(frozen=True)
class ClosedWarc:
    path: Path
    warc_file_id: int | None
    size: int
    sha256: str
    records: int


def warc_date(dt: datetime) -> str:
    """WARC/1.1 date with microseconds, always UTC."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def file_timestamp(dt: datetime) -> str:
    """``YYYYMMDDhhmmssfff`` (UTC, milliseconds) for file names."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y%m%d%H%M%S") + f"{dt.microsecond // 1000:03d}"


# A WARC file name prefix: one path component, never `..` or a directory (fullmatch).
PREFIX_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is a safe file-name prefix, else ValueError in one line."""
    if not isinstance(prefix, str) or not PREFIX_RE.fullmatch(prefix):
        raise ValueError(
            f"ADARCHIVE_WARC_PREFIX must be 1-64 letters, digits, '-' or '_', "
            f"starting with a letter or digit (got {prefix!r})"
        )
    return prefix


def safe_host(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", host) or "host"


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def utc_now() -> datetime:
    return datetime.now(UTC)


def gzip_member(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """One complete gzip member (mtime 0, so output is deterministic)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return compressor.compress(data) + compressor.flush()


def warc_fields(fields: Mapping[str, object]) -> bytes:
    """``application/warc-fields`` body; empty values are left out, lists repeat the name."""
    lines = []
    for name, value in fields.items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if item is None or item == "":
                continue
            text = " ".join(str(item).split())  # no line breaks inside a field
            lines.append(f"{name}: {text}\r\n")
    return "".join(lines).encode("utf-8")


@dataclass
class _OpenFile:
    path: Path
    fh: BinaryIO
    warc_file_id: int | None
    warcinfo_id: str
    size: int = 0
    records: int = 0
    oldest: datetime | None = None
    """WARC-Date of the file's oldest capture (its warcinfo aside): what ``max_age`` bounds."""


def rotation_slack(max_age: float) -> float:
    """Seconds before ``max_age`` at which a file is closed, so that hashing it and
    the TSA's answer still fall within the bound (a quarter of it, at most a minute)."""
    return min(60.0, max_age / 4)


@dataclass
class RotatingWarcWriter:
    """Appends records to ``{prefix}-{timestamp}-{serial:05}-{host}-{pid}.warc.gz`` files.

    ``on_open(final_path) -> id`` and ``on_close(ClosedWarc)`` let the store
    track files; ``warcinfo()`` gives the fields of each file's warcinfo record.
    A group of records (one exchange) always lands in one file; the file is
    closed once it reaches ``max_size``, or (with ``max_age``) shortly before its
    oldest capture is ``max_age`` seconds old, so the time-stamp made at its close
    bounds every capture's time. The crawl calls :meth:`close_if_due` on a timer
    too: an idle crawl must not keep a file open past the bound.
    """

    directory: Path
    prefix: str = "adarchive"
    max_size: int = 1_000_000_000
    warcinfo: Callable[[], Mapping[str, object]] = dict
    on_open: Callable[[Path], int | None] | None = None
    on_close: Callable[[ClosedWarc], None] | None = None
    record_ids: Callable[[], str] = new_record_id
    clock: Callable[[], datetime] = utc_now
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    gzip_level: int = GZIP_LEVEL
    closed: list[ClosedWarc] = field(default_factory=list)
    max_age: float | None = None
    """Seconds; None: only ``max_size`` closes a file."""

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        check_prefix(self.prefix)  # the file name must stay inside the directory
        self._serial = 0
        self._file: _OpenFile | None = None

    # -- public API -------------------------------------------------------

    def new_record_id(self) -> str:
        return self.record_ids()

    def now(self) -> datetime:
        return self.clock()

    @property
    def current_path(self) -> Path | None:
        """Final name of the file being written, if one is open."""
        return self._file.path if self._file else None

    def write(self, spec: RecordSpec) -> WrittenRecord:
        return self.write_group([spec])[0]

    def write_group(self, specs: Sequence[RecordSpec]) -> list[WrittenRecord]:
        """Write records together into the current file, then rotate if it is full or old."""
        self.close_if_due()
        current = self._file or self._open()
        written = [self._append(current, spec) for spec in specs]
        if current.size >= self.max_size:
            self.close()
        else:
            self.close_if_due()
        return written

    def close_if_due(self) -> ClosedWarc | None:
        """Close the current file if its oldest capture is nearly ``max_age`` old."""
        current = self._file
        if current is None or current.oldest is None or self.max_age is None:
            return None
        age = (self.clock() - current.oldest).total_seconds()
        if age < self.max_age - rotation_slack(self.max_age):
            return None
        return self.close()

    @property
    def check_interval(self) -> float | None:
        """How often a timer should call :meth:`close_if_due` (None: no need)."""
        if self.max_age is None:
            return None
        return min(10.0, max(0.05, rotation_slack(self.max_age) / 2))

    def sync(self) -> None:
        """Flush and fsync, so every record returned so far is on disk."""
        if self._file is not None:
            self._file.fh.flush()
            os.fsync(self._file.fh.fileno())

    def close(self) -> ClosedWarc | None:
        """Close the current file: fsync, hash, rename ``*.open`` to its final name."""
        current, self._file = self._file, None
        if current is None:
            return None
        current.fh.flush()
        os.fsync(current.fh.fileno())
        current.fh.close()
        open_path = _open_name(current.path)
        sha256, size = file_sha256(open_path)
        os.replace(open_path, current.path)
        fsync_dir(current.path.parent)
        closed = ClosedWarc(current.path, current.warc_file_id, size, sha256, current.records)
        self.closed.append(closed)
        if self.on_close is not None:
            self.on_close(closed)
        return closed

    # -- internals --------------------------------------------------------

    def _open(self) -> _OpenFile:
        self.directory.mkdir(parents=True, exist_ok=True)
        opened_at = self.clock()
        while True:
            name = (
                f"{self.prefix}-{file_timestamp(opened_at)}-{self._serial:05d}"
                f"-{safe_host(self.host)}-{self.pid}.warc.gz"
            )
            self._serial += 1
            path = self.directory / name
            if path.exists():
                continue
            try:
                fh = open(_open_name(path), "xb")  # noqa: SIM115 -- kept open across calls
            except FileExistsError:
                continue
            _lock(fh)
            break
        warc_file_id = self.on_open(path) if self.on_open is not None else None
        info_id = self.record_ids()
        current = _OpenFile(path=path, fh=fh, warc_file_id=warc_file_id, warcinfo_id=info_id)
        self._file = current
        info = RecordSpec(
            kind="warcinfo",
            url="",
            date=opened_at,
            record_id=info_id,
            payload=warc_fields(self.warcinfo()),
            warc_headers=(("WARC-Filename", name),),
        )
        self._append(current, info)
        return current

    def _append(self, current: _OpenFile, spec: RecordSpec) -> WrittenRecord:
        head = spec.http_head or b""
        body_hex = _sha256(spec.payload)
        # Without an HTTP head the block is the payload: one digest serves both.
        block_hex = _sha256(head, spec.payload) if head else body_hex
        payload_hex = None if spec.kind == "warcinfo" else body_hex
        headers, content_type = self._record_headers(current, spec, block_hex, payload_hex)
        member = gzip_member(
            serialize_record(headers, content_type, head, spec.payload), self.gzip_level
        )
        offset = current.size
        current.fh.write(member)
        current.size += len(member)
        current.records += 1
        if spec.kind != "warcinfo" and (current.oldest is None or spec.date < current.oldest):
            current.oldest = spec.date
        return WrittenRecord(
            kind=spec.kind,
            url=spec.url,
            fetched_at=spec.date,
            status=spec.status,
            path=current.path,
            warc_file_id=current.warc_file_id,
            offset=offset,
            length=len(member),
            record_id=spec.record_id,
            block_sha256=block_hex,
            payload_sha256=payload_hex,
            ip=spec.ip,
            content_type=spec.content_type,
        )

    def _record_headers(
        self, current: _OpenFile, spec: RecordSpec, block_hex: str, payload_hex: str | None
    ) -> tuple[list[tuple[str, str]], str]:
        """The record's WARC headers (less Content-Type/-Length) and its Content-Type."""
        headers: list[tuple[str, str]] = [
            ("WARC-Type", spec.kind),
            ("WARC-Record-ID", spec.record_id),
            ("WARC-Date", warc_date(spec.date)),
        ]
        if spec.url:
            headers.append(("WARC-Target-URI", spec.url))
        if spec.kind != "warcinfo":
            headers.append(("WARC-Warcinfo-ID", current.warcinfo_id))
        headers.extend(spec.warc_headers)
        if payload_hex is not None:
            headers.append(("WARC-Payload-Digest", hex_to_warc(payload_hex)))
        headers.append(("WARC-Block-Digest", hex_to_warc(block_hex)))
        # Resource records (screenshot PNG, rendered DOM: crawler/archive/browser.py)
        # carry their own content type.
        content_type = (
            CONTENT_TYPES.get(spec.kind) or spec.content_type or "application/octet-stream"
        )
        return headers, content_type


def serialize_record(
    headers: Sequence[tuple[str, str]], content_type: str, http_head: bytes, payload: bytes
) -> bytes:
    """One uncompressed WARC/1.1 record: header block, HTTP head, payload, two CRLFs.

    Written directly rather than through warcio's writer (the crawl's hottest
    path); the layout is warcio's, byte for byte: WARC headers in the order given,
    then Content-Type and Content-Length, values UTF-8 (tests compare the two).
    """
    lines = [f"{name}: {value}\r\n" for name, value in headers]
    block_length = len(http_head) + len(payload)
    text = f"{WARC_VERSION}\r\n{''.join(lines)}Content-Type: {content_type}\r\n"
    text += f"Content-Length: {block_length}\r\n\r\n"
    return b"".join((text.encode("utf-8"), http_head, payload, b"\r\n\r\n"))


def _sha256(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def _open_name(path: Path) -> Path:
    return path.with_name(path.name + OPEN_SUFFIX)


def _lock(fh: BinaryIO) -> None:
    """Hold an advisory lock while writing: ``repair`` and ``--resume`` see a file in
    use whichever process writes it (the crawl or its evidence writer)."""
    try:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (ImportError, OSError):
        pass  # no flock here (or a file system without it): the pid check remains


def file_in_use(path: Path) -> bool:
    """Whether a writer still holds ``path`` open (see :func:`_lock`)."""
    try:
        import fcntl

        with open(path, "rb") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    except (ImportError, OSError):
        return False
    return False


def fsync_dir(directory: Path) -> None:
    """Make the rename durable too (POSIX); harmless where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
