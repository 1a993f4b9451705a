"""Read-only questions analysts ask of the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from crawler.store.models import Ad, AdIdentifier, Identifier


def identifier_counts(
    session: Session,
    kind: str | None = None,
    min_ads: int = 1,
    limit: int = 0,
    only: Sequence[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """Identifiers with the number of distinct ads and platforms they appear on, most-used first."""
    ads = func.count(func.distinct(AdIdentifier.ad_id)).label("ads")
    platforms = func.count(func.distinct(Ad.platform_id)).label("platforms")
    query = (
        select(Identifier.kind, Identifier.value, ads, platforms)
        .join(AdIdentifier, AdIdentifier.identifier_id == Identifier.id)
        .join(Ad, Ad.id == AdIdentifier.ad_id)
        .group_by(Identifier.id, Identifier.kind, Identifier.value)
        .having(ads >= min_ads)
        .order_by(ads.desc(), platforms.desc(), Identifier.kind, Identifier.value)
    )
    if kind:
        query = query.where(Identifier.kind == kind)
    if only:
        query = query.where(tuple_(Identifier.kind, Identifier.value).in_(list(only)))
    if limit:
        query = query.limit(limit)
    return [
        {"kind": k, "value": v, "ads": int(a), "platforms": int(p)}
        for k, v, a, p in session.execute(query)
    ]
