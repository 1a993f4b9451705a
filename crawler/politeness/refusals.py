"""What a crawl refused and why: counted in the stats, logged, summarised at the end.

Every guard and limit reports through :func:`note_refusal`, so the crawl's
stats carry ``adarchive/refused/<kind>`` (and ``…/<kind>/<detail>``) counts
and a bounded list of examples, and the log says once per refusal what was
refused and why. :class:`RefusalReport` prints the summary when a spider
closes, so a crawl that ends by itself also says what it left out.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

PREFIX = "adarchive/refused"
EXAMPLES_KEY = "adarchive/refused_examples"
MAX_EXAMPLES = 50


def note_refusal(
    crawler: Crawler, kind: str, url: str, why: str, detail: str | None = None
) -> None:
    """Count, keep as an example and log one refusal."""
    stats = crawler.stats
    if stats is not None:
        stats.inc_value(PREFIX)
        stats.inc_value(f"{PREFIX}/{kind}")
        if detail:
            stats.inc_value(f"{PREFIX}/{kind}/{detail}")
        examples = stats.get_value(EXAMPLES_KEY) or []
        if len(examples) < MAX_EXAMPLES:
            stats.set_value(EXAMPLES_KEY, [*examples, f"{kind}: {url}: {why}"])
    logger.warning("refused (%s) %s: %s", kind, url, why)


def refuse_queued(crawler: Crawler, kind: str, why: str, slot_key: str | None = None) -> int:
    """Refuse the requests waiting in download slots (all, or one site's), without sending them.

    Requests pass the downloader middlewares before they queue in a slot, so
    a decision taken later (site given up, budget spent) must reach them there.
    """
    engine = crawler.engine
    if engine is None:
        return 0
    slots = engine.downloader.slots
    chosen = [slots[slot_key]] if slot_key in slots else ([] if slot_key else list(slots.values()))
    count = 0
    for slot in chosen:
        while slot.queue:
            request, deferred = slot.queue.popleft()
            note_refusal(crawler, kind, request.url, why)
            deferred.errback(IgnoreRequest(f"{kind}: {why}"))
            count += 1
    return count


def refusal_counts(stats: dict[str, object]) -> dict[str, int]:
    """``{kind: count}`` from a stats dict (top-level kinds only)."""
    out: dict[str, int] = {}
    for key, value in stats.items():
        rest = key[len(PREFIX) + 1 :] if key.startswith(PREFIX + "/") else None
        if rest and "/" not in rest and isinstance(value, int):
            out[rest] = value
    return out


class RefusalReport:
    """Extension: one summary line of refusals when the spider closes."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RefusalReport:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, spider: Spider, reason: str) -> None:
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        counts = refusal_counts(stats)
        if not counts:
            logger.info("%s: nothing refused (finish reason %s)", spider.name, reason)
            return
        summary = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
        logger.warning(
            "%s: refused %d request(s): %s (finish reason %s)",
            spider.name,
            sum(counts.values()),
            summary,
            reason,
        )
