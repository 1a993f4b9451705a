"""Typed, weighted links between adverts, offered strongest first to a spanning forest.

Pure logic on integer ad ids (no store): ``crawler.analysis.analyze`` feeds it
from the store, ``bench/linking_scale.py`` from synthetic data. Each kept
:class:`Edge` says why (``reason``) and carries the captures that prove each
side, so a reviewer can open both pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crawler.analysis.analysis_config import LinkingConfig
from crawler.analysis.graph import SpanningForest
from crawler.analysis.minhash import Signer, TextIndex, estimated_jaccard
from crawler.analysis.phash import PhashIndex


@dataclass
class Edge:
    a: int
    b: int
    kind: str
    weight: float
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)
    capture_a: int | None = None
    capture_b: int | None = None


@dataclass(frozen=True)
class Member:
    """One advert in a group that shares something, with the capture proving it."""

    ad: int
    capture: int | None = None


class Linker:
    """Collects the edges worth storing; remembers everything offered so far."""

    def __init__(self, config: LinkingConfig) -> None:
        self.config = config
        self.forest: SpanningForest[int] = SpanningForest(config.weights.values())
        self.signer = Signer(config.signature)
        self.text_index = TextIndex(self.signer, config.jaccard_threshold)
        self.edges: list[Edge] = []
        self.skipped_groups: list[tuple[str, str, int]] = []

    # -- restoring earlier runs

    def restore(self, a: int, b: int, weight: float) -> None:
        """Replay a stored edge (from an earlier run) without emitting it again."""
        if weight in self.forest.tiers:
            self.forest.offer(a, b, weight)

    def offer(self, edge: Edge) -> bool:
        if self.forest.offer(edge.a, edge.b, edge.weight):
            self.edges.append(edge)
            return True
        return False

    # -- shared values: identifiers, exact images, poster accounts

    def link_group(
        self, kind: str, label: str, members: Sequence[Member], detail: dict[str, Any]
    ) -> int:
        """Star edges from the first member to the others of one shared value."""
        weight = self.config.weight(kind)
        if weight <= 0 or len(members) < 2:
            return 0
        limit = self.config.identifier_max_ads
        if limit and len(members) > limit and kind not in ("image_sha256", "text"):
            self.skipped_groups.append((kind, label, len(members)))
            return 0
        hub = members[0]
        kept = 0
        reason = f"shared {kind.replace('_', ' ')} {label}"
        for other in members[1:]:
            kept += self.offer(
                Edge(
                    hub.ad,
                    other.ad,
                    kind,
                    weight,
                    reason,
                    {**detail, "ads": len(members)},
                    hub.capture,
                    other.capture,
                )  # fmt: skip
            )
        return kept

    # -- perceptual image hashes

    def link_phashes(
        self,
        index: PhashIndex,
        queries: Iterable[tuple[int, str]],
        members: dict[int, Sequence[Member]],
    ) -> int:
        """Edges between adverts whose images are within the pHash distance.

        ``queries`` are (image id, pHash) of the images to look up (already in
        ``index`` or not); ``members`` maps image id → adverts showing it.
        """
        weight = self.config.weight("image_phash")
        if weight <= 0:
            return 0
        kept = 0
        for image_id, phash in queries:
            mine = members.get(image_id)
            if not mine:
                continue
            for other_id, distance in sorted(index.near(phash).items(), key=lambda kv: kv[1]):
                theirs = members.get(other_id)  # type: ignore[call-overload]
                if other_id == image_id or not theirs:
                    continue
                a, b = mine[0], theirs[0]
                kept += self.offer(
                    Edge(
                        a.ad,
                        b.ad,
                        "image_phash",
                        weight,
                        f"similar image (pHash {distance} bits apart)",
                        {"image_a": image_id, "image_b": other_id, "hamming": distance},
                        a.capture,
                        b.capture,
                    )  # fmt: skip
                )
        return kept

    # -- near-duplicate text

    def add_old_text(self, ad: int, row: np.ndarray) -> None:
        """Index an already-linked advert's signature (no queries)."""
        self.text_index.add(ad, row)

    def link_texts(self, new: Sequence[tuple[int, np.ndarray, int | None]],
                   captures: dict[int, int | None] | None = None) -> int:  # fmt: skip
        """Query each new signature against everything indexed so far, then index it."""
        weight = self.config.weight("text")
        index = self.text_index
        captures = captures or {}
        kept = 0
        for ad, row, capture in new:
            if weight > 0:
                for other in index.candidates(row):
                    if other == ad or self.forest.connected(ad, other, weight):
                        continue
                    score = estimated_jaccard(row, index.rows[other])
                    if score < index.threshold:
                        continue
                    kept += self.offer(
                        Edge(
                            other,
                            ad,
                            "text",
                            weight,
                            f"near-duplicate text (Jaccard ≈ {score:.2f})",
                            {"jaccard": round(score, 3)},
                            captures.get(other),
                            capture,
                        )  # fmt: skip
                    )
            index.add(ad, row)
        return kept
