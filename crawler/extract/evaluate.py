"""Precision and recall of extraction on labelled corpora, per kind and per format.

    python -m crawler.extract.evaluate tests/extract_corpus/en_market.jsonl
    python -m crawler.extract.evaluate --misses tests/extract_corpus/*.jsonl

A corpus line is ``{"id", "text", "region"?, "language"?, "url"?, "format"?,
"expected": [{"kind", "value", "channel"?}]}``. A case is scored on the set of
distinct (kind, value, channel) it yields from its text and its page URL, as
the contacts pipeline stores them; a number written five times is one
contact. ``format`` (how the contact was written) gives the second table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.extract.extractor import extract_identifiers
from crawler.extract.identifier import KINDS
from crawler.extract.urls import extract_from_url

Key = tuple[str, str, str | None]


def load(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every case of the given JSONL files, in order."""
    cases = []
    for path in paths:
        with Path(path).open(encoding="utf-8") as f:
            cases.extend(json.loads(line) for line in f if line.strip())
    return cases


def found_keys(case: dict[str, Any]) -> set[Key]:
    """What extraction yields for one case, from its text and its page URL."""
    region, language = case.get("region"), case.get("language")
    found = extract_identifiers(case["text"], region, language=language)
    if case.get("url"):
        found += extract_from_url(case["url"], region, language=language)
    return {(i.kind, i.value, i.channel) for i in found}


@dataclass
class Tally:
    """True/false positives and misses, counted by a label (kind or format)."""

    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)

    def precision(self, label: str) -> float:
        n = self.tp[label] + self.fp[label]
        return self.tp[label] / n if n else 1.0

    def recall(self, label: str) -> float:
        n = self.tp[label] + self.fn[label]
        return self.tp[label] / n if n else 1.0

    def labels(self) -> list[str]:
        return sorted(set(self.tp) | set(self.fp) | set(self.fn))


@dataclass
class Scores:
    by_kind: Tally = field(default_factory=Tally)
    by_format: Tally = field(default_factory=Tally)
    negatives: int = 0
    negative_hits: int = 0
    misses: list[str] = field(default_factory=list)


def score(cases: Sequence[dict[str, Any]]) -> Scores:
    """Score every case; a hit on a case labelled empty counts as a negative hit."""
    out = Scores()
    for case in cases:
        expected = {(e["kind"], e["value"], e.get("channel")) for e in case["expected"]}
        got = found_keys(case)
        fmt = case.get("format", "-")
        for key in expected | got:
            hit = key in expected and key in got
            for tally, label in ((out.by_kind, key[0]), (out.by_format, fmt)):
                if hit:
                    tally.tp[label] += 1
                elif key in got:
                    tally.fp[label] += 1
                else:
                    tally.fn[label] += 1
        if not expected:
            out.negatives += 1
            out.negative_hits += len(got)
        if expected != got:
            out.misses.append(
                f"{case['id']}: missing {sorted(expected - got)} extra {sorted(got - expected)}"
            )
    return out


def table(tally: Tally, labels: Iterable[str], title: str) -> str:
    """A Markdown table: label, expected, found right, wrong, missed, precision, recall."""
    rows = [
        f"| {title} | expected | right | wrong | missed | precision | recall |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label in labels:
        n = tally.tp[label] + tally.fn[label]
        if n == 0 and tally.fp[label] == 0:
            continue
        rows.append(
            f"| {label} | {n} | {tally.tp[label]} | {tally.fp[label]} | {tally.fn[label]} "
            f"| {tally.precision(label):.3f} | {tally.recall(label):.3f} |"
        )
    return "\n".join(rows)


def report(cases: Sequence[dict[str, Any]], show_misses: bool = False) -> str:
    s = score(cases)
    parts = [
        f"{len(cases)} cases, {s.negatives} negatives, {s.negative_hits} hits on negatives",
        "",
        table(s.by_kind, KINDS, "kind"),
        "",
        table(s.by_format, s.by_format.labels(), "format"),
    ]
    if show_misses:
        parts += ["", *s.misses]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crawler.extract.evaluate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("corpus", nargs="+", type=Path, help="labelled JSONL file(s)")
    parser.add_argument("--misses", action="store_true", help="list every case not exactly right")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.corpus if not p.is_file()]
    if missing:
        print(f"error: no such corpus file: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        cases = load(args.corpus)
    except (json.JSONDecodeError, KeyError) as exc:
        print(f"error: not a labelled corpus: {exc}", file=sys.stderr)
        return 2
    try:
        print(report(cases, args.misses))
    except BrokenPipeError:  # piped into head: nothing left to say
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
