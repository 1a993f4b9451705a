"""A synthetic archive (WARC files + store rows) of any size, for tests and benchmarks.

Written with the project's own WARC writer and recorded the way a crawl
records it (closed files, capture rows, ``warc.closed`` custody events), so
exports and verification run on realistic input without crawling for hours.
All content is invented filler on example.org.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from crawler.archive.writer import ClosedWarc, RecordSpec, RotatingWarcWriter
from crawler.evidence.custody import record_event
from crawler.evidence.events import WARC_CLOSED, warc_subject
from crawler.store.db import open_store
from crawler.store.models import Capture, Crawl, Platform, WarcFile
from crawler.store.recorder import capture_values

PLATFORM = "synthetic_board"


@dataclass(frozen=True)
class SyntheticArchive:
    data_root: Path
    db_url: str
    crawl_id: int
    captures: int
    warc_files: int
    warc_bytes: int


def build_synthetic_archive(
    data_root: Path,
    pages: int,
    body_bytes: int = 2000,
    *,
    max_file_size: int = 50_000_000,
    seed: int = 7,
) -> SyntheticArchive:
    """``pages`` response+request pairs with incompressible-ish bodies of ``body_bytes``."""
    data_root = Path(data_root)
    db_url = f"sqlite:///{data_root / 'adarchive.db'}"
    factory = open_store(db_url, create=True)
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    with factory() as session:
        platform = Platform(name=PLATFORM, country="GB", language="en")
        session.add(platform)
        session.flush()
        crawl = Crawl(platform_id=platform.id, started_at=start, status="finished")
        session.add(crawl)
        session.commit()
        crawl_id = crawl.id
        closed: list[ClosedWarc] = []
        file_ids: dict[Path, int] = {}

        def on_open(path: Path) -> int:
            row = WarcFile(crawl_id=crawl_id, path=path.relative_to(data_root).as_posix())
            session.add(row)
            session.flush()
            file_ids[path] = row.id
            return row.id

        writer = RotatingWarcWriter(
            directory=data_root / "warc",
            prefix="synthetic",
            max_size=max_file_size,
            warcinfo=lambda: {"software": "adarchive synthetic", "operator": "test@example.org"},
            on_open=on_open,
            on_close=closed.append,
            clock=lambda: start,
        )
        # Capture rows go in by executemany, a batch at a time (with their ids chosen
        # here, so a request can name its response): a flush per row cost seconds.
        next_id = (session.scalar(select(func.max(Capture.id))) or 0) + 1
        rows: list[dict[str, object]] = []
        for n in range(pages):
            when = start + timedelta(seconds=n)
            url = f"http://listings.example.org/ad/{n:07d}.html"
            body = _body(rng, n, body_bytes)
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            ids = (writer.new_record_id(), writer.new_record_id())
            response, request = writer.write_group(
                [
                    RecordSpec(
                        "response",
                        url,
                        when,
                        ids[0],
                        body,
                        head,
                        (("WARC-Concurrent-To", ids[1]),),
                        200,
                        None,
                        "text/html; charset=utf-8",  # as the HTTP head says
                    ),  # fmt: skip
                    RecordSpec(
                        "request",
                        url,
                        when,
                        ids[1],
                        b"",
                        f"GET /ad/{n:07d}.html HTTP/1.1\r\nHost: listings.example.org\r\n\r\n".encode(),
                        (("WARC-Concurrent-To", ids[0]),),
                    ),  # fmt: skip
                ]
            )
            rows.append({**capture_values(response, crawl_id, response.warc_file_id),
                         "id": next_id})  # fmt: skip
            rows.append({**capture_values(request, crawl_id, request.warc_file_id, next_id),
                         "id": next_id + 1})  # fmt: skip
            next_id += 2
            if len(rows) >= 4000:
                session.execute(insert(Capture), rows)
                session.commit()
                rows.clear()
        writer.close()
        if rows:
            session.execute(insert(Capture), rows)
        for item in closed:
            row = session.get(WarcFile, item.warc_file_id)
            assert row is not None
            row.size, row.sha256, row.status, row.closed_at = (
                item.size,
                item.sha256,
                "closed",
                start,
            )
        session.commit()
        for item in closed:
            row = session.get(WarcFile, item.warc_file_id)
            assert row is not None
            record_event(
                session,
                WARC_CLOSED,
                warc_subject(row.path),
                {"name": item.path.name, "path": row.path, "size": item.size,
                 "sha256": item.sha256, "crawl_id": crawl_id},
                actor="synthetic",
            )  # fmt: skip
    session.get_bind().dispose()
    return SyntheticArchive(
        data_root, db_url, crawl_id, pages * 2, len(closed), sum(c.size for c in closed)
    )


def _body(rng: random.Random, n: int, size: int) -> bytes:
    """HTML with seeded hex filler: compresses about 2:1 like real pages, cheap to make."""
    head = f"<html><body><h1>Listing {n}</h1><p>".encode()
    filler = rng.randbytes((size + 1) // 2).hex().encode()[:size]
    return head + filler + b"</p></body></html>"
