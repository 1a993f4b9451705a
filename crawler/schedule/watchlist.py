"""Watchlists: identifiers to look out for, and the adverts found carrying them.

A watch is a normalised identifier (kind + value, as the store keeps them).
:func:`scan` records a hit the first time an advert is seen carrying a watched
identifier, with the capture that proves it; it runs after every scheduled
crawl and before ``adarchive watch hits`` lists them, and is idempotent (the
unique (watch, ad) pair and an insert-if-absent make it safe to run from
several processes at once).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crawler.extract.argument import IdentifierError, parse_identifier
from crawler.store.models import (
    Ad,
    AdIdentifier,
    Capture,
    Identifier,
    Platform,
    WarcFile,
    Watch,
    WatchHit,
    utc,
    utcnow,
    value_sha256,
)
from crawler.store.upsert import get_or_create_id


class WatchError(ValueError):
    """A watch the user asked for cannot be understood; the message is one line."""


@dataclass(frozen=True)
class WatchSpec:
    kind: str
    value: str


def normalise(text: str, kind: str | None = None, region: str | None = None) -> WatchSpec:
    """``+7 701 555 0101`` -> phone ``+77015550101``; ``telegram:@Name`` -> telegram ``name``.

    The one identifier syntax of every command (crawler/extract/argument.py):
    normalised by the extractor the crawl uses, so a watch matches however the
    advert wrote the identifier; what the extractor refuses is refused here.
    """
    try:
        arg = parse_identifier(text, region, kind)
    except IdentifierError as exc:
        raise WatchError(str(exc)) from None
    return WatchSpec(arg.kind, arg.value)


def read_watch_file(path: Path) -> list[str]:
    """One identifier per line; blank lines and ``#`` comments are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise WatchError(f"cannot read {path}: {exc.strerror}") from None
    return [s for line in lines if (s := line.split("#", 1)[0].strip())]


def add_watches(
    session: Session,
    texts: Iterable[str],
    kind: str | None = None,
    region: str | None = None,
    note: str | None = None,
) -> list[tuple[Watch, bool]]:
    """Add each identifier (already watched ones are left as they are)."""
    out = []
    for text in texts:
        spec = normalise(text, kind, region)
        watch_id, created = get_or_create_id(
            session,
            Watch,
            {"kind": spec.kind, "value_sha256": value_sha256(spec.value)},
            {"value": spec.value, "note": note, "created_at": utcnow()},
        )
        watch = session.get(Watch, watch_id)
        assert watch is not None
        out.append((watch, created))
    session.commit()
    return out


def remove_watch(session: Session, ref: str, region: str | None = None) -> int:
    """Remove a watch (by id or identifier) and its hits; returns how many watches went."""
    if ref.isdigit():
        ids = [int(ref)]
    else:
        spec = normalise(ref, None, region)
        ids = list(
            session.scalars(
                select(Watch.id).where(
                    Watch.kind == spec.kind, Watch.value_sha256 == value_sha256(spec.value)
                )
            )
        )
    ids = [i for i in ids if session.get(Watch, i) is not None]
    if ids:
        session.execute(delete(WatchHit).where(WatchHit.watch_id.in_(ids)))
        session.execute(delete(Watch).where(Watch.id.in_(ids)))
        session.commit()
    return len(ids)


def list_watches(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(Watch).order_by(Watch.id)).scalars().all()
    hits = dict(
        session.execute(
            select(WatchHit.watch_id, func.count(WatchHit.id)).group_by(WatchHit.watch_id)
        ).all()
    )
    return [
        {
            "id": w.id,
            "kind": w.kind,
            "value": w.value,
            "note": w.note,
            "hits": int(hits.get(w.id, 0)),
            "created_at": utc(w.created_at),
        }
        for w in rows
    ]


