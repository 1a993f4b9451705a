"""Union-find and the spanning set of links that networks are made of.

A phone on 5,000 adverts links every pair of them, but 4,999 edges prove the
same network. :class:`SpanningForest` keeps only edges that join two groups
not yet joined at that strength, per weight tier: the stored edges of weight
≥ t connect exactly the adverts that all links of weight ≥ t connect, for
every tier t. So "strong links only" networks need no second computation,
and each stored edge is a reason a human can check.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class UnionFind(Generic[K]):
    """Disjoint sets with path halving and union by size."""

    def __init__(self) -> None:
        self.parent: dict[K, K] = {}
        self.size: dict[K, int] = {}

    def find(self, x: K) -> K:
        parent = self.parent
        if x not in parent:
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def connected(self, a: K, b: K) -> bool:
        return self.find(a) == self.find(b)

    def union(self, a: K, b: K) -> bool:
        """Join the sets of ``a`` and ``b``; False if they were already one."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        parent, size = self.parent, self.size
        for r in (ra, rb):
            if r not in parent:
                parent[r] = r
                size[r] = 1
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size.pop(rb)
        return True

    def groups(self) -> dict[K, list[K]]:
        """Root → members, for every element that was ever joined to another."""
        out: dict[K, list[K]] = {}
        for x in self.parent:
            out.setdefault(self.find(x), []).append(x)
        return out


class SpanningForest(Generic[K]):
    """Decides which offered edges to keep, one union-find per weight tier.

    ``offer(a, b, w)`` keeps the edge iff ``a`` and ``b`` are not yet connected
    by kept edges of weight ≥ ``w``. Offer strong edges first (within a batch)
    to keep the fewest, most convincing edges.
    """

    def __init__(self, weights: Iterable[float]) -> None:
        self.tiers = sorted({float(w) for w in weights if w > 0}, reverse=True)
        if not self.tiers:
            raise ValueError("no positive link weight: every link kind is switched off")
        self._uf: dict[float, UnionFind[K]] = {w: UnionFind() for w in self.tiers}

    def tier(self, min_weight: float) -> UnionFind[K]:
        """The union-find of all edges with weight ≥ ``min_weight``."""
        eligible = [w for w in self.tiers if w >= min_weight]
        if not eligible:
            return UnionFind()
        return self._uf[min(eligible)]

    def connected(self, a: K, b: K, weight: float) -> bool:
        return self._uf[self._tier_of(weight)].connected(a, b)

    def _tier_of(self, weight: float) -> float:
        weight = float(weight)
        if weight not in self._uf:
            raise ValueError(f"weight {weight} is not one of the configured tiers {self.tiers}")
        return weight

    def offer(self, a: K, b: K, weight: float) -> bool:
        """Add the edge to every tier it belongs to; True if it must be stored."""
        if a == b:
            return False
        own = self._tier_of(weight)
        if self._uf[own].connected(a, b):
            return False
        for w in self.tiers:
            if w <= own:
                self._uf[w].union(a, b)
        return True
