"""The generated extraction corpora: regenerated, not hand-tuned, and scored per kind.

``tests/extract_corpus/generate.py`` writes ``en_market.jsonl`` (English-market
adverts) and ``styles.jsonl`` (the multilingual styles); the files committed
must be exactly what the generator makes. Scores come from
``crawler.extract.evaluate``, the same code as the documented command.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import phonenumbers
import pytest

from crawler.extract.evaluate import Scores, load, score

CORPUS = Path(__file__).parent / "extract_corpus"
FILES = ("en_market.jsonl", "styles.jsonl")
RECALL, PRECISION = 0.95, 0.98  # per kind, the bar


@pytest.fixture(scope="module", params=FILES)
def corpus(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]], Scores]:
    cases = load([CORPUS / request.param])
    return request.param, cases, score(cases)


def test_committed_corpus_is_what_the_generator_makes() -> None:
    done = subprocess.run(
        [sys.executable, str(CORPUS / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_english_market_corpus_is_big_and_dense_with_non_contact_numbers() -> None:
    cases = load([CORPUS / "en_market.jsonl"])
    assert len(cases) >= 500
    negatives = [c for c in cases if not c["expected"]]
    assert len(negatives) * 3 >= len(cases)
    for case in negatives:
        assert len(re.findall(r"\d+", case["text"])) >= 3, case["id"]
        assert re.search(r"\d{10}", case["url"]), case["id"]  # ten-digit advert ids
    assert {c["region"] for c in cases} == {"US", "CA", "GB", "AU", "IN"}
    formats = {c["format"] for c in cases}
    for needed in ("title", "line-end", "emojis", "repeated", "url-only", "line-break"):
        assert needed in formats


def test_numbers_are_synthetic() -> None:
    """North America: the fictional 555-0100..0199 lines; elsewhere valid, never drama ranges."""
    for name in FILES:
        for case in load([CORPUS / name]):
            for e in case["expected"]:
                if e["kind"] != "phone":
                    continue
                num = phonenumbers.parse(e["value"])
                assert phonenumbers.is_valid_number(num), case["id"]
                nsn = phonenumbers.national_significant_number(num)
                if num.country_code == 1:
                    assert nsn[3:6] == "555" and 100 <= int(nsn[6:]) <= 199, case["id"]
                if num.country_code == 44:
                    assert not nsn.startswith("7700900"), case["id"]


def test_every_kind_meets_the_bar(corpus: tuple[str, list, Scores]) -> None:
    name, _, scores = corpus
    tally = scores.by_kind
    assert tally.labels(), name
    for kind in tally.labels():
        assert tally.recall(kind) >= RECALL, (name, kind, scores.misses[:20])
        assert tally.precision(kind) >= PRECISION, (name, kind, scores.misses[:20])


def test_every_format_is_mostly_found(corpus: tuple[str, list, Scores]) -> None:
    """No way of writing a contact is left behind by a good average."""
    name, _, scores = corpus
    for fmt in scores.by_format.labels():
        assert scores.by_format.recall(fmt) >= 0.9, (name, fmt)


def test_zero_hits_on_negatives(corpus: tuple[str, list, Scores]) -> None:
    name, _, scores = corpus
    assert scores.negatives > 0
    assert scores.negative_hits == 0, (name, [m for m in scores.misses if "missing []" in m])


def test_the_evaluation_command_prints_the_tables() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crawler.extract.evaluate", str(CORPUS / "styles.jsonl")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "| kind |" in done.stdout and "| format |" in done.stdout
    assert "| telegram |" in done.stdout


def test_the_evaluation_command_refuses_a_missing_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "crawler.extract.evaluate", str(tmp_path / "none.jsonl")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: no such corpus file") and "Traceback" not in done.stderr


@pytest.mark.parametrize("seed", [1001, 2002])
def test_rules_hold_on_unseen_seeds(seed: int) -> None:
    """Corpora the extractor was never tuned on: the same generator, other seeds."""
    spec = importlib.util.spec_from_file_location("corpus_generate", CORPUS / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    saved = generate.SEED
    generate.SEED = seed
    try:
        built = generate.build()
    finally:
        generate.SEED = saved
    for name, cases in built.items():
        scores = score(cases)
        for kind in scores.by_kind.labels():
            assert scores.by_kind.recall(kind) >= RECALL, (seed, name, kind, scores.misses[:10])
            assert scores.by_kind.precision(kind) >= PRECISION, (seed, name, kind, scores.misses)
        assert scores.negative_hits == 0, (seed, name, scores.misses)
