"""Risk indicators: documented rules that mark adverts for human review.

Each rule is a function over an :class:`IndicatorContext` (plain data, loaded
from the store by :func:`load_context`, or built by hand in tests) returning
one :class:`Hit` per advert, with the evidence a reviewer needs and the
capture that shows it. Titles, sources, weights, switches and parameters are
in ``data/indicators.toml``; word lists in ``data/lexicons/<language>.toml``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from crawler.analysis.analysis_config import AnalysisConfig, IndicatorRule, Lexicon

if TYPE_CHECKING:
    import numpy as np


@dataclass
class AdFacts:
    id: int
    platform: str
    name: str | None = None
    age: str | None = None
    location: str | None = None
    title: str | None = None
    body: str | None = None
    poster_account: str | None = None
    posted: str | None = None
    language: str | None = None
    capture_id: int | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass(frozen=True)
class Contact:
    ad: int
    identifier: int
    kind: str
    value: str
    match: str
    capture_id: int | None = None


@dataclass
class IndicatorContext:
    ads: dict[int, AdFacts]
    contacts: list[Contact] = field(default_factory=list)
    signatures: dict[int, np.ndarray] = field(default_factory=dict)
    """Text signatures of adverts long enough to compare (see linking.text.min_chars)."""
    seen: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)
    """First and last sighting of each advert (across recrawls)."""


@dataclass
class Hit:
    ad: int
    evidence: dict[str, Any]
    capture_id: int | None = None


Rule = Callable[[IndicatorContext, IndicatorRule, AnalysisConfig], Iterable[Hit]]


def norm_name(value: str | None) -> str:
    return unicodedata.normalize("NFKC", value or "").casefold().strip()


def _by_identifier(ctx: IndicatorContext, kinds: Iterable[str]) -> dict[int, list[Contact]]:
    wanted = set(kinds)
    groups: dict[int, dict[int, Contact]] = defaultdict(dict)
    for c in ctx.contacts:
        if c.kind in wanted and c.ad in ctx.ads:
            groups[c.identifier].setdefault(c.ad, c)
    return {k: list(v.values()) for k, v in groups.items()}


def _merge_hits(found: dict[int, Hit], hit: Hit, key: str, item: dict[str, Any]) -> None:
    existing = found.get(hit.ad)
    if existing is None:
        hit.evidence.setdefault(key, []).append(item)
        found[hit.ad] = hit
    elif len(existing.evidence[key]) < 10:
        existing.evidence[key].append(item)


def _identifier_rule(
    ctx: IndicatorContext,
    rule: IndicatorRule,
    test: Callable[[list[Contact]], dict[str, Any] | None],
) -> Iterator[Hit]:
    found: dict[int, Hit] = {}
    for members in _by_identifier(ctx, rule.param("kinds", ("phone",))).values():
        facts = test(members)
        if facts is None:
            continue
        first = members[0]
        item = {"kind": first.kind, "value": first.value, **facts}
        for c in members:
            _merge_hits(found, Hit(c.ad, {}, c.capture_id), "identifiers", item)
    yield from found.values()


# --------------------------------------------------------------------------- rules


def shared_identifier_many_names(ctx, rule, config):  # type: ignore[no-untyped-def]
    min_ads, min_names = int(rule.param("min_ads", 3)), int(rule.param("min_names", 2))

    def test(members: list[Contact]) -> dict[str, Any] | None:
        names = {norm_name(ctx.ads[c.ad].name) for c in members} - {""}
        if len(members) >= min_ads and len(names) >= min_names:
            return {"ads": len(members), "names": sorted(names)[:10]}
        return None

    return _identifier_rule(ctx, rule, test)


def contact_multi_platform(ctx, rule, config):  # type: ignore[no-untyped-def]
    min_platforms = int(rule.param("min_platforms", 2))

    def test(members: list[Contact]) -> dict[str, Any] | None:
        platforms = {ctx.ads[c.ad].platform for c in members}
        if len(platforms) >= min_platforms:
            return {"platforms": sorted(platforms), "ads": len(members)}
        return None

    return _identifier_rule(ctx, rule, test)


def many_locations(ctx, rule, config):  # type: ignore[no-untyped-def]
    min_locations = int(rule.param("min_locations", 3))

    def test(members: list[Contact]) -> dict[str, Any] | None:
        places = {norm_name(ctx.ads[c.ad].location) for c in members} - {""}
        if len(places) >= min_locations:
            return {"locations": sorted(places)[:20], "ads": len(members)}
        return None

    return _identifier_rule(ctx, rule, test)


_DATE = re.compile(r"(\d{4})\D{1,3}(\d{1,2})\D{1,3}(\d{1,2})")


def advert_date(ad: AdFacts) -> datetime | None:
    """When the advert says it was posted (Y-M-D in any separators), else first seen."""
    if ad.posted:
        m = _DATE.search(unicodedata.normalize("NFKC", ad.posted))
        if m:
            try:
                return datetime(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                pass
    return ad.first_seen.replace(tzinfo=None) if ad.first_seen else None


def rapid_movement(ctx, rule, config):  # type: ignore[no-untyped-def]
    max_days = float(rule.param("max_days", 7))

    def test(members: list[Contact]) -> dict[str, Any] | None:
        dated = []
        for c in members:
            ad = ctx.ads[c.ad]
            when, place = advert_date(ad), norm_name(ad.location)
            if when and place:
                dated.append((when, place, ad.id))
        dated.sort()
        for (t1, p1, a1), (t2, p2, a2) in zip(dated, dated[1:], strict=False):
            days = (t2 - t1).total_seconds() / 86400
            if p1 != p2 and days <= max_days:
                return {"from": p1, "to": p2, "days": round(days, 1), "ads": [a1, a2]}
        return None

    return _identifier_rule(ctx, rule, test)


def sustained_volume(ctx, rule, config):  # type: ignore[no-untyped-def]
    min_ads, min_days = int(rule.param("min_ads", 5)), float(rule.param("min_days", 14))

    def test(members: list[Contact]) -> dict[str, Any] | None:
        if len(members) < min_ads:
            return None
        spans = [ctx.seen[c.ad] for c in members if c.ad in ctx.seen]
        if not spans:
            return None
        first, last = min(s[0] for s in spans), max(s[1] for s in spans)
        days = (last - first).total_seconds() / 86400
        if days >= min_days:
            return {"ads": len(members), "days": round(days, 1)}
        return None

    return _identifier_rule(ctx, rule, test)


def poster_many_people(ctx, rule, config):  # type: ignore[no-untyped-def]
    min_names = int(rule.param("min_names", 2))
    groups: dict[tuple[str, str], list[AdFacts]] = defaultdict(list)
    for ad in ctx.ads.values():
        account = (ad.poster_account or "").strip()
        if account:
            groups[(ad.platform, account)].append(ad)
    for (platform, account), ads in groups.items():
        names = {norm_name(a.name) for a in ads} - {""}
        if len(names) >= min_names:
            for ad in ads:
                yield Hit(ad.id, {"poster_account": account, "platform": platform,
                                  "ads": len(ads), "names": sorted(names)[:10]},
                          ad.capture_id)  # fmt: skip


def duplicate_text_many_names(ctx, rule, config):  # type: ignore[no-untyped-def]
    # Here, not at the top: reading the rules (every analysis command's configuration)
    # must not load datasketch and numpy, 0.5 s of CPU.
    from crawler.analysis.minhash import Signer, TextIndex, estimated_jaccard

    index = TextIndex(Signer(config.linking.signature), config.linking.jaccard_threshold)
    for ad_id, row in ctx.signatures.items():
        if ad_id in ctx.ads:
            index.add(ad_id, row)
    for ad_id, row in index.rows.items():
        me = norm_name(ctx.ads[ad_id].name)
        if not me:
            continue
        similar = []
        for other in index.candidates(row)[:500]:
            if other == ad_id:
                continue
            theirs = norm_name(ctx.ads[other].name)
            if not theirs or theirs == me:
                continue
            score = estimated_jaccard(row, index.rows[other])
            if score >= index.threshold:
                similar.append((score, other, theirs))
        if similar:
            similar.sort(reverse=True)
            yield Hit(ad_id, {"similar_ads": [o for _, o, _ in similar[:10]],
                              "names": sorted({n for *_, n in similar})[:10],
                              "jaccard": round(similar[0][0], 3)},
                      ctx.ads[ad_id].capture_id)  # fmt: skip


@lru_cache(maxsize=64)
def _phrase_pattern(phrases: tuple[str, ...], word_boundaries: bool) -> re.Pattern[str] | None:
    folded = sorted(
        {unicodedata.normalize("NFKC", p).casefold() for p in phrases}, key=len, reverse=True
    )
    if not folded:
        return None
    body = "|".join(re.escape(p) for p in folded)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)" if word_boundaries else f"(?:{body})")


def find_phrases(text: str | None, phrases: tuple[str, ...], lexicon: Lexicon) -> list[str]:
    pattern = _phrase_pattern(phrases, lexicon.word_boundaries)
    if not text or pattern is None:
        return []
    folded = unicodedata.normalize("NFKC", text).casefold()
    return sorted({m.group(0) for m in pattern.finditer(folded)})


def _lexicon_rule(section: str) -> Rule:
    def rule_fn(ctx, rule, config):  # type: ignore[no-untyped-def]
        for ad in ctx.ads.values():
            lexicon = config.lexicon(ad.language)
            if lexicon is None:
                continue
            phrases = getattr(lexicon, section)
            found = {f: find_phrases(getattr(ad, f), phrases, lexicon) for f in ("title", "body")}
            found = {f: v for f, v in found.items() if v}
            if found:
                yield Hit(ad.id, {"phrases": found, "language": lexicon.language}, ad.capture_id)

    return rule_fn


_AGE = re.compile(r"\d{1,3}")


def stated_age(value: str | None) -> int | None:
    """The first number in the age field, if it is a plausible age."""
    m = _AGE.search(unicodedata.normalize("NFKC", value or ""))
    if m and 10 <= int(m.group(0)) <= 99:
        return int(m.group(0))
    return None


def young_age(ctx, rule, config):  # type: ignore[no-untyped-def]
    max_age = int(rule.param("max_age", 20))
    for ad in ctx.ads.values():
        evidence: dict[str, Any] = {}
        age = stated_age(ad.age)
        if age is not None and age <= max_age:
            evidence["stated_age"] = age
        lexicon = config.lexicon(ad.language)
        if lexicon is not None:
            words = {
                f: find_phrases(getattr(ad, f), lexicon.youth, lexicon) for f in ("title", "body")
            }
            words = {f: v for f, v in words.items() if v}
            if words:
                evidence["phrases"] = words
        if evidence:
            yield Hit(ad.id, evidence, ad.capture_id)


_SPACED = re.compile(r"(?<!\d)(?:\d\s+){5,}\d(?!\d)")
_ODD_SEPARATORS = re.compile(r"\d\s*[_/*!;|~#=\\]+\s*\d")


def obfuscation_reasons(kind: str, match: str, lexicon: Lexicon | None) -> list[str]:
    """Why a contact's written form looks deliberately obscured (empty: it does not)."""
    if "://" in match or match.lower().startswith(("tel:", "mailto:")):
        return []  # a link target is machine-written
    reasons: list[str] = []
    if kind == "phone":
        native = lexicon.native_digits if lexicon else ""
        if any(ch.isalpha() for ch in match):
            reasons.append("letters or words among the digits")
        if any(ch.isdigit() and not "0" <= ch <= "9" and ch not in native for ch in match):
            reasons.append("unusual digit characters")
        if "\u20e3" in match or any(unicodedata.category(ch) == "So" for ch in match):
            reasons.append("emoji or keycap digits")
        if _SPACED.search(match):
            reasons.append("every digit spaced apart")
        if _ODD_SEPARATORS.search(match):
            reasons.append("unusual separators")
    elif kind == "email":
        folded = unicodedata.normalize("NFKC", match).casefold()
        words = lexicon.at_words if lexicon else ("at", "dot")
        if "@" not in folded or any(
            re.search(rf"(?<!\w){re.escape(w)}(?!\w)", folded) for w in words
        ):
            reasons.append("'@' or '.' spelled out")
    return reasons