def scan(session: Session) -> list[int]:
    """Record a hit for every (watch, ad) pair not yet recorded; return the new hit ids."""
    pairs = session.execute(
        select(Watch.id, AdIdentifier.ad_id, AdIdentifier.capture_id, Capture.crawl_id)
        .join(
            Identifier,
            (Identifier.kind == Watch.kind) & (Identifier.value_sha256 == Watch.value_sha256),
        )
        .join(AdIdentifier, AdIdentifier.identifier_id == Identifier.id)
        .join(Capture, Capture.id == AdIdentifier.capture_id, isouter=True)
        .join(
            WatchHit,
            (WatchHit.watch_id == Watch.id) & (WatchHit.ad_id == AdIdentifier.ad_id),
            isouter=True,
        )
        .where(WatchHit.id.is_(None))
        .order_by(AdIdentifier.id)
    ).all()
    new: list[int] = []
    seen: set[tuple[int, int]] = set()
    for watch_id, ad_id, capture_id, crawl_id in pairs:
        if (watch_id, ad_id) in seen:
            continue
        seen.add((watch_id, ad_id))
        hit_id, created = get_or_create_id(
            session,
            WatchHit,
            {"watch_id": watch_id, "ad_id": ad_id},
            {"capture_id": capture_id, "crawl_id": crawl_id, "found_at": utcnow()},
        )
        if created:
            new.append(hit_id)
    session.commit()
    return new


def hits(
    session: Session,
    *,
    since: datetime | None = None,
    crawl: int | None = None,
    hit_ids: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Hits with their adverts and every capture that shows the watched identifier."""
    query = (
        select(WatchHit, Watch, Ad, Platform.name)
        .join(Watch, Watch.id == WatchHit.watch_id)
        .join(Ad, Ad.id == WatchHit.ad_id)
        .join(Platform, Platform.id == Ad.platform_id)
        .order_by(WatchHit.found_at, WatchHit.id)
    )
    if since is not None:
        query = query.where(WatchHit.found_at >= since)
    if crawl is not None:
        query = query.where(WatchHit.crawl_id == crawl)
    if hit_ids is not None:
        query = query.where(WatchHit.id.in_(list(hit_ids)))
    out = []
    for hit, watch, ad, platform in session.execute(query).all():
        out.append(
            {
                "hit": hit.id,
                "found_at": utc(hit.found_at),
                "crawl": hit.crawl_id,
                "watch": {"id": watch.id, "kind": watch.kind, "value": watch.value},
                "ad": {
                    "id": ad.id,
                    "platform": platform,
                    "external_id": ad.external_id,
                    "url": ad.url,
                    "first_seen": utc(ad.first_seen),
                    "last_seen": utc(ad.last_seen),
                },
                "captures": _identifier_captures(session, ad.id, watch),
            }
        )
    return out


def _identifier_captures(session: Session, ad_id: int, watch: Watch) -> list[dict[str, Any]]:
    """Every capture where this ad showed the identifier: the WARC record that proves it."""
    rows = session.execute(
        select(Capture, WarcFile.path, AdIdentifier.field, AdIdentifier.match)
        .join(AdIdentifier, AdIdentifier.capture_id == Capture.id)
        .join(Identifier, Identifier.id == AdIdentifier.identifier_id)
        .join(WarcFile, WarcFile.id == Capture.warc_file_id, isouter=True)
        .where(
            AdIdentifier.ad_id == ad_id,
            Identifier.kind == watch.kind,
            Identifier.value_sha256 == watch.value_sha256,
        )
        .order_by(Capture.fetched_at, Capture.id)
    ).all()
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for capture, path, field, match in rows:
        if capture.id in seen:
            continue
        seen.add(capture.id)
        out.append(
            {
                "capture": capture.id,
                "kind": capture.kind,
                "fetched_at": utc(capture.fetched_at),
                "warc": path,
                "offset": capture.offset,
                "length": capture.length,
                "record_id": capture.record_id,
                "payload_sha256": capture.payload_sha256,
                "field": field,
                "match": match,
            }
        )
    return out
