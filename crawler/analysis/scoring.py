"""How well the analysis recovers the fixture web's planted networks (``truth.json``).

Pairwise "same network": every pair of adverts that are both in the store
and in the truth is a true pair when the truth puts them in one network, and
a predicted pair when the analysis does. Precision and recall over those
pairs, for networks over all links and over strong links only. Also the
false-positive rate of each indicator on the truth's independent advertisers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.store.models import Ad, AdIndicator, AdNetwork, Network, Platform


def _pairs(groups: dict[Any, list[int]]) -> int:
    return sum(len(m) * (len(m) - 1) // 2 for m in groups.values())


def store_keys(session: Session) -> dict[str, int]:
    """``platform:external_id`` → ad id."""
    rows = session.execute(
        select(Platform.name, Ad.external_id, Ad.id).join(Platform, Platform.id == Ad.platform_id)
    )
    return {f"{p}:{e}": i for p, e, i in rows}


def _pairwise(truth_of: dict[int, str | None], predicted_of: dict[int, int]) -> dict[str, Any]:
    true_groups: dict[str, list[int]] = defaultdict(list)
    pred_groups: dict[int, list[int]] = defaultdict(list)
    both: Counter[tuple[str, int]] = Counter()
    for ad, net in truth_of.items():
        if net:
            true_groups[net].append(ad)
        pred = predicted_of.get(ad)
        if pred is not None:
            pred_groups[pred].append(ad)
            if net:
                both[(net, pred)] += 1
    tp = sum(n * (n - 1) // 2 for n in both.values())
    true_pairs, pred_pairs = _pairs(true_groups), _pairs(pred_groups)
    return {
        "precision": round(tp / pred_pairs, 4) if pred_pairs else 1.0,
        "recall": round(tp / true_pairs, 4) if true_pairs else 1.0,
        "true_pairs": true_pairs,
        "predicted_pairs": pred_pairs,
        "correct_pairs": tp,
        "networks_found": sum(1 for m in pred_groups.values() if len(m) > 1),
    }


def score_networks(
    session: Session, truth: dict[str, Any], default: str = "strong"
) -> dict[str, Any]:
    """Pairwise precision/recall of "same network" against ``truth``.

    Both network views are scored (``all_links``, ``strong_links``); the
    top-level ``precision`` / ``recall`` are those of the ``default`` view
    (the ``[networks] default`` of the analysis configuration).
    """
    keys = store_keys(session)
    truth_of = {keys[f"{a['platform']}:{a['external_id']}"]: a.get("network")
                for a in truth["ads"] if f"{a['platform']}:{a['external_id']}" in keys}  # fmt: skip
    out: dict[str, Any] = {
        "ads_scored": len(truth_of),
        "ads_in_truth": len(truth["ads"]),
        "planted_networks": len({n for n in truth_of.values() if n}),
    }
    for strong, name in ((False, "all_links"), (True, "strong_links")):
        predicted = dict(
            session.execute(
                select(AdNetwork.ad_id, AdNetwork.network_id)
                .join(Network, Network.id == AdNetwork.network_id)
                .where(Network.strong == strong)
            ).all()
        )
        out[name] = _pairwise(truth_of, predicted)
    view = "strong_links" if default == "strong" else "all_links"
    out["default"] = view
    out["precision"] = out[view]["precision"]
    out["recall"] = out[view]["recall"]
    return out


def indicator_false_positive_rates(session: Session, truth: dict[str, Any]) -> dict[str, Any]:
    """Share of the truth's independent adverts (no network) each indicator fires on."""
    keys = store_keys(session)
    independent = {
        keys[k]
        for a in truth["ads"]
        if not a.get("network") and (k := f"{a['platform']}:{a['external_id']}") in keys
    }
    fired: dict[str, set[int]] = defaultdict(set)
    for ad, indicator in session.execute(select(AdIndicator.ad_id, AdIndicator.indicator)):
        if ad in independent:
            fired[indicator].add(ad)
    total = len(independent)
    return {
        "independent_ads": total,
        "seed": truth.get("seed"),
        "rates": {k: round(len(v) / total, 4) if total else 0.0 for k, v in fired.items()},
    }
