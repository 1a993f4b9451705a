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
    """The crawl table (definition health per platform), its problems and fixes, WARC files."""
    import sys

    out = out or sys.stdout
    header = (
        f"{'platform':<16} {'listing':>7} {'links':>6} {'detail':>6} {'ads':>5} {'new':>5} "
        f"{'empty':>5} {'refused':>7} {'errors':>6} {'seconds':>8}  state"
    )
    print(header, file=out)
    for r in results:
        h = r.health
        listing, links, detail, empty, refused = (
            (
                h.listing_pages,
                h.ad_links,
                h.detail_pages,
                h.empty_detail_pages,
                sum(h.refusals.values()),
            )
            if h is not None
            else (0, 0, 0, 0, 0)
        )
        print(
            f"{r.platform:<16} {listing:>7} {links:>6} {detail:>6} {r.ads:>5} {r.new_ads:>5} "
            f"{empty:>5} {refused:>7} {r.errors:>6} {r.seconds:>8.1f}  {r.state}",
            file=out,
        )
    total_pages = sum(r.pages for r in results)
    total_ads = sum(r.ads for r in results)
    print(f"total: {total_pages} pages, {total_ads} ads; state {worst_state(results)}", file=out)
    for r in results:
        for line in health_lines(r):
            print(line, file=out)
    files = warc_files(settings.get("ADARCHIVE_DB"), [r.crawl_id for r in results])
    if files:
        print("\nWARC files (relative to the data directory):", file=out)
        for f in files:
            size = f"{f.size:,} B" if f.size is not None else "open"
            print(f"  {f.path}  {size}  sha256:{f.sha256 or '-'}", file=out)
    print(f"\nstore: {settings.get('ADARCHIVE_DB')}", file=out)


def health_lines(result: CrawlResult) -> list[str]:
    """What a platform's numbers say is wrong (refusals by reason, problems, the fix)."""
    h = result.health
    if h is None:
        return []
    lines = []
    if h.refusals:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(h.refusals.items()))
        lines.append(f"{result.platform}: refused by reason: {reasons}")
    lines += [f"{result.platform}: {h.state}: {problem}" for problem in h.problems]
    if h.fix:
        lines.append(f"{result.platform}: fix: {h.fix}")
    return lines


def worst_state(results: Sequence[CrawlResult]) -> str:
    from crawler.health import worst

    return worst(r.state for r in results)


def crawl_exit_status(results: Sequence[CrawlResult], err: Any = None) -> int:
    """The exit status of the worst finish state (DESIGN.md "Finish states"), saying why."""
    import sys

    from crawler.health import exit_code
    from crawler.shutdown import stop_signal

    state = worst_state(results)
    for r in results:
        if r.state == "finished":
            continue
        why = "; ".join(r.health.problems) if r.health is not None else r.finish_reason
        fix = f" (fix: {r.health.fix})" if r.health is not None and r.health.fix else ""
        print(
            f"adarchive: {r.platform}: {r.state}: {why or r.finish_reason}{fix}",
            file=err or sys.stderr,
        )
    return exit_code(state, stop_signal())
