"""`adarchive analyze`: links, networks, flagged images and indicators, into the store.

Incremental: text signatures are kept per ad (``ad_text``) and only new or
changed adverts are signed and looked up; identifier and image groups are only
revisited when a new ``ad_identifier`` / ``ad_image`` row touches them; the
stored links are replayed into the spanning forest so nothing already linked
is linked again. Networks, flags and indicators are recomputed from the
stored links and facts every run (linear, cheap). A change of the
``[linking]`` configuration, or ``--full``, relinks from scratch.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from crawler.analysis.analysis_config import IDENTIFIER_KINDS, AnalysisConfig
from crawler.analysis.decisions import pair_kind, rejected
from crawler.analysis.graph import UnionFind
from crawler.analysis.indicators import AdFacts, Contact, IndicatorContext, evaluate
from crawler.analysis.knownhashes import KnownHashes
from crawler.analysis.linking import Linker, Member
from crawler.analysis.minhash import signature_bytes, signature_from_bytes
from crawler.analysis.phash import PhashIndex
from crawler.analysis.textnorm import informative_length, normalise
from crawler.store.models import (
    Ad,
    AdIdentifier,
    AdImage,
    AdIndicator,
    AdNetwork,
    AdText,
    AnalysisRun,
    Identifier,
    Image,
    Link,
    Network,
    Platform,
    Sighting,
    utc,
    utcnow,
)

T = TypeVar("T")
CHUNK = 500


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for lo in range(0, len(values), size):
        yield values[lo : lo + size]


def _last_run(session: Session) -> AnalysisRun | None:
    return session.scalar(
        select(AnalysisRun)
        .where(AnalysisRun.status == "finished")
        .order_by(AnalysisRun.id.desc())
        .limit(1)
    )


def analyze(
    session: Session,
    config: AnalysisConfig,
    *,
    full: bool = False,
    known: KnownHashes | None = None,
) -> dict[str, Any]:
    """Run the whole analysis; commit; return the run's statistics."""
    started = time.monotonic()
    previous = _last_run(session)
    marks: dict[str, int] = {}
    if previous is not None and previous.stats_json:
        marks = json.loads(previous.stats_json).get("marks", {})
    if previous is None or previous.config_sha256 != config.linking_sha256():
        full = True
    run = AnalysisRun(
        started_at=utcnow(),
        status="running",
        full=full,
        config_json=config.to_json(),
        config_sha256=config.linking_sha256(),
    )
    session.add(run)
    session.flush()
    if full:
        session.execute(delete(Link))
        marks = {}
    linker = Linker(config.linking)
    for a, b, w in session.execute(select(Link.ad_a, Link.ad_b, Link.weight)):
        linker.restore(a, b, w)

    stats: dict[str, Any] = {"full": full}
    new_marks = {
        "ad_identifier": session.scalar(select(func.max(AdIdentifier.id))) or 0,
        "ad_image": session.scalar(select(func.max(AdImage.id))) or 0,
        "image": session.scalar(select(func.max(Image.id))) or 0,
        "ad": session.scalar(select(func.max(Ad.id))) or 0,
    }
    stats["identifier_groups"] = _link_identifiers(
        session, linker, config, marks.get("ad_identifier", 0)
    )
    stats["image_groups"] = _link_images(session, linker, config, marks)
    stats["poster_groups"] = _link_posters(session, linker, marks.get("ad", 0))
    stats["texts_signed"] = _link_texts(session, linker, config, run.id)
    if linker.skipped_groups:
        stats["skipped_groups"] = [list(s) for s in linker.skipped_groups[:50]]
    _write_links(session, linker, run.id)
    stats["links_added"] = _count_by_kind(linker)
    stats["flagged_images"] = flag_images(session, known) if known is not None else None
    hits = compute_indicators(session, config, run.id)
    stats["indicators"] = {k: len(v) for k, v in hits.items()}
    stats["networks"], stats["strong_networks"] = build_networks(session, config, run.id)
    stats["ads"] = session.scalar(select(func.count(Ad.id))) or 0
    stats["links_total"] = session.scalar(select(func.count(Link.id))) or 0
    stats["seconds"] = round(time.monotonic() - started, 2)
    stats["marks"] = new_marks
    run.stats_json = json.dumps(stats, sort_keys=True)
    run.status = "finished"
    run.finished_at = utcnow()
    session.commit()
    return stats


def _count_by_kind(linker: Linker) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for edge in linker.edges:
        out[edge.kind] += 1
    return dict(out)


