"""The custody log against the files it speaks of: each closed WARC file on disk.

A chain that verifies proves only that nobody edited it without recomputing
it. The files are the other witness: each closed WARC file must still hash to
the SHA-256 the store holds for it and the one its ``warc.closed`` event
recorded, so an edit of the store's ``warc_file`` row, of the file, or of the
event shows as a disagreement between the three.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.archive.digests import file_sha256
from crawler.evidence import events as ev
from crawler.store.models import CustodyEvent, WarcFile


@dataclass
class FilesResult:
    checked: int = 0
    problems: list[str] = field(default_factory=list)


def check_warc_files(session: Session, data_root: Path) -> FilesResult:
    """Hash every closed WARC file; compare with its store row and its warc.closed event."""
    closed: dict[str, tuple[int, str]] = {}
    for event in session.scalars(select(CustodyEvent).where(CustodyEvent.action == ev.WARC_CLOSED)):
        details = json.loads(event.details)
        closed[str(details.get("path"))] = (event.seq, str(details.get("sha256")))
    result = FilesResult()
    for row in session.scalars(select(WarcFile).where(WarcFile.status != "open")):
        path = Path(row.path)
        if not path.is_absolute():
            path = data_root / path
        where = f"warc_file {row.id} ({row.path})"
        if not path.exists():
            result.problems.append(f"{where}: missing on disk at {path}")
            continue
        digest, _ = file_sha256(path)
        result.checked += 1
        if row.sha256 != digest:
            result.problems.append(
                f"{where}: the store says SHA-256 {row.sha256}, the file on disk is {digest}"
            )
        recorded = closed.get(row.path)
        if recorded is None:
            result.problems.append(f"{where}: no warc.closed custody event")
        elif recorded[1] != digest:
            result.problems.append(
                f"{where}: custody event {recorded[0]} recorded SHA-256 {recorded[1]}, "
                f"the file on disk is {digest}"
            )
    return result
