"""How each market writes its contacts: national number grouping, bare ``@handle``s.

A national number written without ``+``, country code or trunk prefix
("415-555-0132", "98765 43210", "90 029 98 94") is how North American, Indian,
Uzbek and Tajik adverts normally give a phone, often alone in a title or at a
line end with no word near it. Such a number is a contact without a cue when
it is valid for the platform's region, of a type people advertise (mobile or
geographic, not toll-free or premium), the market writes such numbers without
a prefix (libphonenumber's national format has none, or ``BARE_MOBILE_REGIONS``),
and it is written in the country's usual grouping according to
libphonenumber's own formats for that very number:

* undivided ("4155550132"), or
* split only where libphonenumber splits it, national or international
  format ("415 555-0132", "(415) 5550132", "98765 43210"), or
* the operator / area code apart as libphonenumber has it, the rest in groups
  of two to four ("701 234 56 78", "90 029 98 94"), or
* three or four groups of three or four digits ("987 654 3210"), the
  grouping people everywhere use for a ten-digit number.

Anything else ("41 55 55 01 32", "4155 550 132") is how unrelated numbers
line up in a text (measurements, prices, dates), and needs a cue.

A bare ``@name`` is a Telegram username where Telegram is the messenger of
the market (Russian-speaking and Central Asian markets); elsewhere it may be
any network and is not extracted without a cue naming one. The market is the
platform's region (``[platform] country``) or its language (``language``):
either one in the tables below is enough.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType as Type

# Number types an advertiser gives as a personal contact.
_PERSONAL_TYPES = frozenset(
    {Type.MOBILE, Type.FIXED_LINE_OR_MOBILE, Type.FIXED_LINE, Type.PERSONAL_NUMBER, Type.VOIP}
)
_DIGIT_GROUPS_RE = re.compile(r"\d+")
# Entries of each per-number cache here and in phones.py: the numbers a crawl keeps
# meeting (an advert's own, a network's). Each one met once stayed until 65,536:
# the extraction helper grew by about 1 MiB per 1,000 adverts (issue 21).
NUMBERS_REMEMBERED = 4_096

TELEGRAM_REGIONS = frozenset({"RU", "BY", "UA", "KZ", "KG", "UZ", "TJ", "TM", "AZ", "AM", "MD"})
"""Regions whose adverts mean Telegram by a bare ``@name``."""
TELEGRAM_LANGUAGES = frozenset({"ru", "uk", "be", "kk", "ky", "uz", "tg", "tk"})
"""Languages (ISO 639-1) whose adverts mean Telegram by a bare ``@name``."""


def bare_at_messenger(region: str | None, language: str | None) -> str | None:
    """The messenger a bare ``@name`` means in this market, or None (unknown network)."""
    if region and region.upper() in TELEGRAM_REGIONS:
        return "telegram"
    if language and language.lower().split("-")[0] in TELEGRAM_LANGUAGES:
        return "telegram"
    return None


@lru_cache(maxsize=NUMBERS_REMEMBERED)
def parsed(e164: str) -> phonenumbers.PhoneNumber:
    """``e164`` parsed once (callers must not change the object)."""
    return phonenumbers.parse(e164)


def _boundaries(formatted: str, nsn: str) -> tuple[int, ...]:
    """Where ``formatted`` splits the national significant number ``nsn``."""
    groups = _DIGIT_GROUPS_RE.findall(formatted)
    prefix = sum(len(g) for g in groups) - len(nsn)
    cuts, pos = [], 0
    for group in groups:
        pos += len(group)
        if 0 < pos - prefix < len(nsn):
            cuts.append(pos - prefix)
    return tuple(cuts)


@lru_cache(maxsize=NUMBERS_REMEMBERED)
def usual_bare_number(e164: str, sizes: tuple[int, ...]) -> bool:
    """Is ``e164``, written bare in groups of ``sizes`` digits, a contact without a cue?"""
    num = parsed(e164)
    kind = phonenumbers.number_type(num)
    if kind not in _PERSONAL_TYPES:
        return False  # toll-free, premium, shared cost: not how a person is reached
    bare = _writes_bare(num, kind)
    if bare is None or (bare == "grouped" and len(sizes) == 1):
        return False
    return usual_grouping(e164, sizes)


BARE_MOBILE_REGIONS = {"IN": "any", "PH": "grouped", "KZ": "grouped", "RU": "grouped"}
"""Regions whose mobile numbers are also written without the trunk prefix
although libphonenumber's national format has one: in India in any form
("98765 43210", "9876543210"); in the others only grouped ("917 123 4567",
"701 234 56 78"), since there an undivided run of digits without the prefix is
more often an id. Elsewhere (Japan, Korea, Britain, Australia, Thailand,
Kyrgyzstan …) everybody writes the prefix, and digits without it are something
else unless a cue says otherwise."""


def _writes_bare(num: phonenumbers.PhoneNumber, kind: int) -> str | None:
    """How the number's market writes it without a national prefix: "any", "grouped" or not."""
    nsn = phonenumbers.national_significant_number(num)
    national = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
    if sum(len(g) for g in _DIGIT_GROUPS_RE.findall(national)) == len(nsn):
        return "any"  # no trunk prefix in national use (North America, Uzbekistan, Tajikistan)
    if kind not in (Type.MOBILE, Type.FIXED_LINE_OR_MOBILE):
        return None
    return BARE_MOBILE_REGIONS.get(phonenumbers.region_code_for_number(num) or "")


@lru_cache(maxsize=NUMBERS_REMEMBERED)
def usual_grouping(e164: str, sizes: tuple[int, ...]) -> bool:
    """Is ``e164`` written in groups of ``sizes`` digits the market's way?

    ``sizes`` may include a prefix (trunk, country code) before the national
    number; only the national number's grouping is judged.
    """
    num = parsed(e164)
    nsn = phonenumbers.national_significant_number(num)
    prefix = sum(sizes) - len(nsn)
    if prefix < 0:
        return False
    rest = list(sizes)
    while prefix > 0 and rest:
        take = min(prefix, rest[0])
        rest[0] -= take
        prefix -= take
        if rest[0] == 0:
            rest.pop(0)
    sizes = tuple(rest)
    if len(sizes) <= 1:
        return True
    official = {
        _boundaries(phonenumbers.format_number(num, fmt), nsn)
        for fmt in (
            phonenumbers.PhoneNumberFormat.NATIONAL,
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        )
    }
    cuts, pos = [], 0
    for size in sizes[:-1]:
        pos += size
        cuts.append(pos)
    if any(set(cuts) <= set(b) for b in official):
        return True
    if any(b and cuts[0] == b[0] for b in official) and all(2 <= s <= 4 for s in sizes[1:]):
        return True
    return 3 <= len(sizes) <= 4 and all(3 <= s <= 4 for s in sizes)


@lru_cache(maxsize=NUMBERS_REMEMBERED)
def official_grouping(e164: str, sizes: tuple[int, ...]) -> bool:
    """Is ``e164`` written in groups of ``sizes`` exactly as libphonenumber groups it?"""
    num = parsed(e164)
    nsn = phonenumbers.national_significant_number(num)
    cuts, pos = [], len(nsn) - sum(sizes)  # minus the prefix's length
    for size in sizes[:-1]:
        pos += size
        if 0 < pos < len(nsn):
            cuts.append(pos)
    written = tuple(cuts)
    return any(
        _boundaries(phonenumbers.format_number(num, fmt), nsn) == written
        for fmt in (
            phonenumbers.PhoneNumberFormat.NATIONAL,
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        )
    )
