"""The labelled extraction corpus: per-kind precision and recall, with the issue's bars.

Each line of ``tests/extract_corpus/*.jsonl`` is ``{"id", "text", "region"?,
"expected": [{"kind", "value", "channel"?}]}``; a found identifier counts as
correct only if kind, value and channel all match. Run with ``-s`` to see the
per-kind table.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import phonenumbers
import pytest

from crawler.extract import KINDS, extract_identifiers

CORPUS = Path(__file__).parent / "extract_corpus"
PHONE_RECALL, PHONE_PRECISION = 0.95, 0.99  # the acceptance bar
OTHER_RECALL, OTHER_PRECISION = 0.90, 0.95


def _cases() -> list[dict[str, Any]]:
    cases = []
    for path in (
        CORPUS / "cases.jsonl",
        CORPUS / "hard.jsonl",
    ):  # the generated ones: test_extract_generated
        with path.open(encoding="utf-8") as f:
            cases.extend(json.loads(line) for line in f if line.strip())
    return cases


CASES = _cases()
Key = tuple[str, str, str | None]


def _scores() -> tuple[Counter[str], Counter[str], Counter[str], list[str]]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    misses = []
    for case in CASES:
        expected: Counter[Key] = Counter(
            (e["kind"], e["value"], e.get("channel")) for e in case["expected"]
        )
        found = extract_identifiers(case["text"], case.get("region"))
        got: Counter[Key] = Counter((i.kind, i.value, i.channel) for i in found)
        for key in expected | got:
            hit = min(expected[key], got[key])
            tp[key[0]] += hit
            fp[key[0]] += got[key] - hit
            fn[key[0]] += expected[key] - hit
        if expected != got:
            misses.append(
                f"{case['id']}: missing {dict(expected - got)} extra {dict(got - expected)}"
            )
    return tp, fp, fn, misses


@pytest.fixture(scope="module")
def scores() -> tuple[Counter[str], Counter[str], Counter[str], list[str]]:
    tp, fp, fn, misses = _scores()
    print("\nkind       cases   tp   fp   fn  precision  recall")
    for kind in KINDS:
        n = tp[kind] + fn[kind]
        p = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else 1.0
        r = tp[kind] / n if n else 1.0
        print(f"{kind:9} {n:6} {tp[kind]:4} {fp[kind]:4} {fn[kind]:4} {p:10.3f} {r:7.3f}")
    for miss in misses:
        print("  ", miss)
    return tp, fp, fn, misses


def test_corpus_is_big_and_covers_negatives() -> None:
    assert len(CASES) >= 250
    assert len({c["id"] for c in CASES}) == len(CASES), "case ids must be unique"
    negatives = [c for c in CASES if not c["expected"]]
    assert len(negatives) >= 40
    kinds = {e["kind"] for c in CASES for e in c["expected"]}
    assert kinds == set(KINDS)
    assert any(e.get("channel") == "whatsapp" for c in CASES for e in c["expected"])


def test_labels_are_valid_phone_numbers() -> None:
    """Every labelled phone is valid per libphonenumber (the labels themselves are right)."""
    for case in CASES:
        for e in case["expected"]:
            if e["kind"] == "phone":
                num = phonenumbers.parse(e["value"])
                assert phonenumbers.is_valid_number(num), case["id"]
                assert (
                    phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
                    == e["value"]
                ), case["id"]


def test_phone_precision_and_recall(scores: Any) -> None:
    tp, fp, fn, _ = scores
    assert tp["phone"] / (tp["phone"] + fn["phone"]) >= PHONE_RECALL
    assert tp["phone"] / (tp["phone"] + fp["phone"]) >= PHONE_PRECISION


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "phone"])
def test_other_kinds_precision_and_recall(scores: Any, kind: str) -> None:
    tp, fp, fn, _ = scores
    assert tp[kind] + fn[kind] > 0, f"no {kind} cases in the corpus"
    assert tp[kind] / (tp[kind] + fn[kind]) >= OTHER_RECALL
    assert tp[kind] / max(1, tp[kind] + fp[kind]) >= OTHER_PRECISION


def test_negative_cases_yield_no_phone() -> None:
    for case in CASES:
        if not case["expected"]:
            found = [i for i in extract_identifiers(case["text"], case.get("region"))]
            assert [i for i in found if i.kind == "phone"] == [], case["id"]


def test_every_match_points_into_the_original_text() -> None:
    for case in CASES:
        text = case["text"]
        for ident in extract_identifiers(text, case.get("region")):
            assert text[ident.start : ident.end] == ident.match, case["id"]