# --------------------------------------------------------------------------- linking


def _link_identifiers(session: Session, linker: Linker, config: AnalysisConfig, mark: int) -> int:
    kinds = [k for k in IDENTIFIER_KINDS if config.linking.enabled(k)]
    if not kinds:
        return 0
    touched = list(
        session.scalars(
            select(AdIdentifier.identifier_id)
            .join(Identifier, Identifier.id == AdIdentifier.identifier_id)
            .where(AdIdentifier.id > mark, Identifier.kind.in_(kinds))
            .distinct()
        )
    )
    groups: dict[int, dict[int, int | None]] = defaultdict(dict)
    info: dict[int, tuple[str, str]] = {}
    for part in chunks(touched):
        rows = session.execute(
            select(
                AdIdentifier.identifier_id,
                AdIdentifier.ad_id,
                func.min(AdIdentifier.capture_id),
                Identifier.kind,
                Identifier.value,
            )
            .join(Identifier, Identifier.id == AdIdentifier.identifier_id)
            .where(AdIdentifier.identifier_id.in_(part))
            .group_by(
                AdIdentifier.identifier_id, AdIdentifier.ad_id, Identifier.kind, Identifier.value
            )
        )
        for ident, ad, capture, kind, value in rows:
            groups[ident][ad] = capture
            info[ident] = (kind, value)
    # Strongest kinds first, so the stored reason is the most convincing one.
    order = sorted(groups, key=lambda i: (-config.linking.weight(info[i][0]), i))
    for ident in order:
        kind, value = info[ident]
        members = [Member(ad, cap) for ad, cap in sorted(groups[ident].items())]
        linker.link_group(
            kind, value, members, {"identifier_id": ident, "kind": kind, "value": value}
        )
    return len(groups)


def _link_images(
    session: Session, linker: Linker, config: AnalysisConfig, marks: dict[str, int]
) -> int:
    sha_on = config.linking.enabled("image_sha256")
    phash_on = config.linking.enabled("image_phash")
    if not (sha_on or phash_on):
        return 0
    touched = list(
        session.scalars(
            select(AdImage.image_id)
            .where(AdImage.id > marks.get("ad_image", 0), AdImage.image_id.is_not(None))
            .distinct()
        )
    )
    if not touched:
        return 0
    members: dict[int, list[Member]] = defaultdict(list)
    image_rows = session.execute(
        select(AdImage.image_id, AdImage.ad_id, func.min(AdImage.capture_id))
        .where(AdImage.image_id.is_not(None))
        .group_by(AdImage.image_id, AdImage.ad_id)
        .order_by(AdImage.image_id, AdImage.ad_id)
    )
    for image_id, ad, capture in image_rows:
        members[image_id].append(Member(ad, capture))
    sha = dict(session.execute(select(Image.id, Image.sha256)).all())
    if sha_on:
        for image_id in sorted(touched):
            linker.link_group(
                "image_sha256", sha[image_id][:16], members[image_id],
                {"image_id": image_id, "sha256": sha[image_id]},
            )  # fmt: skip
    if phash_on:
        index = PhashIndex(config.linking.phash_max_distance)
        phashes = dict(
            session.execute(select(Image.id, Image.phash).where(Image.phash.is_not(None))).all()
        )
        for image_id, phash in phashes.items():
            if members.get(image_id):
                index.add(image_id, phash)
        queries = [(i, phashes[i]) for i in sorted(touched) if i in phashes]
        linker.link_phashes(index, queries, members)
    return len(touched)


def _link_posters(session: Session, linker: Linker, mark: int) -> int:
    if not linker.config.enabled("poster_account"):
        return 0
    touched = set(
        session.execute(
            select(Ad.platform_id, Ad.poster_account)
            .where(Ad.id > mark, Ad.poster_account.is_not(None), Ad.poster_account != "")
            .distinct()
        ).all()
    )
    groups: dict[tuple[int, str], list[Member]] = defaultdict(list)
    rows = session.execute(
        select(Ad.platform_id, Ad.poster_account, Ad.id, Ad.capture_id)
        .where(Ad.poster_account.is_not(None), Ad.poster_account != "")
        .order_by(Ad.id)
    )
    for platform_id, account, ad, capture in rows:
        if (platform_id, account) in touched:
            groups[(platform_id, account)].append(Member(ad, capture))
    for (platform_id, account), members in groups.items():
        linker.link_group("poster_account", account, members,
                          {"platform_id": platform_id, "poster_account": account})  # fmt: skip
    return len(groups)


