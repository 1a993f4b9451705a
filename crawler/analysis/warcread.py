"""Read one record's payload back out of a WARC file (for report thumbnails)."""

from __future__ import annotations

from pathlib import Path

MAX_PAYLOAD = 10 * 1024 * 1024


def read_payload(
    data_root: Path, warc_path: str, offset: int, limit: int = MAX_PAYLOAD
) -> bytes | None:
    """The HTTP payload (content-decoded) of the record at ``offset``, or None if unreadable."""
    from warcio.archiveiterator import ArchiveIterator

    path = Path(warc_path)
    if not path.is_absolute():
        path = data_root / path
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            for record in ArchiveIterator(fh):
                data = record.content_stream().read(limit + 1)
                return data if len(data) <= limit else None
    except (OSError, ValueError, EOFError):
        return None
    return None
