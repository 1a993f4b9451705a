"""Drift between scheduled runs: a run whose numbers depart sharply from the platform's recent runs.

A site that changes its layout rarely breaks a crawl outright: the crawl
still "finishes", but with fewer adverts per listing page, empty fields, no
identifiers, or every advert suddenly "new" (its id moved). Each scheduled
run is compared with the median of the platform's recent runs on four
measures; a sharp departure is stored on the crawl row (``drift_json``),
shown by ``adarchive status`` and pushed as an alert.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.store.models import AdIdentifier, Capture, Crawl

MEASURES = ("ads_per_listing", "empty_field_rate", "identifiers_per_ad", "new_ad_rate")
RATIO_MEASURES = ("ads_per_listing", "identifiers_per_ad")
BASELINE_STATES = ("finished", "degraded")


@dataclass(frozen=True)
class DriftConfig:
    runs: int = 5
    min_runs: int = 3
    ratio: float = 2.0
    rate_change: float = 0.4

    @classmethod
    def from_settings(cls, settings: Any) -> DriftConfig:
        return cls(
            runs=int(settings.get("ADARCHIVE_DRIFT_RUNS") or cls.runs),
            min_runs=max(1, int(settings.get("ADARCHIVE_DRIFT_MIN_RUNS") or cls.min_runs)),
            ratio=float(settings.get("ADARCHIVE_DRIFT_RATIO") or cls.ratio),
            rate_change=float(settings.get("ADARCHIVE_DRIFT_RATE_CHANGE") or cls.rate_change),
        )


def crawl_measures(session: Session, crawl: Crawl) -> dict[str, float] | None:
    """The four measures of one crawl, or None when it stored no advert."""
    health = json.loads(crawl.health_json or "{}")
    ads = int(crawl.ads or 0)
    if not ads:
        return None
    listing = int(health.get("listing_pages") or 0)
    detail = int(health.get("detail_pages") or 0)
    empty = int(health.get("without_id") or 0) + int(health.get("missing_required") or 0)
    identifiers = session.scalar(
        select(func.count(AdIdentifier.id))
        .join(Capture, Capture.id == AdIdentifier.capture_id)
        .where(Capture.crawl_id == crawl.id)
    )
    return {
        "ads_per_listing": ads / listing if listing else float(ads),
        "empty_field_rate": empty / detail if detail else 0.0,
        "identifiers_per_ad": int(identifiers or 0) / ads,
        "new_ad_rate": int(crawl.new_ads or 0) / ads,
    }


def departures(
    current: dict[str, float], history: list[dict[str, float]], config: DriftConfig
) -> list[str]:
    """One line per measure on which ``current`` departs sharply from the history's median."""
    if len(history) < config.min_runs:
        return []
    out = []
    for name in MEASURES:
        now = current[name]
        base = statistics.median(h[name] for h in history)
        if name in RATIO_MEASURES:
            if base > 0 and (now * config.ratio <= base or now >= base * config.ratio):
                out.append(f"{name} {now:.2f} against {base:.2f} in recent runs")
        elif name == "empty_field_rate" and now - base >= config.rate_change:
            out.append(f"{name} {now:.0%} against {base:.0%} in recent runs")
        elif name == "new_ad_rate" and now - base >= config.rate_change and len(history) >= 2:
            # the first run of a platform is all new: needs two runs of history to mean much
            out.append(f"{name} {now:.0%} against {base:.0%} in recent runs")
    return out


def check_drift(session: Session, crawl: Crawl, config: DriftConfig) -> dict[str, Any] | None:
    """Compare ``crawl`` with its platform's recent runs; store and return the drift, if any."""
    current = crawl_measures(session, crawl)
    if current is None:
        return None
    earlier = session.scalars(
        select(Crawl)
        .where(
            Crawl.platform_id == crawl.platform_id,
            Crawl.id < crawl.id,
            Crawl.state.in_(BASELINE_STATES),
        )
        .order_by(Crawl.id.desc())
        .limit(config.runs)
    ).all()
    history = [m for c in earlier if (m := crawl_measures(session, c)) is not None]
    found = departures(current, history, config)
    if not found:
        return None
    drift = {"measures": current, "baseline_runs": [c.id for c in earlier], "departures": found}
    crawl.drift_json = json.dumps(drift, sort_keys=True)
    session.commit()
    return drift