def advert_text(ad: Ad | Any) -> str:
    """The text compared for near-duplicates: the body, else the title."""
    return (ad.body or "").strip() or (ad.title or "").strip()


def _contact_matches(session: Session, ad_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    for part in chunks(ad_ids):
        for ad, match in session.execute(
            select(AdIdentifier.ad_id, AdIdentifier.match).where(AdIdentifier.ad_id.in_(part))
        ):
            out[ad].append(match)
    return out


def _link_texts(session: Session, linker: Linker, config: AnalysisConfig, run_id: int) -> int:
    params = config.linking.signature
    key = params.key
    stale = list(
        session.execute(
            select(Ad.id, AdText.ad_id)
            .outerjoin(AdText, AdText.ad_id == Ad.id)
            .where(
                (AdText.ad_id.is_(None))
                | (AdText.params != key)
                | (AdText.text_sha256 != Ad.text_sha256)
                | (AdText.text_sha256.is_(None) & Ad.text_sha256.is_not(None))
            )
            .order_by(Ad.id)
        ).all()
    )
    new_ids = [ad for ad, _ in stale]
    existing = {ad for ad, had in stale if had is not None}
    # Everything signed before and unchanged goes into the index first (no queries).
    new_set = set(new_ids)
    for ad, blob in session.execute(
        select(AdText.ad_id, AdText.minhash).where(
            AdText.minhash.is_not(None), AdText.params == key
        )
    ):
        if ad not in new_set:
            linker.add_old_text(ad, signature_from_bytes(blob))
    signed: list[tuple[int, np.ndarray, int | None]] = []
    for part in chunks(new_ids, 2000):
        ads = list(session.scalars(select(Ad).where(Ad.id.in_(part)).order_by(Ad.id)))
        contacts = _contact_matches(session, part)
        texts = [
            normalise(
                advert_text(ad),
                names=[ad.name or ""],
                places=[ad.location or ""],
                contacts=contacts.get(ad.id, ()),
            )
            for ad in ads
        ]
        rows = linker.signer.signatures(texts)
        values = []
        for ad, text, row in zip(ads, texts, rows, strict=True):
            chars = informative_length(text)
            usable = chars >= config.linking.min_chars
            values.append(
                {
                    "ad_id": ad.id,
                    "text_sha256": ad.text_sha256,
                    "params": key,
                    "minhash": signature_bytes(row) if usable else None,
                    "chars": chars,
                    "run_id": run_id,
                }  # fmt: skip
            )
            if usable:
                signed.append((ad.id, row, ad.capture_id))
        updates = [v for v in values if v["ad_id"] in existing]
        if updates:
            session.execute(delete(AdText).where(AdText.ad_id.in_([v["ad_id"] for v in updates])))
        session.execute(insert(AdText), values)
    captures = dict(session.execute(select(Ad.id, Ad.capture_id)).all()) if signed else {}
    linker.link_texts(signed, captures)
    return len(new_ids)


def _write_links(session: Session, linker: Linker, run_id: int) -> None:
    rows = [
        {
            "ad_a": e.a,
            "ad_b": e.b,
            "kind": e.kind,
            "weight": e.weight,
            "reason": e.reason,
            "detail": json.dumps(e.detail, sort_keys=True, ensure_ascii=False),
            "capture_a": e.capture_a,
            "capture_b": e.capture_b,
            "run_id": run_id,
        }
        for e in linker.edges
    ]
    for part in chunks(rows, 5000):
        session.execute(insert(Link), list(part))


# --------------------------------------------------------------------------- networks


def components(edges: Iterable[tuple[int, int]]) -> list[list[int]]:
    uf: UnionFind[int] = UnionFind()
    for a, b in edges:
        uf.union(a, b)
    return [sorted(m) for m in uf.groups().values() if len(m) > 1]


def build_networks(session: Session, config: AnalysisConfig, run_id: int) -> tuple[int, int]:
    """Recompute networks (all links, and strong links only) from the stored links."""
    session.execute(delete(AdNetwork))
    session.execute(delete(Network))
    # A link a reviewer rejected (crawler.analysis.decisions) never joins a network.
    refused = rejected(session)
    links = [
        (a, b, w)
        for a, b, w, kind in session.execute(select(Link.ad_a, Link.ad_b, Link.weight, Link.kind))
        if pair_kind(a, b, kind) not in refused
    ]
    strong_min = config.linking.strong_min_weight
    ads = {
        ad_id: (platform_id, utc(first), utc(last))
        for ad_id, platform_id, first, last in session.execute(
            select(Ad.id, Ad.platform_id, Ad.first_seen, Ad.last_seen)
        )
    }
    idents: dict[int, set[int]] = defaultdict(set)
    for ad, ident in session.execute(select(AdIdentifier.ad_id, AdIdentifier.identifier_id)):
        idents[ad].add(ident)
    scores: dict[int, float] = defaultdict(float)
    for ad, weight in session.execute(select(AdIndicator.ad_id, AdIndicator.weight)):
        scores[ad] += weight
    counts = []
    for strong, prefix in ((False, "N"), (True, "S")):
        groups = components((a, b) for a, b, w in links if not strong or w >= strong_min)
        for members in groups:
            facts = [ads[m] for m in members if m in ads]
            network = Network(
                label=f"{prefix}-{members[0]}",
                strong=strong,
                size=len(members),
                platforms=len({f[0] for f in facts}),
                identifiers=len(set().union(*(idents.get(m, set()) for m in members))),
                score=round(sum(scores.get(m, 0.0) for m in members), 3),
                first_seen=min((f[1] for f in facts if f[1]), default=None),
                last_seen=max((f[2] for f in facts if f[2]), default=None),
                run_id=run_id,
            )
            session.add(network)
            session.flush()
            session.execute(
                insert(AdNetwork), [{"ad_id": m, "network_id": network.id} for m in members]
            )
        counts.append(len(groups))
    return counts[0], counts[1]


# --------------------------------------------------------------------------- flags, indicators


def flag_images(session: Session, known: KnownHashes) -> int:
    """Mark images matching the known-hash list (never rendered, not exported)."""
    flagged = 0
    for image_id, sha, phash, was in session.execute(
        select(Image.id, Image.sha256, Image.phash, Image.flagged)
    ).all():
        if known.match(sha, phash) is not None:
            flagged += 1
            if not was:
                session.execute(update(Image).where(Image.id == image_id).values(flagged=True))
    return flagged


def load_context(session: Session, config: AnalysisConfig) -> IndicatorContext:
    platforms = {
        pid: (name, language)
        for pid, name, language in session.execute(
            select(Platform.id, Platform.name, Platform.language)
        )
    }
    ads: dict[int, AdFacts] = {}
    for ad in session.scalars(select(Ad)):
        name, language = platforms.get(ad.platform_id, (str(ad.platform_id), None))
        ads[ad.id] = AdFacts(
            id=ad.id, platform=name, name=ad.name, age=ad.age, location=ad.location,
            title=ad.title, body=ad.body, poster_account=ad.poster_account, posted=ad.posted,
            language=language, capture_id=ad.capture_id, first_seen=utc(ad.first_seen),
            last_seen=utc(ad.last_seen),
        )  # fmt: skip
    contacts = [
        Contact(ad, ident, kind, value, match, capture)
        for ad, ident, kind, value, match, capture in session.execute(
            select(
                AdIdentifier.ad_id,
                AdIdentifier.identifier_id,
                Identifier.kind,
                Identifier.value,
                AdIdentifier.match,
                AdIdentifier.capture_id,
            ).join(Identifier, Identifier.id == AdIdentifier.identifier_id)
        )
    ]
    signatures = {
        ad: signature_from_bytes(blob)
        for ad, blob in session.execute(
            select(AdText.ad_id, AdText.minhash).where(
                AdText.minhash.is_not(None), AdText.params == config.linking.signature.key
            )
        )
    }
    seen = {
        ad: (utc(first), utc(last))
        for ad, first, last in session.execute(
            select(Sighting.ad_id, func.min(Sighting.seen_at), func.max(Sighting.seen_at)).group_by(
                Sighting.ad_id
            )
        )
    }
    return IndicatorContext(ads=ads, contacts=contacts, signatures=signatures, seen=seen)  # type: ignore[arg-type]


def compute_indicators(session: Session, config: AnalysisConfig, run_id: int) -> dict[str, list]:
    session.execute(delete(AdIndicator))
    hits = evaluate(load_context(session, config), config)
    rows = [
        {
            "ad_id": hit.ad,
            "indicator": rule_id,
            "weight": config.indicators[rule_id].weight,
            "evidence": json.dumps(hit.evidence, sort_keys=True, ensure_ascii=False, default=str),
            "capture_id": hit.capture_id,
            "run_id": run_id,
        }
        for rule_id, rule_hits in hits.items()
        for hit in rule_hits
    ]
    for part in chunks(rows, 5000):
        session.execute(insert(AdIndicator), list(part))
    return hits
