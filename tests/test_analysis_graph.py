"""Union-find, the tiered spanning forest, and the linker's spanning set of reasons."""

from __future__ import annotations

import pytest

from crawler.analysis.analysis_config import load_config
from crawler.analysis.graph import SpanningForest, UnionFind
from crawler.analysis.linking import Linker, Member


def test_union_find_groups() -> None:
    uf: UnionFind[int] = UnionFind()
    assert uf.union(1, 2) and uf.union(3, 4) and uf.union(2, 3)
    assert not uf.union(1, 4)
    assert sorted(sorted(g) for g in uf.groups().values()) == [[1, 2, 3, 4]]
    assert not uf.connected(1, 5)


def test_one_phone_on_5000_adverts_stores_4999_edges_not_12_million() -> None:
    linker = Linker(load_config().linking)
    members = [Member(i, capture=1000 + i) for i in range(5000)]
    kept = linker.link_group("phone", "+447700900123", members, {"kind": "phone"})
    assert kept == 4999 == len(linker.edges)
    edge = linker.edges[0]
    assert edge.reason == "shared phone +447700900123" and edge.capture_a == 1000
    assert linker.link_group("phone", "+447700900123", members, {}) == 0  # nothing new


def test_weaker_edge_between_connected_adverts_is_not_stored() -> None:
    forest: SpanningForest[int] = SpanningForest([1.0, 0.5])
    assert forest.offer(1, 2, 1.0)
    assert not forest.offer(1, 2, 0.5)


def test_stronger_edge_after_weaker_one_is_stored_so_strong_networks_stay_exact() -> None:
    forest: SpanningForest[int] = SpanningForest([1.0, 0.5])
    assert forest.offer(1, 2, 0.5)  # text first
    assert not forest.tier(1.0).connected(1, 2)
    assert forest.offer(1, 2, 1.0)  # then a shared phone: needed for the strong view
    assert forest.tier(1.0).connected(1, 2)


def test_tiers_partition_by_weight() -> None:
    forest: SpanningForest[int] = SpanningForest([1.0, 0.8, 0.5])
    forest.offer(1, 2, 1.0)
    forest.offer(2, 3, 0.5)
    forest.offer(4, 5, 0.8)
    assert forest.tier(0.7).connected(4, 5) and not forest.tier(0.7).connected(2, 3)
    assert forest.tier(0.0).connected(1, 3)
    assert not forest.tier(0.9).connected(4, 5)


def test_unknown_weight_is_rejected() -> None:
    forest: SpanningForest[int] = SpanningForest([1.0])
    with pytest.raises(ValueError):
        forest.offer(1, 2, 0.3)


def test_identifier_max_ads_skips_hub_numbers() -> None:
    from dataclasses import replace

    config = replace(load_config().linking, identifier_max_ads=10)
    linker = Linker(config)
    assert linker.link_group("phone", "+100", [Member(i) for i in range(11)], {}) == 0
    assert linker.skipped_groups == [("phone", "+100", 11)]


def test_text_links_join_templated_adverts_with_rotating_phones() -> None:
    from crawler.analysis.textnorm import normalise

    linker = Linker(load_config().linking)
    template = (
        "Experienced hostess for exhibitions and gala dinners, fluent in three languages, "
        "discreet and punctual, represented by Harbour View agency since twenty sixteen."
    )
    names = ["Amelia", "Chloe", "Sophie"]
    texts = [normalise(f"I am {n}. {template}", names=[n]) for n in names]
    texts.append(normalise("Dance partner for ballroom classes on Tuesdays near the old park."))
    rows = linker.signer.signatures(texts)
    kept = linker.link_texts([(i, rows[i], 100 + i) for i in range(4)])
    assert kept == 2
    assert {(e.a, e.b) for e in linker.edges} <= {(0, 1), (0, 2), (1, 2)}
    assert all(e.kind == "text" and "Jaccard" in e.reason for e in linker.edges)
    assert not linker.forest.tier(0.0).connected(0, 3)
