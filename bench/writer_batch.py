"""The evidence writer alone: how long it takes to store N pages and their adverts.

Drives the real writer process (``python -m crawler.sink.evidence_writer``)
through the crawl's end of the pipe, without a crawl: N exchanges (a small
synthetic page each) and N adverts with two identifiers each, then the close,
whose answer comes once everything is committed. Run on SQLite and on
PostgreSQL (``--pg URL``). The time is the writer's (open to close answer),
so it isolates its SQL and WARC work from the crawl's.

``--compare DIR`` runs the same measurement against another checkout (an
older commit unpacked with ``git archive``) in alternating, paired rounds
and prints each round's ratio, their median and spread: the machine is noisy.

    .venv/bin/python bench/writer_batch.py [--pages 2000] [--rounds 3] [--pg URL] [--compare DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BODY = b"<html><body><h1>Guide %d</h1><p>Call +7 701 234 %04d, tg @lotus_%d</p></body></html>"


def measure(db_url: str, pages: int, out: Path) -> float:
    """Seconds from the first message to the close answer, the writer already up."""
    from crawler.store.db import open_store
    from crawler.store.models import Crawl, Platform

    factory = open_store(db_url, create=True)
    with factory() as session:
        platform = Platform(name="kz_board", country="KZ", language="ru")
        session.add(platform)
        session.flush()
        crawl = Crawl(platform_id=platform.id, host="bench", pid=os.getpid())
        session.add(crawl)
        session.commit()
        platform_id, crawl_id = platform.id, crawl.id
    factory.kw["bind"].dispose()
    config = dict(
        db_url=db_url, data_root=str(out), commit_every=0, crawl_id=crawl_id,
        platform="kz_board", platform_id=platform_id, warc_dir=str(out / "warc"),
        warc_prefix="bench", warc_max_size=1_000_000_000, warcinfo={"software": "bench"},
        revisits=True, host="bench", pid=os.getpid(), settings={},
    )  # fmt: skip
    import crawler

    # (An editable install would lend an older checkout this one's crawler.sink.)
    if (Path(crawler.__file__).parent / "sink").is_dir():  # the sink's typed messages
        from crawler.sink import messages as m
        from crawler.sink.writer_process import EvidenceWriterProcess

        writer = EvidenceWriterProcess()
        warm = writer.open_channel(m.WriterConfig(**config))
        key = writer.open_channel(m.WriterConfig(**config))
        writer.close_channel(warm)  # answered once the writer is up: start-up not timed
        start = time.perf_counter()
        for n in range(pages):
            url = f"http://127.0.0.11:8080/ad/{n}.html"
            ids = (f"<urn:uuid:{uuid.uuid4()}>", f"<urn:uuid:{uuid.uuid4()}>",
                   f"<urn:uuid:{uuid.uuid4()}>")  # fmt: skip
            request = m.SentRequest("GET", url, [(b"Accept", [b"text/html"])], b"", {"depth": 1})
            response = m.ReceivedResponse(
                url, 200, [(b"Content-Type", [b"text/html"])], BODY % (n, n, n),
                "127.0.0.11", "HTTP/1.1", [],
            )  # fmt: skip
            writer.send(key, m.Exchange(ids, datetime.now(UTC), request, response))
            writer.send(key, m.Advert(advert(n, url, ids[0])))
        writer.close_channel(key)
        took = time.perf_counter() - start
        writer.stop()
        return took
    else:  # the checkout before the sink: positional tuples
        from crawler.archive.sidecar import ChannelConfig, EvidenceProcess

        writer = EvidenceProcess()
        warm = writer.open_channel(ChannelConfig(**config))
        key = writer.open_channel(ChannelConfig(**config))
        writer.close_channel(warm)  # answered once the writer is up: start-up not timed
        start = time.perf_counter()
        for n in range(pages):
            url = f"http://127.0.0.11:8080/ad/{n}.html"
            ids = (f"<urn:uuid:{uuid.uuid4()}>", f"<urn:uuid:{uuid.uuid4()}>",
                   f"<urn:uuid:{uuid.uuid4()}>")  # fmt: skip
            request = ("GET", url, [(b"Accept", [b"text/html"])], b"", {"depth": 1})
            response = (url, 200, [(b"Content-Type", [b"text/html"])], BODY % (n, n, n),
                        "127.0.0.11", "HTTP/1.1", [])  # fmt: skip
            writer.send(("exchange", key, (ids, datetime.now(UTC), request, response)))
            writer.send(("ad", key, advert(n, url, ids[0])))
        writer.close_channel(key)
        took = time.perf_counter() - start
        writer.stop()
        return took


def advert(n: int, url: str, record_id: str) -> dict:
    phone = {"kind": "phone", "value": f"+7701234{n:04d}", "match": "x", "start": 0, "end": 4,
             "channel": None, "field": "body"}  # fmt: skip
    handle = {"kind": "telegram", "value": f"lotus_{n}", "match": "y", "start": 9, "end": 12,
              "channel": None, "field": "body"}  # fmt: skip
    return {
        "platform": "kz_board", "external_id": str(n), "url": url,
        "fetched_at": datetime.now(UTC), "title": f"Guide {n}", "body": f"Call {n}",
        "region": "KZ", "capture_id": None, "capture_record_id": record_id,
        "identifiers": [phone, handle], "images": [], "contacts": [],
    }  # fmt: skip


def schema_sql(db: str, sql: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(db)
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(sql))
        conn.commit()
    engine.dispose()


def one_run(checkout: Path, db: str, pages: int) -> float:
    """One measurement in a fresh process of ``checkout`` (its code on the path)."""
    with tempfile.TemporaryDirectory(prefix="adarchive-writer-bench-") as tmp:
        if db == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        else:
            schema = f"writer_bench_{uuid.uuid4().hex[:10]}"
            url = f"{db}?options=-csearch_path%3D{schema}"
            schema_sql(db, f"CREATE SCHEMA {schema}")
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        code = (
            f"import sys, json; from pathlib import Path; sys.path.insert(0, {str(Path(__file__).parent)!r});"
            f"import writer_batch as w; print(json.dumps(w.measure({url!r}, {pages}, Path({tmp!r}))))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=checkout, env=env, capture_output=True, text=True
        )
        if db != "sqlite":
            schema_sql(db, f"DROP SCHEMA {schema} CASCADE")
        if result.returncode != 0:
            raise SystemExit(result.stderr[-3000:])
        return float(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg", help="PostgreSQL URL (postgresql+psycopg://…) to bench too")
    parser.add_argument("--compare", type=Path, help="another checkout, run in paired rounds")
    args = parser.parse_args()
    for db in ["sqlite", *([args.pg] if args.pg else [])]:
        label = "sqlite" if db == "sqlite" else "postgresql"
        ratios, here, there = [], [], []
        for n in range(args.rounds):
            ours = one_run(REPO, db, args.pages)
            here.append(ours)
            line = f"{label} round {n + 1}: this {args.pages / ours:7.0f} pages/s"
            if args.compare:
                theirs = one_run(args.compare.resolve(), db, args.pages)
                there.append(theirs)
                ratios.append(theirs / ours)
                line += f"  other {args.pages / theirs:7.0f} pages/s  speed-up {theirs / ours:.2f}"
            print(line, flush=True)
        if ratios:
            print(
                f"{label}: speed-up median {statistics.median(ratios):.2f} "
                f"(rounds {min(ratios):.2f}-{max(ratios):.2f}); best/best "
                f"{min(there) / min(here):.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
