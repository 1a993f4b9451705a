"""Which captures a case needs: from ads, identifiers, platform, crawl, date.

Ads and identifiers say *what* (their union); platform, crawl and --since
narrow it. Every capture that evidences a selected ad is taken: each
sighting's page, the identifiers' pages, the images, and every record of the
same exchange (request, metadata, resources: the children of a response).
A revisit brings the response it refers to, so the bundle is self-contained.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.evidence.evidence_errors import SelectionError
from crawler.store.models import (
    Ad,
    AdIdentifier,
    AdImage,
    Capture,
    Crawl,
    Identifier,
    Platform,
    Sighting,
    WarcFile,
)

BATCH = 500


@dataclass
class Selection:
    ads: list[str] = field(default_factory=list)
    """Store ids, or ``platform:external_id``."""
    identifiers: list[str] = field(default_factory=list)
    platform: str | None = None
    crawl: int | None = None
    since: datetime | None = None

    def is_empty(self) -> bool:
        return not (self.ads or self.identifiers or self.platform or self.crawl or self.since)

    def describe(self) -> dict[str, object]:
        return {
            "ads": list(self.ads),
            "identifiers": list(self.identifiers),
            "platform": self.platform,
            "crawl": self.crawl,
            "since": self.since.isoformat() if self.since else None,
        }


@dataclass
class Selected:
    capture_ids: list[int]
    """Sorted; every one in a closed WARC file."""
    ad_ids: list[int]
    skipped_open: int = 0
    """Captures left out because their WARC file is still being written."""


def parse_since(text: str) -> datetime:
    """``YYYY-MM-DD`` or an ISO date-time; naive values are UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SelectionError(f"--since expects a date like 2026-01-31 (got {text!r})") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def resolve_ads(session: Session, refs: Sequence[str]) -> list[int]:
    ids: list[int] = []
    for ref in refs:
        if ref.isdigit():
            ad = session.get(Ad, int(ref))
        else:
            platform, sep, external = ref.partition(":")
            if not sep:
                raise SelectionError(
                    f"--ad expects a store id or PLATFORM:EXTERNAL_ID (got {ref!r})"
                )
            ad = session.scalar(
                select(Ad)
                .join(Platform, Platform.id == Ad.platform_id)
                .where(Platform.name == platform, Ad.external_id == external)
            )
        if ad is None:
            raise SelectionError(f"no ad {ref!r} in the store")
        ids.append(ad.id)
    return ids


def resolve_identifiers(session: Session, values: Sequence[str]) -> list[int]:
    # Here: the identifier syntax loads the extractor (phonenumbers, 0.05 s of CPU), which
    # an export by platform, crawl or advert never needs.
    from crawler.extract.argument import parse_identifier

    ids: set[int] = set()
    for value in values:
        # One identifier syntax (crawler/extract/argument.py); the CLI has applied --region.
        arg = parse_identifier(value)
        found = session.scalars(
            select(AdIdentifier.ad_id)
            .join(Identifier, Identifier.id == AdIdentifier.identifier_id)
            .where(Identifier.matching(arg.kind, arg.value))
        ).all()
        if not found:
            raise SelectionError(f"no ad carries the identifier {arg}")
        ids.update(found)
    return sorted(ids)


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(values), BATCH):
        yield values[i : i + BATCH]


def _ad_captures(session: Session, ad_ids: Sequence[int]) -> set[int]:
    out: set[int] = set()
    for chunk in _chunks(list(ad_ids)):
        for column, model in (
            (Sighting.capture_id, Sighting),
            (AdIdentifier.capture_id, AdIdentifier),
            (AdImage.capture_id, AdImage),
        ):
            out.update(
                c for c in session.scalars(select(column).where(model.ad_id.in_(chunk))) if c
            )
        for a, b in session.execute(
            select(Ad.capture_id, Ad.first_capture_id).where(Ad.id.in_(chunk))
        ):
            out.update(c for c in (a, b) if c)
    return out


def select_captures(session: Session, selection: Selection) -> Selected:
    if selection.is_empty():
        raise SelectionError(
            "say what to export: --ad, --identifier, --platform, --crawl and/or --since"
        )
    ad_ids: list[int] = []
    if selection.ads:
        ad_ids += resolve_ads(session, selection.ads)
    if selection.identifiers:
        ad_ids += resolve_identifiers(session, selection.identifiers)
    ad_ids = sorted(set(ad_ids))

    query = select(Capture.id)
    if selection.platform:
        platform = session.scalar(select(Platform).where(Platform.name == selection.platform))
        if platform is None:
            raise SelectionError(f"no platform {selection.platform!r} in the store")
        query = query.where(
            Capture.crawl_id.in_(select(Crawl.id).where(Crawl.platform_id == platform.id))
        )
    if selection.crawl is not None:
        if session.get(Crawl, selection.crawl) is None:
            raise SelectionError(f"no crawl {selection.crawl} in the store")
        query = query.where(Capture.crawl_id == selection.crawl)
    if selection.since is not None:
        query = query.where(Capture.fetched_at >= selection.since.astimezone(UTC))

    if ad_ids:
        roots = _ad_captures(session, ad_ids)
        filtered: set[int] = set()
        for chunk in _chunks(sorted(roots)):
            filtered.update(session.scalars(query.where(Capture.id.in_(chunk))))
        ids = filtered
    else:
        ids = set(session.scalars(query))
    ids = _close_over(session, ids)
    return _only_closed(session, ids, ad_ids)


def _close_over(session: Session, ids: set[int]) -> set[int]:
    """Add each exchange's other records, and the responses revisits refer to."""
    frontier = set(ids)
    while frontier:
        new: set[int] = set()
        for chunk in _chunks(sorted(frontier)):
            new.update(
                session.scalars(select(Capture.id).where(Capture.parent_capture_id.in_(chunk)))
            )
            for parent, kind, payload, url in session.execute(
                select(
                    Capture.parent_capture_id, Capture.kind, Capture.payload_sha256, Capture.url
                ).where(Capture.id.in_(chunk))
            ):
                if parent:
                    new.add(parent)
                if kind == "revisit" and payload:
                    # The response whose payload the revisit names, same URL first.
                    original = session.scalar(
                        select(Capture.id)
                        .where(Capture.kind == "response", Capture.payload_sha256 == payload)
                        .order_by(Capture.url != url, Capture.fetched_at)
                        .limit(1)
                    )
                    if original:
                        new.add(original)
        frontier = new - ids
        ids |= frontier
    return ids


def _only_closed(session: Session, ids: set[int], ad_ids: list[int]) -> Selected:
    keep: list[int] = []
    skipped = 0
    for chunk in _chunks(sorted(ids)):
        for cid, status in session.execute(
            select(Capture.id, WarcFile.status)
            .join(WarcFile, WarcFile.id == Capture.warc_file_id, isouter=True)
            .where(Capture.id.in_(chunk))
        ):
            if status in ("closed", "repaired"):
                keep.append(cid)
            else:
                skipped += 1
    if not keep:
        detail = f" ({skipped} only in WARC files still open)" if skipped else ""
        raise SelectionError(f"the selection matches no archived capture{detail}")
    return Selected(sorted(keep), ad_ids, skipped)
