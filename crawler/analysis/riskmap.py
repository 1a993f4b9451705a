"""The platform risk map: where networks and indicators concentrate, and how platforms connect."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.store.models import (
    Ad,
    AdIdentifier,
    AdImage,
    AdIndicator,
    AdNetwork,
    Crawl,
    Link,
    Network,
    Platform,
    utc,
)


@dataclass
class PlatformRisk:
    name: str
    ads: int = 0
    identifiers: int = 0
    in_networks: int = 0
    indicator_ads: dict[str, int] = field(default_factory=dict)
    risk_score: float = 0.0
    """Mean indicator weight per advert: a ranking aid for review."""

    @property
    def network_share(self) -> float:
        return self.in_networks / self.ads if self.ads else 0.0

    def indicator_share(self, indicator: str) -> float:
        return self.indicator_ads.get(indicator, 0) / self.ads if self.ads else 0.0


@dataclass
class RiskMap:
    platforms: dict[str, PlatformRisk]
    shared_identifiers: dict[tuple[str, str], int]
    shared_images: dict[tuple[str, str], int]
    text_links: dict[tuple[str, str], int]
    crawls: list[dict[str, Any]]
    first_seen: dict[str, dict[str, int]]

    def cross_links(self) -> dict[tuple[str, str], int]:
        """All shared identifiers + images + stored text links between two platforms."""
        out: dict[tuple[str, str], int] = defaultdict(int)
        for table in (self.shared_identifiers, self.shared_images, self.text_links):
            for pair, n in table.items():
                out[pair] += n
        return dict(out)


def _pairs(groups: dict[Any, set[str]]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = defaultdict(int)
    for platforms in groups.values():
        for a, b in combinations(sorted(platforms), 2):
            out[(a, b)] += 1
    return dict(out)


def build_risk_map(session: Session, strong: bool = True) -> RiskMap:
    """Per-platform counts and what platforms share; one query per helper below."""
    names = dict(session.execute(select(Platform.id, Platform.name)).all())
    ad_platform = {ad: names[p] for ad, p in session.execute(select(Ad.id, Ad.platform_id))}
    platforms = {n: PlatformRisk(n) for n in sorted(names.values())}
    for name in ad_platform.values():
        platforms[name].ads += 1
    ident_platforms = _count_identifiers(session, ad_platform, platforms)
    _count_networked(session, ad_platform, platforms, strong)
    _count_indicators(session, ad_platform, platforms)
    image_platforms = _image_platforms(session, ad_platform)
    text_links = _text_links(session, ad_platform)
    crawls = _crawls(session, names)
    first_seen = _first_seen(session, names)
    return RiskMap(
        platforms=platforms,
        shared_identifiers=_pairs(ident_platforms),
        shared_images=_pairs(image_platforms),
        text_links=dict(text_links),
        crawls=crawls,
        first_seen={k: dict(v) for k, v in first_seen.items()},
    )


def _count_identifiers(
    session: Session, ad_platform: dict[int, str], platforms: dict[str, PlatformRisk]
) -> dict[int, set[str]]:
    """Count each platform's distinct identifiers; return the platforms of each identifier."""
    ident_platforms: dict[int, set[str]] = defaultdict(set)
    per_platform_idents: dict[str, set[int]] = defaultdict(set)
    for ad, ident in session.execute(select(AdIdentifier.ad_id, AdIdentifier.identifier_id)):
        name = ad_platform.get(ad)
        if name:
            ident_platforms[ident].add(name)
            per_platform_idents[name].add(ident)
    for name, idents in per_platform_idents.items():
        platforms[name].identifiers = len(idents)
    return ident_platforms


def _count_networked(
    session: Session,
    ad_platform: dict[int, str],
    platforms: dict[str, PlatformRisk],
    strong: bool,
) -> None:
    """Count each platform's adverts that are in a (strong or weak) network."""
    networked = set(
        session.scalars(
            select(AdNetwork.ad_id)
            .join(Network, Network.id == AdNetwork.network_id)
            .where(Network.strong == strong)
        )
    )
    for ad in networked:
        if ad in ad_platform:
            platforms[ad_platform[ad]].in_networks += 1


def _count_indicators(
    session: Session, ad_platform: dict[int, str], platforms: dict[str, PlatformRisk]
) -> None:
    """Adverts per indicator and the mean indicator weight per advert, by platform."""
    counts: dict[tuple[str, str], set[int]] = defaultdict(set)
    weights: dict[str, float] = defaultdict(float)
    for ad, indicator, weight in session.execute(
        select(AdIndicator.ad_id, AdIndicator.indicator, AdIndicator.weight)
    ):
        if ad in ad_platform:
            counts[(ad_platform[ad], indicator)].add(ad)
            weights[ad_platform[ad]] += weight
    for (name, indicator), ads in counts.items():
        platforms[name].indicator_ads[indicator] = len(ads)
    for name, p in platforms.items():
        p.risk_score = round(weights[name] / p.ads, 3) if p.ads else 0.0


def _image_platforms(session: Session, ad_platform: dict[int, str]) -> dict[int, set[str]]:
    """The platforms each stored image appears on."""
    image_platforms: dict[int, set[str]] = defaultdict(set)
    for ad, image in session.execute(
        select(AdImage.ad_id, AdImage.image_id).where(AdImage.image_id.is_not(None))
    ):
        if ad in ad_platform:
            image_platforms[image].add(ad_platform[ad])
    return image_platforms


def _text_links(session: Session, ad_platform: dict[int, str]) -> dict[tuple[str, str], int]:
    """Near-duplicate text links between adverts of two different platforms, per pair."""
    text_links: dict[tuple[str, str], int] = defaultdict(int)
    for a, b in session.execute(select(Link.ad_a, Link.ad_b).where(Link.kind == "text")):
        pa, pb = ad_platform.get(a), ad_platform.get(b)
        if pa and pb and pa != pb:
            text_links[tuple(sorted((pa, pb)))] += 1  # type: ignore[index]
    return text_links


def _crawls(session: Session, names: dict[int, str]) -> list[dict[str, Any]]:
    """Every crawl in start order, with its platform's name."""
    return [
        {
            "platform": names.get(pid, str(pid)),
            "started_at": utc(started),
            "ads": ads,
            "new_ads": new,
        }
        for pid, started, ads, new in session.execute(
            select(Crawl.platform_id, Crawl.started_at, Crawl.ads, Crawl.new_ads).order_by(
                Crawl.started_at
            )
        )
    ]


def _first_seen(session: Session, names: dict[int, str]) -> dict[str, dict[str, int]]:
    """New adverts per platform and day."""
    first_seen: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pid, day, n in session.execute(
        select(Ad.platform_id, func.date(Ad.first_seen), func.count(Ad.id)).group_by(
            Ad.platform_id, func.date(Ad.first_seen)
        )
    ):
        first_seen[names.get(pid, str(pid))][str(day)] += n
    return first_seen
