"""Advert text in the form near-duplicate detection compares.

Templated adverts differ in exactly the parts an operator swaps per "profile":
the name, the age and other numbers, the city and the contact. Those are
masked (replaced by one placeholder each) so two copies of one template under
different names normalise to the same string, while the wording the operator
re-uses stays. Everything is Unicode-aware: CJK and Thai have no spaces, so
shingles are characters, not words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

MASK_NAME = "\ue000"
MASK_NUMBER = "\ue001"
MASK_CONTACT = "\ue002"
MASK_PLACE = "\ue003"

_URL = re.compile(r"(?:https?://|www\.)\S+|[\w.-]+\.[a-z]{2,}/\S*", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+\.\S+")
_HANDLE = re.compile(r"(?<!\w)@\w{3,}")
_NUMBER = re.compile(r"\d+(?:[.,\s]\d+)*")


@lru_cache(maxsize=1)
def _noise() -> re.Pattern[str]:
    """Anything that is neither a letter, mark, number nor placeholder becomes a space.

    Punctuation and layout are the cheapest things to vary. ``\\w`` alone
    misses combining marks (Thai vowels, Devanagari signs), so they are added.
    """
    ranges: list[str] = []
    start = prev = -2
    for cp in range(0x300, 0x110000):
        if unicodedata.category(chr(cp))[0] == "M":
            if cp != prev + 1:
                if start >= 0:
                    ranges.append(_range(start, prev))
                start = cp
            prev = cp
    ranges.append(_range(start, prev))
    return re.compile("[^\\w" + "".join(ranges) + "\ue000-\ue003]+")


def _range(lo: int, hi: int) -> str:
    return re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"


_UNDERSCORE = re.compile(r"_+")
_SPACES = re.compile(r"\s+")


def _replace_all(text: str, needles: Iterable[str], mask: str) -> str:
    # Longest first, so "Anna Maria" is masked before "Anna".
    for needle in sorted({n for n in needles if n and len(n.strip()) >= 2}, key=len, reverse=True):
        text = re.sub(re.escape(needle), f" {mask} ", text, flags=re.IGNORECASE)
    return text


def name_variants(name: str | None) -> list[str]:
    """The name as given and its words: a template may use only the first name."""
    if not name:
        return []
    name = unicodedata.normalize("NFKC", name).strip()
    parts = [p for p in re.split(r"[\s,;/|]+", name) if len(p) >= 2]
    return [name, *parts]


def normalise(
    text: str,
    *,
    names: Iterable[str] = (),
    places: Iterable[str] = (),
    contacts: Iterable[str] = (),
) -> str:
    """``text`` with contacts, names, places and numbers masked, case and spacing folded.

    ``contacts`` are the exact matched strings the extractor recorded for this
    advert (obfuscated phone numbers included); URLs, e-mail addresses and
    @handles are masked even when the extractor missed them.
    """
    text = _replace_all(text, contacts, MASK_CONTACT)
    text = unicodedata.normalize("NFKC", text)
    text = _URL.sub(f" {MASK_CONTACT} ", text)
    text = _EMAIL.sub(f" {MASK_CONTACT} ", text)
    text = _HANDLE.sub(f" {MASK_CONTACT} ", text)
    text = _replace_all(text, (v for n in names for v in name_variants(n)), MASK_NAME)
    text = _replace_all(text, (unicodedata.normalize("NFKC", p) for p in places), MASK_PLACE)
    text = text.casefold()
    text = _NUMBER.sub(f" {MASK_NUMBER} ", text)
    text = _noise().sub(" ", text)
    text = _UNDERSCORE.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def informative_length(normalised: str) -> int:
    """Characters that are neither spaces nor placeholders: too few, and any two texts match."""
    return sum(1 for ch in normalised if not ch.isspace() and not "\ue000" <= ch <= "\ue003")
