"""Plain-text summaries printed at the end of crawls and the demo."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from crawler.runner import CrawlResult
from crawler.store.db import open_store
from crawler.store.models import WarcFile


def warc_files(db_url: str, crawl_ids: Sequence[int]) -> list[WarcFile]:
    """The WARC files written by these crawls."""
    ids = [i for i in crawl_ids if i is not None]
    if not ids:
        return []
    factory = open_store(db_url, create=False)
    with factory() as session:
        rows = list(
            session.scalars(
                select(WarcFile).where(WarcFile.crawl_id.in_(ids)).order_by(WarcFile.id)
            )
        )
    factory.kw["bind"].dispose()
    return rows


def print_crawl_summary(results: Sequence[CrawlResult], settings: Any, out: Any = None) -> None:
    import sys

    out = out or sys.stdout
    total_pages = sum(r.pages for r in results)
    total_ads = sum(r.ads for r in results)
    print(
        f"{'platform':<16} {'pages':>6} {'ads':>5} {'new':>5} {'errors':>6} {'seconds':>8}  finish",
        file=out,
    )
    for r in results:
        print(
            f"{r.platform:<16} {r.pages:>6} {r.ads:>5} {r.new_ads:>5} {r.errors:>6} {r.seconds:>8.1f}  {r.finish_reason}",
            file=out,
        )
    print(f"{'total':<16} {total_pages:>6} {total_ads:>5}", file=out)
    files = warc_files(settings.get("ADARCHIVE_DB"), [r.crawl_id for r in results])
    if files:
        print("\nWARC files (relative to the data directory):", file=out)
        for f in files:
            size = f"{f.size:,} B" if f.size is not None else "open"
            print(f"  {f.path}  {size}  sha256:{f.sha256 or '-'}", file=out)
    print(f"\nstore: {settings.get('ADARCHIVE_DB')}", file=out)


def crawl_exit_status(results: Sequence[CrawlResult], err: Any = None) -> int:
    """0 when every crawl finished without errors; else 1, saying which did not."""
    import sys

    bad = [
        r
        for r in results
        if r.errors
        or r.stats.get("adarchive/ads_not_stored")
        # a crawl that ends on its page or time budget ended as planned (issue 7)
        or r.finish_reason not in ("finished", "closespider_pagecount", "closespider_timeout")
    ]
    for r in bad:
        lost = int(r.stats.get("adarchive/ads_not_stored") or 0)
        print(
            f"adarchive: {r.platform}: finished as {r.finish_reason!r} with {r.errors} errors"
            + (f" and {lost} adverts not stored" if lost else "")
            + " (see the crawl log)",
            file=err or sys.stderr,
        )
    return 1 if bad else 0