def obfuscated_contact(ctx, rule, config):  # type: ignore[no-untyped-def]
    found: dict[int, Hit] = {}
    for c in ctx.contacts:
        ad = ctx.ads.get(c.ad)
        if ad is None or c.kind not in ("phone", "email"):
            continue
        reasons = obfuscation_reasons(c.kind, c.match, config.lexicon(ad.language))
        if reasons:
            item = {"kind": c.kind, "value": c.value, "written": c.match, "why": reasons}
            _merge_hits(found, Hit(c.ad, {}, c.capture_id), "contacts", item)
    yield from found.values()


RULES: dict[str, Rule] = {
    "shared_identifier_many_names": shared_identifier_many_names,
    "poster_many_people": poster_many_people,
    "duplicate_text_many_names": duplicate_text_many_names,
    "contact_multi_platform": contact_multi_platform,
    "many_locations": many_locations,
    "rapid_movement": rapid_movement,
    "sustained_volume": sustained_volume,
    "third_person": _lexicon_rule("third_person"),
    "young_age": young_age,
    "obfuscated_contact": obfuscated_contact,
    "movement_wording": _lexicon_rule("movement"),
}


def evaluate(ctx: IndicatorContext, config: AnalysisConfig) -> dict[str, list[Hit]]:
    """Every enabled rule's hits, by rule id."""
    out: dict[str, list[Hit]] = {}
    for rule_id, rule in config.indicators.items():
        if rule.enabled and rule_id in RULES:
            out[rule_id] = list(RULES[rule_id](ctx, rule, config))
    return out
