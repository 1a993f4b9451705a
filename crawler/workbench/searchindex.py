"""Keep ``ad_search`` (the normalised text both engines index) in step with ``ad``.

The crawl knows nothing of the workbench, so the index is brought up to date
from the store: at server start and, at most every :data:`REFRESH_EVERY`
seconds, before a search. An advert is re-indexed when its text digest or
its last sighting changed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from crawler.store.models import Ad, AdSearch
from crawler.workbench.searchquery import normalise

REFRESH_EVERY = 10.0
BATCH = 2000
FIELDS = ("title", "body", "name", "location", "poster_account")


def document(ad: Any) -> str:
    """The searchable text of an advert: its fields, normalised, one per line."""
    return "\n".join(n for f in FIELDS if (v := getattr(ad, f)) and (n := normalise(v)))


def refresh(session: Session) -> int:
    """Index new and changed adverts, a batch at a time; returns how many were (re)indexed."""
    stale = (
        select(
            Ad.id,
            Ad.text_sha256,
            Ad.last_seen,
            *(getattr(Ad, f) for f in FIELDS),
            AdSearch.ad_id.label("indexed"),
        )
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
        rows = session.execute(stale).all()
        if not rows:
            return done
        new = [
            {
                "ad_id": r.id,
                "text_sha256": r.text_sha256,
                "last_seen": r.last_seen,
                "doc": document(r),
            }
            for r in rows
        ]
        fresh = [row for row, r in zip(new, rows, strict=True) if r.indexed is None]
        changed = [row for row, r in zip(new, rows, strict=True) if r.indexed is not None]
        if fresh:
            session.execute(insert(AdSearch), fresh)
        if changed:
            table = AdSearch.__table__
            session.connection().execute(  # Core: a plain executemany, no ORM bookkeeping
                update(table)
                .where(table.c.ad_id == bindparam("key"))
                .values(
                    text_sha256=bindparam("sha"), last_seen=bindparam("seen"), doc=bindparam("text")
                ),
                [
                    {
                        "key": c["ad_id"],
                        "sha": c["text_sha256"],
                        "seen": c["last_seen"],
                        "text": c["doc"],
                    }
                    for c in changed
                ],  # fmt: skip
            )
        session.commit()
        done += len(rows)


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
