"""``adarchive repair DIR``: turn each ``*.open`` WARC file into a closed file of its complete records.

A crash leaves the file being written as ``*.open``, possibly ending inside a
record. Every record is its own gzip member, so the complete records are a
prefix of the file: it is copied byte for byte to the file's final name
(offsets stay valid, so capture rows keep pointing at the right bytes),
fsynced, and the original is kept untouched beside it. The truncated tail is
reported, never treated as evidence. With a store, the ``warc_file`` row
becomes ``repaired`` (size, SHA-256) and the custody log gets ``warc.repaired``
with both files' SHA-256 and the records dropped.
"""

from __future__ import annotations

import os
import re
import socket
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crawler.archive.digests import file_sha256
from crawler.archive.writer import fsync_dir
from crawler.evidence.warcscan import WarcFormatError, scan_warc
from crawler.procs import pid_alive

OPEN_SUFFIX = ".open"
GZIP_MAGIC = b"\x1f\x8b\x08"
_PID_RE = re.compile(r"-(?P<host>[A-Za-z0-9._-]+)-(?P<pid>\d+)\.warc\.gz$")


@dataclass
class RepairResult:
    open_path: str
    repaired_path: str | None
    open_sha256: str
    open_size: int
    sha256: str | None = None
    size: int = 0
    records_kept: int = 0
    records_dropped: int = 0
    dropped_bytes: int = 0
    dropped: list[dict[str, str]] = field(default_factory=list)
    """Record id / target URI readable from the dropped tail, when any."""
    problem: str | None = None
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def complete_prefix(path: Path) -> tuple[int, int, str | None]:
    """(bytes of complete records, their count, what is wrong after them or None)."""
    end = 0
    count = 0
    with open(path, "rb") as fh:
        try:
            for record in scan_warc(fh):
                end = record.offset + record.length
                count += 1
        except WarcFormatError as exc:
            return end, count, str(exc)
    return end, count, None


def describe_tail(tail: bytes) -> tuple[int, list[dict[str, str]]]:
    """How many records the dropped tail began, and the ids/URIs readable in it."""
    starts = max(1, tail.count(GZIP_MAGIC)) if tail else 0
    text = b""
    pos = 0
    while pos < len(tail):  # inflate what can be inflated, member by member
        decomp = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            text += decomp.decompress(tail[pos:])
        except zlib.error:
            break
        if not decomp.eof:
            break
        pos = len(tail) - len(decomp.unused_data)
    found = []
    for head in re.split(rb"WARC/1\.[01]\r\n", text)[1:]:
        ids = re.search(rb"WARC-Record-ID: (\S+)", head)
        uri = re.search(rb"WARC-Target-URI: (\S+)", head)
        found.append(
            {
                "record_id": ids.group(1).decode("latin-1") if ids else "",
                "target_uri": uri.group(1).decode("latin-1") if uri else "",
            }
        )
    return starts, found


def writer_alive(path: Path) -> bool:
    """Whether a writer holds the file (its lock), or the process named in the
    file name (this host) is still running."""
    from crawler.archive.writer import file_in_use

    if file_in_use(path):
        return True
    match = _PID_RE.search(path.name[: -len(OPEN_SUFFIX)])
    if not match or match.group("host") != re.sub(r"[^A-Za-z0-9.-]+", "_", socket.gethostname()):
        return False

    return pid_alive(int(match.group("pid")))


def repair_file(open_path: Path, force: bool = False) -> RepairResult:
    """Write the complete records of ``open_path`` to its final name; never touch the original."""
    final = open_path.with_name(open_path.name[: -len(OPEN_SUFFIX)])
    result = RepairResult(str(open_path), None, file_sha256(open_path)[0], open_path.stat().st_size)
    if not force and writer_alive(open_path):
        result.skipped = "the crawler writing it is still running"
        return result
    if final.exists():
        result.skipped = f"{final.name} already exists"
        return result
    end, count, problem = complete_prefix(open_path)
    result.records_kept, result.problem = count, problem
    result.dropped_bytes = result.open_size - end
    with open(open_path, "rb") as fh:
        fh.seek(end)
        tail = fh.read()
    result.records_dropped, result.dropped = describe_tail(tail)
    if count == 0:
        result.skipped = "no complete record"
        return result
    tmp = final.with_name(final.name + ".repairing")
    with open(open_path, "rb") as src, open(tmp, "xb") as dst:
        remaining = end
        while remaining:
            chunk = src.read(min(1 << 20, remaining))
            if not chunk:
                raise OSError(f"{open_path} shrank while being repaired")
            dst.write(chunk)
            remaining -= len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)
    result.repaired_path = str(final)
    result.sha256 = file_sha256(final)[0]
    result.size = end
    return result


def find_open_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.warc.gz" + OPEN_SUFFIX) if p.is_file())


def repair_directory(
    directory: Path, db_url: str | None = None, force: bool = False
) -> list[RepairResult]:
    """Repair every ``*.open`` under ``directory``; record each in the store when there is one."""
    results = [repair_file(p, force=force) for p in find_open_files(directory)]
    if db_url:
        record_repairs(db_url, directory, results)
    return results


def record_repairs(db_url: str, directory: Path, results: list[RepairResult]) -> None:
    """Mark repaired files in the store and log each repair (or refusal) in the custody log."""
    from sqlalchemy import select

    from crawler.evidence.custody import record_event
    from crawler.evidence.events import warc_subject
    from crawler.store.db import open_store
    from crawler.store.models import WarcFile, utcnow

    factory = open_store(db_url, create=False)
    try:
        with factory() as session:
            for result in results:
                if result.skipped and result.repaired_path is None and "exists" in result.skipped:
                    continue  # repaired before: already logged
                final = Path(result.open_path[: -len(OPEN_SUFFIX)])
                row = _row_for(session, select, WarcFile, final, directory)
                if row is not None and result.repaired_path:
                    row.status = "repaired"
                    row.size = result.size
                    row.sha256 = result.sha256
                    row.closed_at = utcnow()
                session.commit()
                rel = row.path if row is not None else final.name
                if _logged_before(session, warc_subject(rel), result.open_sha256):
                    continue
                details = {
                    "name": final.name,
                    "open_name": Path(result.open_path).name,
                    "open_sha256": result.open_sha256,
                    "open_size": result.open_size,
                    "sha256": result.sha256,
                    "size": result.size,
                    "records_kept": result.records_kept,
                    "records_dropped": result.records_dropped,
                    "dropped_bytes": result.dropped_bytes,
                    "dropped": result.dropped[:100],
                    "problem": result.problem,
                    "skipped": result.skipped,
                    "crawl_id": row.crawl_id if row is not None else None,
                }
                record_event(session, "warc.repaired", warc_subject(rel), details)
    finally:
        factory.kw["bind"].dispose()


def _logged_before(session: Any, subject: str, open_sha256: str) -> bool:
    """Whether this very ``*.open`` file's repair (or refusal) is in the custody log already."""
    from sqlalchemy import select

    from crawler.store.models import CustodyEvent

    query = select(CustodyEvent.details).where(
        CustodyEvent.action == "warc.repaired", CustodyEvent.subject == subject
    )
    return any(open_sha256 in (details or "") for details in session.scalars(query))


def _row_for(session: Any, select: Any, model: Any, final: Path, directory: Path) -> Any:
    """The warc_file row of ``final``: its stored path is relative to the data root."""
    name = final.name
    for row in session.scalars(select(model).where(model.path.like(f"%{name}"))):
        if Path(row.path).name == name:
            return row
    return None
