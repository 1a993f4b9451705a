"""Property tests: extraction never raises and never hangs on hostile text.

Ad texts are written by adversaries. Random and token-built texts must give
well-formed identifiers; huge adversarial inputs (long digit runs, 1 MB of
emoji, deeply repeated separators) must finish within a generous bound, which
catches catastrophic regex backtracking (that would take minutes, not seconds).
Speed itself is measured by ``bench/extract_speed.py``.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extract import KINDS, Identifier, extract_identifiers

REGIONS = st.sampled_from([None, "KZ", "RU", "JP", "KR", "TH", "GB", "UZ", "KG", "PH", "zz", ""])
TOKENS = [
    *"0123456789",
    *" .-/*_!;:+()[]@＠\n\t",
    "8️⃣",
    "5\u20e3",
    "💋",
    "👩‍❤️‍👨",
    "０",
    "๓",
    "٣",
    "〇",
    "九",
    "공",
    "이",
    "O",
    "l",
    "I",
    "О",
    "seven",
    "восемь",
    "one",
    "tel",
    "Тел:",
    "WhatsApp",
    "Telegram",
    "тг",
    "LINE",
    "ไลน์",
    "카톡",
    "微信",
    "電話",
    "연락",
    "โทร",
    "[at]",
    " at ",
    "собака",
    "(dot)",
    " точка ",
    "https://",
    "www.",
    "t.me/",
    "wa.me/",
    "line.me/ti/p/~",
    "example.org",
    "anna_k",
    "Цена",
    "ID",
    "№",
    "ISBN",
    "руб",
    "₸",
    "円",
    "10:00",
    "12.03.2024",
]
BOUND_SECONDS = 10.0  # per huge input; a backtracking blow-up takes far longer


def _check(text: str, found: list[Identifier]) -> None:
    starts = [i.start for i in found]
    assert starts == sorted(starts)
    assert len({(i.kind, i.value, i.start) for i in found}) == len(found)
    for ident in found:
        assert ident.kind in KINDS
        assert 0 <= ident.start < ident.end <= len(text)
        assert text[ident.start : ident.end] == ident.match
        assert ident.value
        if ident.kind == "phone":
            assert ident.value.startswith("+") and ident.value[1:].isdigit()
        assert ident.channel in (None, "whatsapp")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=3000), region=REGIONS)
def test_any_text_gives_well_formed_identifiers(text: str, region: str | None) -> None:
    started = time.perf_counter()
    found = extract_identifiers(text, region)
    assert time.perf_counter() - started < 2.0
    _check(text, found)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.sampled_from(TOKENS), max_size=400), region=REGIONS)
def test_contact_like_text_gives_well_formed_identifiers(
    parts: list[str], region: str | None
) -> None:
    text = "".join(parts)
    started = time.perf_counter()
    found = extract_identifiers(text, region)
    assert time.perf_counter() - started < 2.0
    _check(text, found)


@pytest.mark.slow  # 40 texts of 100k characters: the longest test of `make test-fast` before
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    unit=st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6).map("".join),
    region=REGIONS,
)
def test_repeated_units_stay_fast(unit: str, region: str | None) -> None:
    """A short unit repeated to ~100k characters: the shape that trips backtracking."""
    text = unit * (100_000 // len(unit) + 1)
    started = time.perf_counter()
    found = extract_identifiers(text, region)
    assert time.perf_counter() - started < BOUND_SECONDS
    _check(text, found)


ADVERSARIAL = {
    "long digit run": "7" * 1_000_000,
    "spaced digits": "8 7 0 1 2 3 4 5 6 7 8 " * 30_000,
    "1 MB of emoji": "💋" * 250_000,
    "emoji between digits": "8💋7🌹" * 100_000,
    "one deep separator": "1" + "-" * 500_000 + "2",
    "repeated separators": "1-" * 300_000,
    "keycaps": "8️⃣" * 100_000,
    "look-alike run": "O" * 400_000 + "1",
    "digit words": "seven восемь " * 50_000,
    "kanji numerals": "一二三" * 150_000,
    "hangul numerals": "이 사 " * 100_000,
    "at signs": "a@" * 200_000,
    "spelled e-mail parts": "a [at] b [dot] " * 40_000,
    "dotted local part": "a." * 200_000 + "@" + "b." * 200_000,
    "long url": "https://" + "a" * 1_000_000,
    "plus signs": "+7 " * 200_000,
    "cue words": "тел WhatsApp 電話 " * 40_000,
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_inputs_finish_quickly(name: str) -> None:
    text = ADVERSARIAL[name]
    # CPU time of this process: the bound is on the extractor's work (super-linear
    # backtracking would blow it by orders of magnitude), not on how busy the machine is.
    started = time.process_time()
    found = extract_identifiers(text, "KZ")
    elapsed = time.process_time() - started
    assert elapsed < BOUND_SECONDS, f"{name}: {elapsed:.1f}s"
    _check(text, found)
