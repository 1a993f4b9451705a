"""Digit normalisation with an offset map back to the original text.

Obfuscated phone numbers hide their digits as keycap emoji, full-width or other
script digits, spelled-out words, kanji or Sino-Korean numerals and look-alike
letters. We rewrite a *copy* of the text so that every such digit becomes one
ASCII digit, and remember for each character of the copy which span of the
original produced it, so that every match can be reported on the original text.

Every pass is a single regex scan (no nested quantifiers) and rebuilds the
string only when it found something, so plain ASCII text costs almost nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Spelled-out digits, per language of the markets we crawl. Only whole words
# (no letter on either side; digits may touch them, so mixed runs like
# "8семь01" and "four1five" work). A word that is also an everyday word of
# another language ("se", "bir") only matters inside a digit run: the phone
# finder still needs a whole, valid number around it.
_DIGIT_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "ru": ("ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"),
    "kk": ("нөл", "бір", "екі", "үш", "төрт", "бес", "алты", "жеті", "сегіз", "тоғыз"),
    "ky": ("нөл", "бир", "эки", "үч", "төрт", "беш", "алты", "жети", "сегиз", "тогуз"),
    "uz": ("nol", "bir", "ikki", "uch", "to['ʻ`’]rt", "besh", "olti", "yetti", "sakkiz",
           "to['ʻ`’]qqiz"),
    "uz-cyrl": ("нол", "бир", "икки", "уч", "тўрт", "беш", "олти", "етти", "саккиз", "тўққиз"),
    "tg": ("сифр", "як", "ду", "се", "чор", "панҷ", "шаш", "ҳафт", "ҳашт", "нӯҳ"),
    "tl": ("sero", "isa", "dalawa", "tatlo", "apat", "lima", "anim", "pito", "walo", "siyam"),
}  # fmt: skip
# Other spellings: Russian feminine / neuter forms used when counting, the
# Tagalog-Spanish digits of Philippine adverts.
_EXTRA_WORDS: dict[str, str] = {
    "нуль": "0",
    "одна": "1",
    "одно": "1",
    "две": "2",
    "kwatro": "4",
    "singko": "5",
    "sais": "6",
    "syete": "7",
    "siyete": "7",
    "otso": "8",
    "nuwebe": "9",
}
_WORDS: dict[str, str] = dict(_EXTRA_WORDS)
_PATTERNS: dict[str, str] = {}
for _words_of in _DIGIT_WORDS.values():
    for _digit, _word in enumerate(_words_of):
        _PATTERNS.setdefault(_word, str(_digit))
# "double seven" / "triple five" (English speakers read 77 and 555 that way).
_REPEAT = {"double": 2, "triple": 3}
_FIRST = "".join(
    sorted({c for w in [*_PATTERNS, *_WORDS, *_REPEAT] for c in (w[0].lower(), w[0].upper())})
)
_WORD_RE = re.compile(
    # The first-letter class lets the scan skip most positions at once.
    rf"(?=[{re.escape(_FIRST)}])"
    r"(?<![^\W\d_])(?:(?P<rep>double|triple)[\s\-]{1,2})?(?P<w>"
    + "|".join(sorted([*_PATTERNS, *_WORDS], key=len, reverse=True))
    + r")(?![^\W\d_])",
    re.IGNORECASE,
)
_COMPILED_WORDS = [(re.compile(p, re.IGNORECASE), d) for p, d in _PATTERNS.items()]


def _word_digit(word: str) -> str:
    low = word.lower()
    found = _WORDS.get(low)
    if found is not None:
        return found
    for pattern, digit in _COMPILED_WORDS:
        if pattern.fullmatch(low):
            return digit
    raise KeyError(word)


# Kanji and Sino-Korean numerals. These characters are also ordinary words
# (一 "one", 이 is a Korean particle), so they only count as digits inside a
# run that holds at least _SCRIPT_MIN of them.
_SCRIPT_DIGITS: dict[str, str] = {
    "〇": "0",
    "零": "0",
    "一": "1",
    "二": "2",
    "三": "3",
    "四": "4",
    "五": "5",
    "六": "6",
    "七": "7",
    "八": "8",
    "九": "9",
    "공": "0",
    "영": "0",
    "일": "1",
    "이": "2",
    "삼": "3",
    "사": "4",
    "오": "5",
    "육": "6",
    "칠": "7",
    "팔": "8",
    "구": "9",
}
# Thai digit words, written without spaces like the rest of Thai text: read
# as digits only in runs of _SCRIPT_MIN or more, as the numerals above.
_THAI_WORDS = ("ศูนย์", "หนึ่ง", "สอง", "สาม", "สี่", "ห้า", "หก", "เจ็ด", "แปด", "เก้า")
_SCRIPT_DIGITS.update({w: str(d) for d, w in enumerate(_THAI_WORDS)})
_SCRIPT_MIN = 3
_MIXED_MIN_DIGITS = 6
_SCRIPT_CLASS = "(?:" + "|".join(sorted(_SCRIPT_DIGITS, key=len, reverse=True)) + ")"
# A run of script numerals and ASCII digits, joined by short non-word gaps.
_SCRIPT_RUN_RE = re.compile(
    rf"(?:{_SCRIPT_CLASS}|[0-9])(?:(?:[^\w\n]|_){{0,3}}(?:{_SCRIPT_CLASS}|[0-9]))*"
)
_SCRIPT_CHAR_RE = re.compile(_SCRIPT_CLASS)

# Non-ASCII decimal digits, circled digits, keycaps and the full-width plus.
_CHAR_RE = re.compile(r"[0-9#*]\ufe0f?\u20e3|(?![0-9])\d|[\u2460-\u2468\u24ea\u2776-\u2792]|＋")

# Look-alike letters (Latin and Cyrillic O/o, l, I, Cyrillic З/з). Not "|":
# between digits it is a separator ("415|555|0132") far more often than a one.
_LOOK: dict[str, str] = {
    "O": "0",
    "o": "0",
    "О": "0",
    "о": "0",
    "l": "1",
    "I": "1",
    "З": "3",
    "з": "3",
}
_LOOK_CLASS = "[" + "".join(_LOOK) + "]"
# A token of digits and look-alikes with no other letter touching it.
# Possessive, and anchored after a non-word character, so a failed token is
# never re-scanned from inside (linear time on long runs).
_LOOK_TOKEN_RE = re.compile(rf"(?<![^\W_])(?:[0-9]|{_LOOK_CLASS})++(?![^\W\d_])")


@dataclass(frozen=True, slots=True)
class Normalized:
    """A rewritten copy of a text; ``starts[i]:ends[i]`` is the source of ``text[i]``.

    ``starts``/``ends`` are ``None`` while every character of the copy stands at the offset
    of its source (the original, or one character for one).
    """

    text: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def spelled(self, i: int) -> bool:
        """Was character ``i`` of the copy written as a word or emoji (several characters)?"""
        return (
            self.starts is not None and self.ends is not None and self.ends[i] - self.starts[i] > 1
        )

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original-text span covering normalised characters ``start:end`` (end > start)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


Replacement = tuple[int, int, str]  # start, end (in the current text), replacement digits


def _apply(norm: Normalized, replacements: Iterable[Replacement]) -> Normalized:
    """Replace each span by one character and compose the offset maps."""
    reps = list(replacements)
    if not reps:
        return norm
    text = norm.text
    if all(b - a == 1 and len(ch) == 1 for a, b, ch in reps):
        # One character for one (a numeral, a look-alike, a full-width digit): every offset
        # stays where it was, so the maps are the old ones.
        chars = list(text)
        for a, _, ch in reps:
            chars[a] = ch
        return Normalized("".join(chars), norm.starts, norm.ends)
    old_starts = norm.starts if norm.starts is not None else range(len(text))
    old_ends = norm.ends if norm.ends is not None else range(1, len(text) + 1)
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for a, b, ch in reps:
        if a > pos:
            parts.append(text[pos:a])
            starts.extend(old_starts[pos:a])
            ends.extend(old_ends[pos:a])
        parts.append(ch)  # every character of it comes from the whole source span
        starts.extend([old_starts[a]] * len(ch))
        ends.extend([old_ends[b - 1]] * len(ch))
        pos = b
    parts.append(text[pos:])
    starts.extend(old_starts[pos:])
    ends.extend(old_ends[pos:])
    return Normalized("".join(parts), tuple(starts), tuple(ends))


def _char_digit(s: str) -> str:
    if s == "＋":
        return "+"
    if s[-1] == "\u20e3":
        return s[0] if s[0].isdigit() else "#"
    # The dingbat ranges hold circled *ten*s too (❿ ➉): numerals but not digits, left as is.
    digit = unicodedata.digit(s[0], None)
    return s if digit is None else str(digit)


def _chars(norm: Normalized) -> Iterable[Replacement]:
    for m in _CHAR_RE.finditer(norm.text):
        yield m.start(), m.end(), _char_digit(m.group())


def _words(norm: Normalized) -> Iterable[Replacement]:
    for m in _WORD_RE.finditer(norm.text):
        digit = _word_digit(m.group("w"))
        yield m.start(), m.end(), digit * (_REPEAT[m.group("rep").lower()] if m.group("rep") else 1)


def _script(norm: Normalized) -> Iterable[Replacement]:
    for run in _SCRIPT_RUN_RE.finditer(norm.text):
        found = list(_SCRIPT_CHAR_RE.finditer(run.group()))
        if not found:
            continue
        # Enough numerals, or one among the ASCII digits of a phone-length run
        # ("0 1 0 2 0 5 8 4 사 7 7").
        if len(found) >= _SCRIPT_MIN or sum(c.isdigit() for c in run.group()) >= _MIXED_MIN_DIGITS:
            base = run.start()
            for m in found:
                yield base + m.start(), base + m.end(), _SCRIPT_DIGITS[m.group()]


def _lookalikes(norm: Normalized) -> Iterable[Replacement]:
    for m in _LOOK_TOKEN_RE.finditer(norm.text):
        # "lol", "OI" and one-letter words stay letters; "87O1", "O8l" become digits.
        token = m.group()
        real = sum(c.isdigit() for c in token)
        if real < 1 or real == len(token):
            continue
        base = m.start()
        for i, c in enumerate(token):
            if c in _LOOK:
                yield base + i, base + i + 1, _LOOK[c]


_PASSES: tuple[Callable[[Normalized], Iterable[Replacement]], ...] = (
    _chars,
    _words,
    _script,
    _lookalikes,
)


def normalize(text: str) -> Normalized:
    """Return the digit-bearing copy of ``text`` with its offset map."""
    norm = Normalized(text)
    for step in _PASSES:
        if step is _chars and text.isascii():
            continue
        if step is _script and text.isascii():
            continue
        norm = _apply(norm, step(norm))
    return norm
