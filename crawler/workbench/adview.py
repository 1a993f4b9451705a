"""Everything the advert page shows, read from the store in one place.

Text comes with each identifier marked where extraction found it (by the
stored offsets, or by the stored match when the offsets no longer fit the
latest text), so the template never builds HTML from captured text: it
only loops over plain segments, which Jinja2 escapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crawler.store.models import (
    Ad,
    AdIdentifier,
    AdImage,
    Capture,
    Identifier,
    Image,
    Link,
    Platform,
    Sighting,
    WarcFile,
    utc,
)

TEXT_FIELDS = ("title", "body")


@dataclass(frozen=True)
class Segment:
    text: str
    kind: str | None = None
    value: str | None = None


@dataclass
class AdvertView:
    ad: Ad
    platform: str
    fields: dict[str, list[Segment]] = field(default_factory=dict)
    identifiers: list[dict[str, Any]] = field(default_factory=list)
    sightings: list[dict[str, Any]] = field(default_factory=list)
    captures: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)


def segments(text: str, marks: list[tuple[int, int, str, str]]) -> list[Segment]:
    """Split ``text`` into plain and identifier segments; overlapping marks are skipped."""
    out: list[Segment] = []
    pos = 0
    for start, end, kind, value in sorted(marks):
        if start < pos or end <= start or end > len(text):
            continue
        if start > pos:
            out.append(Segment(text[pos:start]))
        out.append(Segment(text[start:end], kind, value))
        pos = end
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return out


def _locate(text: str, start: int, end: int, match: str) -> tuple[int, int] | None:
    if text[start:end] == match:
        return start, end
    found = text.find(match) if match else -1
    return (found, found + len(match)) if found >= 0 else None


def _capture(cap: Capture, warc: str | None) -> dict[str, Any]:
    return {
        "id": cap.id,
        "kind": cap.kind,
        "url": cap.url,
        "fetched_at": utc(cap.fetched_at),
        "status": cap.status,
        "warc_file": warc,
        "offset": cap.offset,
        "length": cap.length,
        "record_id": cap.record_id,
        "block_sha256": cap.block_sha256,
        "payload_sha256": cap.payload_sha256,
    }


def load(session: Session, ad_id: int) -> AdvertView | None:
    """The advert page's data, or None when there is no such advert."""
    row = session.execute(
        select(Ad, Platform.name)
        .join(Platform, Platform.id == Ad.platform_id)
        .where(Ad.id == ad_id)
    ).first()
    if row is None:
        return None
    ad, platform = row
    view = AdvertView(ad=ad, platform=platform)

    occurrences = session.execute(
        select(AdIdentifier, Identifier)
        .join(Identifier, Identifier.id == AdIdentifier.identifier_id)
        .where(AdIdentifier.ad_id == ad_id)
        .order_by(Identifier.kind, Identifier.value)
    ).all()
    marks: dict[str, list[tuple[int, int, str, str]]] = {f: [] for f in TEXT_FIELDS}
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for occ, ident in occurrences:
        key = (ident.kind, ident.value)
        entry = seen.setdefault(
            key,
            {"kind": ident.kind, "value": ident.value, "fields": set(), "written": [],
             "channel": None},
        )  # fmt: skip
        entry["fields"].add(occ.field)
        if occ.match not in entry["written"]:
            entry["written"].append(occ.match)
        entry["channel"] = entry["channel"] or occ.channel
        text = getattr(ad, occ.field, None) if occ.field in TEXT_FIELDS else None
        if text:
            span = _locate(text, occ.start, occ.end, occ.match)
            if span is not None:
                marks[occ.field].append((*span, ident.kind, ident.value))
    view.identifiers = [{**e, "fields": ", ".join(sorted(e["fields"]))} for e in seen.values()]
    for name in TEXT_FIELDS:
        view.fields[name] = segments(getattr(ad, name) or "", marks[name])

    sightings = session.execute(
        select(Sighting, Capture.url)
        .outerjoin(Capture, Capture.id == Sighting.capture_id)
        .where(Sighting.ad_id == ad_id)
        .order_by(Sighting.seen_at)
    ).all()
    view.sightings = [
        {"seen_at": utc(s.seen_at), "url": url, "capture_id": s.capture_id, "text": s.text_sha256}
        for s, url in sightings
    ]
    capture_ids = {ad.capture_id, ad.first_capture_id} | {s.capture_id for s, _ in sightings}
    capture_ids |= {occ.capture_id for occ, _ in occurrences}
    captures = session.execute(
        select(Capture, WarcFile.path)
        .outerjoin(WarcFile, WarcFile.id == Capture.warc_file_id)
        .where(Capture.id.in_([c for c in capture_ids if c is not None]))
        .order_by(Capture.fetched_at, Capture.id)
    ).all()
    view.captures = [_capture(c, path) for c, path in captures]

    images = session.execute(
        select(AdImage, Image)
        .outerjoin(Image, Image.id == AdImage.image_id)
        .where(AdImage.ad_id == ad_id)
        .order_by(AdImage.id)
    ).all()
    view.images = [
        {
            "id": ai.id,
            "url": ai.url,
            "sha256": img.sha256 if img else None,
            "phash": img.phash if img else None,
            "flagged": bool(img and img.flagged),
            "stored": ai.capture_id is not None and img is not None,
        }
        for ai, img in images
    ]

    links = session.execute(
        select(Link).where(or_(Link.ad_a == ad_id, Link.ad_b == ad_id)).order_by(Link.weight.desc())
    ).scalars()
    others: list[dict[str, Any]] = []
    for link in links:
        other = link.ad_b if link.ad_a == ad_id else link.ad_a
        others.append({"ad_id": other, "kind": link.kind, "reason": link.reason,
                       "weight": link.weight})  # fmt: skip
    if others:
        titles = dict(
            session.execute(
                select(Ad.id, Ad.title).where(Ad.id.in_([o["ad_id"] for o in others]))
            ).all()
        )
        for o in others:
            o["title"] = titles.get(o["ad_id"])
    view.links = others
    return view


def image_source(session: Session, ad_image_id: int) -> tuple[str, int, bool] | None:
    """(WARC path, record offset, flagged) of a stored advert image, or None."""
    row = session.execute(
        select(WarcFile.path, Capture.offset, Image.flagged)
        .select_from(AdImage)
        .join(Capture, Capture.id == AdImage.capture_id)
        .join(WarcFile, WarcFile.id == Capture.warc_file_id)
        .outerjoin(Image, Image.id == AdImage.image_id)
        .where(AdImage.id == ad_image_id)
    ).first()
    if row is None or row[1] is None:
        return None
    return row[0], int(row[1]), bool(row[2])
