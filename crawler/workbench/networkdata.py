"""The networks pages' data: networks, their members and links, decisions, a drawing.

The drawing is computed here (members on a circle, one line per link) and
drawn by the template as inline SVG with presentation attributes only, so
the strict CSP needs no exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crawler.analysis.decisions import history, in_force, pair_kind
from crawler.store.models import Ad, AdNetwork, Link, Network, Platform

SIZE = 360
MAX_DRAWN = 60


@dataclass
class NetworkView:
    network: Network
    members: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    points: dict[int, tuple[float, float]] = field(default_factory=dict)
    size: int = SIZE


def list_all(session: Session, strong: bool, limit: int = 500) -> list[Network]:
    return list(
        session.scalars(
            select(Network)
            .where(Network.strong == strong)
            .order_by(Network.score.desc(), Network.size.desc(), Network.id)
            .limit(limit)
        )
    )


def load(session: Session, network_id: int) -> NetworkView | None:
    network = session.get(Network, network_id)
    if network is None:
        return None
    view = NetworkView(network)
    ids = list(session.scalars(select(AdNetwork.ad_id).where(AdNetwork.network_id == network_id)))
    rows = session.execute(
        select(Ad.id, Ad.title, Ad.name, Platform.name)
        .join(Platform, Platform.id == Ad.platform_id)
        .where(Ad.id.in_(ids))
        .order_by(Ad.id)
    ).all()
    view.members = [{"id": i, "title": t, "name": n, "platform": p} for i, t, n, p in rows]
    # Links among the members, and links of theirs a reviewer rejected (so they can be undone).
    decided = in_force(session)
    links = session.scalars(
        select(Link)
        .where(or_(Link.ad_a.in_(ids), Link.ad_b.in_(ids)))
        .order_by(Link.weight.desc(), Link.id)
    ).all()
    member_set = set(ids)
    chosen = []
    for link in links:
        key = pair_kind(link.ad_a, link.ad_b, link.kind)
        inside = link.ad_a in member_set and link.ad_b in member_set
        if inside or decided.get(key) == "reject":
            chosen.append((link, key))
    past = history(session, {key for _, key in chosen})
    for link, key in chosen:
        view.links.append({
            "id": link.id, "a": link.ad_a, "b": link.ad_b, "kind": link.kind,
            "weight": link.weight, "reason": link.reason,
            "status": {"accept": "confirmed", "reject": "rejected"}.get(decided.get(key, ""), "open"),
            "history": past.get(key, []),
        })  # fmt: skip
    drawn = ids[:MAX_DRAWN]
    n = len(drawn)
    r = SIZE / 2 - 24
    for i, ad_id in enumerate(drawn):
        angle = 2 * math.pi * i / max(n, 1) - math.pi / 2
        view.points[ad_id] = (round(SIZE / 2 + r * math.cos(angle), 1),
                              round(SIZE / 2 + r * math.sin(angle), 1))  # fmt: skip
    return view


def holding(session: Session, ad_id: int) -> int | None:
    """A network (strong ones first) that holds ``ad_id``, if any."""
    return session.scalar(
        select(Network.id)
        .join(AdNetwork, AdNetwork.network_id == Network.id)
        .where(AdNetwork.ad_id == ad_id)
        .order_by(Network.strong.desc(), Network.id)
        .limit(1)
    )
