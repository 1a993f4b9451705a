"""Keep ``ad_search`` (the normalised text both engines index) in step with ``ad``.

The crawl knows nothing of the workbench, so the index is brought up to date
from the store: fully at server start (every advert whose text digest or last
sighting changed), and then, at most every :data:`REFRESH_EVERY` seconds,
when a cheap watermark (the newest advert id and sighting) has moved, only
for the adverts added or seen again since. Searches therefore never pay for
a scan of the whole store.

On PostgreSQL the refresh also fills the word index: the vocabulary
(``search_word``) and which adverts hold which word (``ad_word``), from the
same normalised text (:func:`crawler.workbench.searchquery.words`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Integer,
    Text,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from crawler.store.models import Ad, AdGram, AdSearch, AdWord
from crawler.workbench.searchquery import grams, normalise, words

T = TypeVar("T")
REFRESH_EVERY = 10.0
BATCH = 2000
FIELDS = ("title", "body", "name", "location", "poster_account")


def document(ad: Any) -> str:
    """The searchable text of an advert: its fields, normalised, one per line."""
    return "\n".join(n for f in FIELDS if (v := getattr(ad, f)) and (n := normalise(v)))


def _norm(value: str | None) -> str | None:
    return normalise(value) if value else None


Watermark = tuple[int | None, datetime | None]


def watermark(session: Session) -> Watermark:
    """The newest advert id and last sighting (two index look-ups)."""
    row = session.execute(select(func.max(Ad.id), func.max(Ad.last_seen))).one()
    return row[0], row[1]


def refresh(session: Session, since: Watermark | None = None) -> int:
    """Index new and changed adverts, a batch at a time; returns how many were (re)indexed.

    With ``since`` (an earlier :func:`watermark`) only adverts added or seen
    again after it are examined; without, every advert is.
    """
    stale_when: list[ColumnElement[bool]] = [
        or_(
            AdSearch.ad_id.is_(None),
            AdSearch.text_sha256.is_distinct_from(Ad.text_sha256),
            AdSearch.last_seen.is_distinct_from(Ad.last_seen),
        )
    ]
    if since is not None:
        newer: list[ColumnElement[bool]] = []
        if since[0] is not None:
            newer.append(Ad.id > since[0])
        if since[1] is not None:
            newer.append(Ad.last_seen >= since[1])
        if newer:
            stale_when.append(or_(*newer))
    stale = (
        select(
            Ad.id,
            Ad.text_sha256,
            Ad.last_seen,
            Ad.first_seen,
            Ad.platform_id,
            *(getattr(Ad, f) for f in FIELDS),
            AdSearch.ad_id.label("indexed"),
        )
        .outerjoin(AdSearch, AdSearch.ad_id == Ad.id)
        .where(*stale_when)
        .order_by(Ad.id)
        .limit(BATCH)
    )
    done = 0
    while True:
        rows = session.execute(stale).all()
        if not rows:
            return done
        _write(session, rows)
        session.commit()
        done += len(rows)


def _write(session: Session, rows: list[Any]) -> None:
    postgres = session.get_bind().dialect.name == "postgresql"
    new = [
        {
            "ad_id": r.id,
            "text_sha256": r.text_sha256,
            "last_seen": r.last_seen,
            "doc": document(r),
            "name": _norm(r.name),
            "location": _norm(r.location),
            "platform_id": r.platform_id,
            "first_seen": r.first_seen,
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
                text_sha256=bindparam("sha"),
                last_seen=bindparam("seen"),
                doc=bindparam("text"),
                name=bindparam("nm"),
                location=bindparam("loc"),
            ),
            [
                {
                    "key": c["ad_id"],
                    "sha": c["text_sha256"],
                    "seen": c["last_seen"],
                    "text": c["doc"],
                    "nm": c["name"],
                    "loc": c["location"],
                }
                for c in changed
            ],  # fmt: skip
        )
        session.execute(delete(AdGram).where(AdGram.ad_id.in_([c["ad_id"] for c in changed])))
        if postgres:
            session.execute(delete(AdWord).where(AdWord.ad_id.in_([c["ad_id"] for c in changed])))
    pairs = [{"gram": g, "ad_id": row["ad_id"]} for row in new for g in sorted(grams(row["doc"]))]
    if pairs:
        session.execute(insert(AdGram), pairs)
    if postgres:
        _write_words(session, [(row["ad_id"], w) for row in new for w in sorted(words(row["doc"]))])


def _write_words(session: Session, pairs: list[tuple[int, str]]) -> None:
    """PostgreSQL: add the batch's new words to the vocabulary, then its (word, advert)
    pairs, each as one statement over two arrays (a row per parameter set would
    cost more than the rest of the batch)."""
    if not pairs:
        return
    ad_ids, texts = [a for a, _ in pairs], [w for _, w in pairs]
    session.execute(
        text(
            "INSERT INTO search_word (word) SELECT DISTINCT w FROM unnest(:words) AS w"
            " ORDER BY w ON CONFLICT (word) DO NOTHING"
        ).bindparams(bindparam("words", sorted(set(texts)), type_=ARRAY(Text())))
    )
    session.execute(
        text(
            "INSERT INTO ad_word (word_id, ad_id) SELECT sw.id, x.ad_id"
            " FROM unnest(:ads, :texts) AS x(ad_id, word) JOIN search_word sw ON sw.word = x.word"
        ).bindparams(
            bindparam("ads", ad_ids, type_=ARRAY(Integer())),
            bindparam("texts", texts, type_=ARRAY(Text())),
        )
    )


class Refresher:
    """Refreshes the index at most every ``every`` seconds, one thread at a time.

    The first call (in a server: at start) examines every advert; later calls
    only what moved past the watermark, and only when it moved.

    It also keeps the last ``cache_size`` search results (a page and its count)
    for as long as the index does not change: paging through a result, or a
    colleague repeating a search, costs no index query. Any refresh that
    indexes something empties it, so a cached answer is never older than the
    index (at most :data:`REFRESH_EVERY` seconds behind the store, as every
    search is).
    """

    def __init__(self, every: float = REFRESH_EVERY, cache_size: int | None = None) -> None:
        self.every = every
        self._last = float("-inf")
        self._mark: Watermark | None = None
        self._lock = threading.Lock()
        if cache_size is None:
            from crawler.configuration import setting

            cache_size = int(setting("ADARCHIVE_WORKBENCH_SEARCH_CACHE"))
        self.cache_size = cache_size
        self._results: OrderedDict[Hashable, Any] = OrderedDict()
        self._results_lock = threading.Lock()

    def cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, or its answer for ``key`` since the index last changed."""
        if self.cache_size <= 0:
            return compute()
        with self._results_lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]  # type: ignore[no-any-return]
        value = compute()
        with self._results_lock:
            self._results[key] = value
            while len(self._results) > self.cache_size:
                self._results.popitem(last=False)
        return value

    def _indexed(self, count: int) -> int:
        if count:
            with self._results_lock:
                self._results.clear()
        return count

    def prime(self, session: Session) -> int:
        """Index every advert that needs it now (server start); returns how many."""
        with self._lock:
            mark = watermark(session)
            done = self._indexed(refresh(session))
            self._mark, self._last = mark, time.monotonic()
            return done

    def maybe_refresh(self, session: Session) -> None:
        if time.monotonic() - self._last < self.every:
            return
        if not self._lock.acquire(blocking=False):
            return  # another request is refreshing; search what is there
        try:
            mark = watermark(session)
            if self._mark is None:
                self._indexed(refresh(session))
            elif mark != self._mark:
                self._indexed(refresh(session, since=self._mark))
            self._mark = mark
            self._last = time.monotonic()
        finally:
            self._lock.release()
