"""Read-side of the analysis: one network with everything that explains it."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.store.models import (
    Ad,
    AdIdentifier,
    AdImage,
    AdIndicator,
    AdNetwork,
    Capture,
    Identifier,
    Image,
    Link,
    Network,
    Platform,
    WarcFile,
    utc,
)


class UnknownNetwork(LookupError):
    """No network with that label (or the store has not been analysed)."""


def capture_refs(session: Session, ids: set[int | None]) -> dict[int, dict[str, Any]]:
    """Capture id → where the proof is: WARC file, offset, record id, digests, time."""
    wanted = [i for i in ids if i is not None]
    out: dict[int, dict[str, Any]] = {}
    for lo in range(0, len(wanted), 500):
        rows = session.execute(
            select(Capture, WarcFile.path)
            .outerjoin(WarcFile, WarcFile.id == Capture.warc_file_id)
            .where(Capture.id.in_(wanted[lo : lo + 500]))
        )
        for cap, path in rows:
            out[cap.id] = {
                "capture_id": cap.id,
                "url": cap.url,
                "fetched_at": (utc(cap.fetched_at) or cap.fetched_at).isoformat(),
                "warc_file": path,
                "offset": cap.offset,
                "length": cap.length,
                "record_id": cap.record_id,
                "payload_sha256": cap.payload_sha256,
            }
    return out


def list_networks(session: Session, strong: bool, limit: int = 0) -> list[Network]:
    query = (
        select(Network)
        .where(Network.strong == strong)
        .order_by(Network.score.desc(), Network.size.desc(), Network.id)
    )
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def network_detail(session: Session, label: str) -> dict[str, Any]:
    """Everything about network ``label``: adverts, identifiers, reasons, images, captures."""
    network = session.scalar(select(Network).where(Network.label == label.strip().upper()))
    if network is None:
        known = session.scalar(select(func.count(Network.id)))
        hint = " (no networks stored: run `adarchive analyze` first)"
        if known:
            near = [f"S-{label.strip()}", f"N-{label.strip()}"] if label.strip().isdigit() else []
            have = sorted(session.scalars(select(Network.label).where(Network.label.in_(near))))
            guess = f"; did you mean {' or '.join(reversed(have))}?" if have else ""
            hint = f" (networks are labelled S-N or N-N{guess} `adarchive networks` lists them)"
        raise UnknownNetwork(f"no network {label!r}{hint}")
    ad_ids = list(
        session.scalars(select(AdNetwork.ad_id).where(AdNetwork.network_id == network.id))
    )
    ads = session.execute(
        select(Ad, Platform.name)
        .join(Platform, Platform.id == Ad.platform_id)
        .where(Ad.id.in_(ad_ids))
        .order_by(Platform.name, Ad.external_id)
    ).all()
    indicators: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ad_id, name, weight, evidence, cap in session.execute(
        select(AdIndicator.ad_id, AdIndicator.indicator, AdIndicator.weight,
               AdIndicator.evidence, AdIndicator.capture_id).where(AdIndicator.ad_id.in_(ad_ids))
    ):  # fmt: skip
        indicators[ad_id].append({"indicator": name, "weight": weight,
                                  "evidence": json.loads(evidence), "capture_id": cap})  # fmt: skip
    idents: dict[tuple[str, str], set[int]] = defaultdict(set)
    for ad_id, kind, value in session.execute(
        select(AdIdentifier.ad_id, Identifier.kind, Identifier.value)
        .join(Identifier, Identifier.id == AdIdentifier.identifier_id)
        .where(AdIdentifier.ad_id.in_(ad_ids))
    ):
        idents[(kind, value)].add(ad_id)
    links = list(
        session.scalars(
            select(Link)
            .where(Link.ad_a.in_(ad_ids), Link.ad_b.in_(ad_ids))
            .order_by(Link.weight.desc(), Link.id)
        )
    )
    if network.strong:
        links = [link for link in links if link.weight >= _strong_min(session)]
    images = session.execute(
        select(AdImage.ad_id, AdImage.url, AdImage.capture_id, Image.id, Image.sha256,
               Image.phash, Image.flagged)
        .join(Image, Image.id == AdImage.image_id)
        .where(AdImage.ad_id.in_(ad_ids))
        .order_by(AdImage.ad_id, AdImage.id)
    ).all()  # fmt: skip
    captures = {ad.capture_id for ad, _ in ads} | {
        c for link in links for c in (link.capture_a, link.capture_b)
    }
    captures |= {row[2] for row in images}
    refs = capture_refs(session, captures)
    return {
        "label": network.label,
        "strong": network.strong,
        "size": network.size,
        "platforms": network.platforms,
        "score": network.score,
        "first_seen": network.first_seen,
        "last_seen": network.last_seen,
        "ads": [
            {
                "id": ad.id,
                "platform": platform,
                "external_id": ad.external_id,
                "url": ad.url,
                "name": ad.name,
                "age": ad.age,
                "location": ad.location,
                "title": ad.title,
                "capture": refs.get(ad.capture_id),
                "indicators": indicators.get(ad.id, []),
            }
            for ad, platform in ads
        ],  # fmt: skip
        "identifiers": [
            {"kind": k, "value": v, "ads": len(a)}
            for (k, v), a in sorted(idents.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ],
        "links": [
            {
                "a": link.ad_a,
                "b": link.ad_b,
                "kind": link.kind,
                "weight": link.weight,
                "reason": link.reason,
                "detail": json.loads(link.detail),
                "capture_a": refs.get(link.capture_a),
                "capture_b": refs.get(link.capture_b),
            }
            for link in links
        ],  # fmt: skip
        "images": [
            {
                "ad": ad_id,
                "url": url,
                "capture": refs.get(cap),
                "image_id": image_id,
                "sha256": sha,
                "phash": phash,
                "flagged": flagged,
            }
            for ad_id, url, cap, image_id, sha, phash, flagged in images
        ],  # fmt: skip
    }


def _strong_min(session: Session) -> float:
    from crawler.store.models import AnalysisRun

    raw = session.scalar(
        select(AnalysisRun.config_json)
        .where(AnalysisRun.status == "finished")
        .order_by(AnalysisRun.id.desc())
        .limit(1)
    )
    if not raw:
        return 0.7
    return float(json.loads(raw).get("linking", {}).get("strong_min_weight", 0.7))
