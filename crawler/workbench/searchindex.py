"""Keep ``ad_search`` (the normalised text both engines index) in step with ``ad``.

The crawl knows nothing of the workbench, so the index is brought up to date
from the store: at server start and, at most every :data:`REFRESH_EVERY`
seconds, before a search. An advert is re-indexed when its text digest or
its last sighting changed.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crawler.store.models import Ad, AdSearch
from crawler.workbench.searchquery import normalise

REFRESH_EVERY = 10.0
BATCH = 500
FIELDS = ("title", "body", "name", "location", "poster_account")


def document(ad: Ad) -> str:
    """The searchable text of an advert: its fields, normalised, one per line."""
    return "\n".join(n for f in FIELDS if (v := getattr(ad, f)) and (n := normalise(v)))


def refresh(session: Session) -> int:
    """Index new and changed adverts; returns how many were (re)indexed."""
    stale = (
        select(Ad)
        .outerjoin(AdSearch, AdSearch.ad_id == Ad.id)
        .where(
            or_(
                AdSearch.ad_id.is_(None),
                AdSearch.text_sha256.is_distinct_from(Ad.text_sha256),
                AdSearch.last_seen.is_distinct_from(Ad.last_seen),
            )
        )
        .order_by(Ad.id)
        .limit(BATCH)
    )
    done = 0
    while True:
        ads = session.scalars(stale).all()
        if not ads:
            return done
        for ad in ads:
            row = session.get(AdSearch, ad.id)
            if row is None:
                session.add(
                    AdSearch(
                        ad_id=ad.id,
                        text_sha256=ad.text_sha256,
                        last_seen=ad.last_seen,
                        doc=document(ad),
                    )
                )
            else:
                row.text_sha256, row.last_seen, row.doc = ad.text_sha256, ad.last_seen, document(ad)
        session.commit()
        done += len(ads)


class Refresher:
    """Refreshes the index at most every ``every`` seconds, one thread at a time."""

    def __init__(self, every: float = REFRESH_EVERY) -> None:
        self.every = every
        self._last = float("-inf")
        self._lock = threading.Lock()

    def maybe_refresh(self, session: Session) -> None:
        if time.monotonic() - self._last < self.every:
            return
        if not self._lock.acquire(blocking=False):
            return  # another request is refreshing; search what is there
        try:
            refresh(session)
            self._last = time.monotonic()
        finally:
            self._lock.release()
