"""Phone numbers, plain or obfuscated, validated with libphonenumber.

The normalised text (see ``normalize``) is scanned for digit runs joined by
short runs of any separator; each run is split into groups at the
separators, and contiguous group sequences are tried longest-first from each
group until libphonenumber accepts one. Groups glued without space ("978-5",
"12.5") form tokens, and a candidate never starts or ends inside a token.
Precision guards then reject numbers that are dates, times, prices,
quantities, measurements, reference numbers or parts of a word. A number
without a ``+``, trunk prefix or country code is a contact when the market
writes it that way (``markets.usual_bare_number``), otherwise only next to a
contact cue; numbers joined by list punctuation need a cue too.

Every regex here has one way to match a given text (separators and digits
are disjoint classes), and the number of parse attempts per text is bounded,
so adversarial input costs linear time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import NamedTuple

import phonenumbers

from crawler.extract.cues import CueIndex, unit_follows
from crawler.extract.identifier import Identifier
from crawler.extract.markets import (
    NUMBERS_REMEMBERED,
    official_grouping,
    parsed,
    usual_bare_number,
    usual_grouping,
)
from crawler.extract.normalize import Normalized
from crawler.extract.spans import SpanSet

MIN_DIGITS = 7
MAX_DIGITS = 17  # 15 (E.164) + a 2-digit international prefix
MAX_SEPARATOR = 6  # characters between two digits of one number (emoji sequences)
MAX_ATTEMPTS = 4000  # libphonenumber parses per text: a bound for adversarial input

# Anything but a letter/digit, a line break, currency and number signs is a separator;
# not a colon either, which ends a label or is a time ("с 12 до 22: 8 919 …", "10:30").
_SEP = r"(?:[^\w\n\r\u2028\u2029$€£¥₩฿₸₽₱₹%№#@〒:：]|[_ーｰ])"
# Digits joined by separators; a number may also be broken over one line end
# ("(415) 555-" / "0132"), a line break being a boundary like a space.
_JOIN = rf"(?:{_SEP}{{0,{MAX_SEPARATOR}}}|{_SEP}{{0,3}}(?:\r?\n|\r|\u2028){_SEP}{{0,3}})"
_RUN_RE = re.compile(rf"(?:\+\s?)?[0-9](?:{_JOIN}[0-9])*")
_GROUP_RE = re.compile(r"[0-9]+")

# "10:30", and opening hours written with dots ("10.00-22.00", "9.30 – 18.00").
_TIME_RE = re.compile(r"\d{1,2}\s?[:：]\s?\d{2}|\d{1,2}\.\d{2}\s?[-–~〜]\s?\d{1,2}\.\d{2}(?!\d)")
# A height in feet and inches ("5'6", "4’11\"") is never part of a phone number.
_HEIGHT_RE = re.compile(r"(?<!\d)[4-7]\s?['’′]\s?\d{1,2}(?!\d)")
_DATE_RE = re.compile(
    r"(?<!\d)(?:(\d{1,2})([./-])(\d{1,2})\2((?:19|20)\d{2}|\d{2})"
    r"|((?:19|20)\d{2})([./-])(\d{1,2})\6(\d{1,2}))(?!\d)"
)
WHATSAPP_WINDOW = 40


def _is_date(s: str) -> bool:
    for m in _DATE_RE.finditer(s):
        if m.group(1):
            a, b, year = int(m.group(1)), int(m.group(3)), m.group(4)
            if len(year) == 2 and m.group(2) == "-":
                continue  # "12-34-56" is how phone numbers are grouped
            if 1 <= a <= 31 and 1 <= b <= 12 or 1 <= a <= 12 and 1 <= b <= 31:
                return True
        elif 1 <= int(m.group(7)) <= 12 and 1 <= int(m.group(8)) <= 31:
            return True
    return False


@lru_cache(maxsize=NUMBERS_REMEMBERED)
def parse_e164(digits: str, plus: bool, region: str | None) -> tuple[str, str] | None:
    """Validate a digit string; return (E.164, form) or None.

    form says how the number was written: ``plus`` (+CC…), ``trunk`` (national
    prefix), ``cc`` (country code without +), ``idd`` (international prefix),
    ``bare`` (national number without prefix) or ``intl`` (another country's
    number without +). The last two are ambiguous and need a cue.
    """
    if not plus and region:
        num = _parse(digits, region)
        if num is not None:
            nsn = phonenumbers.national_significant_number(num)
            prefix = digits[: len(digits) - len(nsn)] if digits.endswith(nsn) else None
            national_prefix = _national_prefix(region)
            if prefix == "":
                form = "trunk" if nsn.startswith("0") else "bare"
            elif prefix == str(num.country_code):
                form = "cc"
            elif national_prefix and prefix == national_prefix:
                form = "trunk"
            else:
                form = "idd"
            return _e164(num), form
    if digits.startswith("00") and not plus:
        num = _parse("+" + digits[2:], None)  # "00" opens an international number in most
        if num is not None:  # of the world, also where the region's own prefix differs
            return _e164(num), "idd"
    num = _parse("+" + digits, None)
    if num is not None:
        return _e164(num), "plus" if plus else "intl"
    return None


def _parse(number: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        num = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    return num if phonenumbers.is_valid_number(num) else None


def _e164(num: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=512)
def _national_prefix(region: str) -> str | None:
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return meta.national_prefix if meta is not None else None


def _spaced_letter(ch: str) -> bool:
    """A letter of a script that separates words by spaces (Latin, Greek, Cyrillic)."""
    return ch.isalpha() and ord(ch) < 0x530


def _touches_word(text: str, start: int, end: int, cues: CueIndex) -> bool:
    """Is the number glued to a word ("anna_87011234567", "ID87011234567x")?"""
    if start > 0:
        ch = text[start - 1]
        if ch in "_@" or ch.isdigit():
            return True
        if _spaced_letter(ch):
            ws = start - 1
            while ws > 0 and start - ws < 30 and _spaced_letter(text[ws - 1]):
                ws -= 1
            if not cues.is_cue_at(ws, start):
                return True
    if end < len(text):
        ch = text[end]
        if ch in "_@" or ch.isdigit():
            return True
        if _spaced_letter(ch):
            we = end + 1
            while we < len(text) and we - end < 30 and _spaced_letter(text[we]):
                we += 1
            if not cues.is_cue_at(end, we):
                return True
    return False


def _whatsapp(text: str, start: int, end: int, cues: CueIndex, prev_end: int) -> bool:
    """Was this number offered on WhatsApp (cue just before it, or after it on its line)?"""
    window = min(WHATSAPP_WINDOW, start - prev_end)
    # A cue before counts with no other number between ("WA 6000" is a post code).
    for cue in cues.before(start, window):
        if cue.kind == "whatsapp" and not any(c.isdigit() for c in text[cue.end : start]):
            return True
    line_end = text.find("\n", end, end + WHATSAPP_WINDOW)
    line_end = end + WHATSAPP_WINDOW if line_end < 0 else line_end
    tail = text[end:line_end]
    if any(c.isdigit() for c in tail):
        return False
    return any(c.kind == "whatsapp" and c.end <= line_end for c in cues.after(end, len(tail)))


class _Group(NamedTuple):
    """Contiguous digits of a run, with how they attach to the previous group."""

    digits: str
    start: int  # in the normalised text (at the "+" if one precedes)
    end: int
    plus: bool
    tight: bool  # glued to the previous group without space or list punctuation ("12.5")


# Separators that may end one number and start another: spaces and list punctuation.
_BOUNDARY_RE = re.compile(r"[\s;/|()\[\]+]")
_QUANTITY_RE = re.compile(
    r"\d{1,3}[.,]\d+|\d+[.,]\d{1,3}|\d{1,3}(?:,\d{3})+|\d{1,3}(?:\.\d{3}){2,}"
)
# Body measurements ("90-60-90") never open a phone number.
_MEASURES_RE = re.compile(r"\d{2,3}-\d{2,3}-\d{2,3}")
# List punctuation inside a number: joined numbers, or obfuscation that comes with a cue.
_LIST_SEP_RE = re.compile(r"[,;/|]")


class _Budget:
    def __init__(self, attempts: int) -> None:
        self.left = attempts


def find_phones(
    text: str, norm: Normalized, region: str | None, cues: CueIndex, blocked: SpanSet
) -> list[Identifier]:
    """All phone numbers of ``text`` (whose normalised copy is ``norm``)."""
    found: list[Identifier] = []
    budget = _Budget(MAX_ATTEMPTS)
    prev_end = 0
    for run in _RUN_RE.finditer(norm.text):
        if budget.left <= 0:
            break
        for ident in _phones_in_run(text, norm, run, region, cues, blocked, budget, prev_end):
            found.append(ident)
            prev_end = ident.end
    return found


def _phones_in_run(
    text: str,
    norm: Normalized,
    run: re.Match[str],
    region: str | None,
    cues: CueIndex,
    blocked: SpanSet,
    budget: _Budget,
    prev_end: int,
) -> Iterator[Identifier]:
    s = run.group()
    base = run.start()
    groups = _groups_of_run(s, base)
    if sum(len(g.digits) for g in groups) < MIN_DIGITS:
        return
    quantity = _quantity_groups(s, base, groups)
    # Groups inside a valid number that a guard refused ("Артикул: 8 701 234 56 78"):
    # a bare number starting there would only be that number's tail.
    shadow = (-1, -1)
    i = 0
    while i < len(groups) and budget.left > 0:
        if groups[i].tight:  # never start inside a token ("978-5-…", "12.5")
            i += 1
            continue
        g = groups[i]
        if not g.plus and len(g.digits) == 2 and g.start > 0 and norm.text[g.start - 1] in ":：":
            i += 1  # the minutes of a time ("21:00 352 …")
            continue
        # The longest j whose digit count fits; then shorter ones.
        hit = None
        for j in range(_longest_fit(groups, i), i - 1, -1):
            if j + 1 < len(groups) and groups[j + 1].tight:
                continue  # never end inside a token either
            digits = "".join(g.digits for g in groups[i : j + 1])
            if len(digits) < MIN_DIGITS:
                break
            budget.left -= 1
            hit = _accept(
                text,
                norm,
                groups,
                quantity,
                i,
                j,
                digits,
                region,
                cues,
                blocked,
                prev_end,
                shadow[0] < i <= shadow[1],
            )
            if hit is False:
                shadow = (i, j) if j > shadow[1] else shadow
                hit = None
            if hit is not None or budget.left <= 0:
                break
        if hit is not None:
            yield hit
            prev_end = hit.end
            i = j + 1
        else:
            i += 1


def _groups_of_run(s: str, base: int) -> list[_Group]:
    """The digit groups of run ``s`` (at ``base`` in the normalised text)."""
    groups: list[_Group] = []
    last = 0
    for g in _GROUP_RE.finditer(s):
        raw_sep = s[last : g.start()]
        sep = raw_sep.rstrip()
        plus = sep.endswith("+")
        gstart = base + last + len(sep) - 1 if plus else base + g.start()
        tight = bool(groups) and _BOUNDARY_RE.search(raw_sep) is None
        if tight and raw_sep == "," and len(groups[-1].digits) >= 7 and len(g.group()) >= 7:
            tight = False  # "87012345678,87024567812": two numbers, not a thousands group
        groups.append(_Group(g.group(), gstart, base + g.end(), plus, tight))
        last = g.end()
    return groups


def _longest_fit(groups: list[_Group], i: int) -> int:
    """The last group j such that groups[i..j] hold at most MAX_DIGITS (i - 1 if none)."""
    total = 0
    j_max = i - 1
    for j in range(i, len(groups)):
        total += len(groups[j].digits)
        if total > MAX_DIGITS:
            break
        j_max = j
    return j_max


def _quantity_groups(s: str, base: int, groups: list[_Group]) -> list[bool]:
    """Mark groups of tokens written like quantities: "12.5", "1,234,567", "16.763.963"."""
    marks = [False] * len(groups)
    k = 0
    while k < len(groups):
        m = k + 1
        while m < len(groups) and groups[m].tight:
            m += 1
        token = s[groups[k].start - base : groups[m - 1].end - base].lstrip("+ ")
        if _QUANTITY_RE.fullmatch(token):
            marks[k:m] = [True] * (m - k)
        k = m
    return marks


def _accept(
    text: str,
    norm: Normalized,
    groups: list[_Group],
    quantity: list[bool],
    i: int,
    j: int,
    digits: str,
    region: str | None,
    cues: CueIndex,
    blocked: SpanSet,
    prev_end: int,
    shadowed: bool,
) -> Identifier | bool | None:
    """The phone number ``groups[i..j]`` is, or None; False when it is a valid,
    unambiguous number that a guard refuses (a reference number, part of a link):
    a bare number must not then be read from its tail."""
    parsed = parse_e164(digits, groups[i].plus, region)
    if parsed is None:
        return None
    value, form = parsed
    start, end = _number_span(text, norm, groups, i, j)
    # A refusal shadows the number's tail only when the number was unambiguous.
    refused = None if form in ("bare", "intl") else False
    if blocked.overlaps(start, end):
        return refused
    match = text[start:end]
    if _other_meaning(text, match, start, end, cues):
        return None
    if cues.negative_before(start):
        return refused
    if unit_follows(text, end) and not cues.positive_just_before(start):
        return None
    found = _Candidate(i, j, value, form, start, end, _grouping_sizes(norm, groups, i, j))
    usual = _usual_grouping(norm, groups, found, cues, shadowed)
    if usual is None or not _written_as_one(norm, groups, quantity, found, usual, cues):
        return None
    channel = "whatsapp" if _whatsapp(text, start, end, cues, prev_end) else None
    return Identifier("phone", value, match, start, end, channel)


class _Candidate(NamedTuple):
    """A valid number read from ``groups[i..j]``, at ``start:end`` in the original text."""

    i: int
    j: int
    value: str  # E.164
    form: str  # how it was written (see parse_e164)
    start: int
    end: int
    sizes: tuple[int, ...]  # the groups the writer made


def _number_span(
    text: str, norm: Normalized, groups: list[_Group], i: int, j: int
) -> tuple[int, int]:
    """Where ``groups[i..j]`` are in the original text."""
    start, end = norm.span(groups[i].start, groups[j].end)
    if start > 0 and text[start - 1] in "(（" and text.find(")", start, end) > 0:
        start -= 1  # "(415) 555-0132": the area code's parenthesis is part of the number
    return start, end


def _other_meaning(text: str, match: str, start: int, end: int, cues: CueIndex) -> bool:
    """A time, date or height, or digits inside a word."""
    if _TIME_RE.search(match) or _is_date(match) or _HEIGHT_RE.search(match):
        return True
    return _touches_word(text, start, end, cues)


def _grouping_sizes(norm: Normalized, groups: list[_Group], i: int, j: int) -> tuple[int, ...]:
    sizes = _written_sizes(norm, groups, i, j)
    if len(sizes) == 1 and j > i and _more_single_digits(norm.text, groups, i, j):
        sizes = tuple(len(g.digits) for g in groups[i : j + 1])  # "1 2 3 4 5 …" counts
    return sizes


def _usual_grouping(
    norm: Normalized, groups: list[_Group], found: _Candidate, cues: CueIndex, shadowed: bool
) -> bool | None:
    """Is the number written in its market's grouping? None when how it is written
    (country code, grouping, line ends) rules it out."""
    value, form, sizes, start, end = found.value, found.form, found.sizes, found.start, found.end
    if form == "intl" and not cues.announced(start, end):
        # Another country's number without "+": its country code cannot be told from
        # the first digits of a national number or an id; only a cue makes it a phone.
        return None
    if form in ("intl", "cc") and len(sizes) > 1 and not _country_code_apart(value, sizes):
        # A country code without "+" is its own group and the rest in the market's grouping
        # ("44 7911 123456"); "45 4'6 160 34 22 37" only lines up like one.
        return None
    if form == "bare" and not cues.announced(start, end):
        # A bare national number is a contact when written the market's way (see
        # markets.py); in any other grouping it is as likely to be unrelated numbers
        # lined up in the text, and needs a cue.
        if shadowed or not usual_bare_number(value, sizes):
            return None
        return True
    usual = len(sizes) > 1 and usual_grouping(value, sizes)
    if len(sizes) > 1 and not usual and not cues.has_positive_near(start, end):
        if form == "cc":
            return None  # "147 9 7 5 5 …": a leading "1" or "7" may be another number's
        inner = norm.text[groups[found.i].end : groups[found.j].start]
        if "\n" in inner or "\r" in inner:
            return None  # across a line end only the market's grouping shows one number
    return usual


def _written_as_one(
    norm: Normalized,
    groups: list[_Group],
    quantity: list[bool],
    found: _Candidate,
    usual: bool,
    cues: CueIndex,
) -> bool:
    """Do ``groups[i..j]`` read as one number rather than a list, quantities or sizes?"""
    i, j, start, end = found.i, found.j, found.start, found.end
    # Joined numbers or quantities, unless written in the market's grouping with one
    # separator throughout ("517/555-0109", "96|078|6649"), or a cue says obfuscation.
    inner = norm.text[groups[i].end : groups[j].start]
    joined = _LIST_SEP_RE.search(inner) or any(quantity[i : j + 1])
    written = usual and _one_way(
        norm.text, groups, i, j, official_grouping(found.value, found.sizes)
    )
    if joined and not written and not cues.has_positive_near(start, end):
        return False
    first = i + 1
    while first <= j and groups[first].tight:
        first += 1
    head = norm.text[groups[i].start : groups[first - 1].end]
    if _MEASURES_RE.fullmatch(head) and not (usual and first <= j):
        return False  # "90-60-90", unless it only opens a number written the usual way
    if first <= j and not usual and not cues.has_positive_near(start, end):
        # Without a cue, a number split in tokens must look written as one: a short
        # head ("8 701 …", "0917 123 …") not continuing a "184/64/44" list.
        if sum(c.isdigit() for c in head) > 5:
            return False
        before = norm.text[groups[i - 1].end : groups[i].start] if i else ""
        if _LIST_SEP_RE.search(before) and not any(c.isspace() for c in before):
            return False
    return True


def _written_sizes(norm: Normalized, groups: list[_Group], i: int, j: int) -> tuple[int, ...]:
    """Digit counts of the groups the writer made, for the grouping test.

    Words need spaces between them, so a space next to a spelled digit does not
    end a group ("Seven zero six - five five5 - Zero115" is 3-3-4), and a number
    spelled digit by digit ("6 6 7 5 5 5 0 1 9 2") is one group.
    """
    sizes = [len(groups[i].digits)]
    for k in range(i + 1, j + 1):
        a, b = groups[k - 1].end, groups[k].start
        sep = norm.text[a:b]
        glued = sep.isspace() and (norm.spelled(a - 1) or norm.spelled(b))
        if glued:
            sizes[-1] += len(groups[k].digits)
        else:
            sizes.append(len(groups[k].digits))
    if len(sizes) > 1 and all(size == 1 for size in sizes):
        return (sum(sizes),)
    return tuple(sizes)


def _one_way(s: str, groups: list[_Group], i: int, j: int, exact: bool) -> bool:
    """Is list punctuation in groups ``i..j`` part of how the number is written?

    One separator throughout ("415|555|0132", "96;078;6649"), or a slash after
    the area code ("517/555-0109"); never a comma (thousands), and slashes
    throughout only in exactly libphonenumber's grouping (``exact``,
    "513/555/0135"), never in any other (measurements, dates: "184/64/44").
    """
    seps = [s[groups[k].end : groups[k + 1].start] for k in range(i, j)]
    if any("," in sep for sep in seps):
        return False
    if sum("/" in sep for sep in seps) > 1 and not exact:
        return False  # slashes throughout: measurements, dates ("184/64/44")
    if len({sep.strip() for sep in seps}) == 1:  # a line break may come in addition
        return True
    listy = [k for k, sep in enumerate(seps) if _LIST_SEP_RE.search(sep)]
    return listy == [0] and seps[0].strip() == "/"


def _country_code_apart(e164: str, sizes: tuple[int, ...]) -> bool:
    """Is the country code of ``e164`` written as its own group, the rest usually?"""
    cc = len(str(parsed(e164).country_code))
    return sizes[0] == cc and usual_grouping(e164, sizes)


def _more_single_digits(s: str, groups: list[_Group], i: int, j: int) -> bool:
    """Do two or more single digits go on, spaced alike, before or after groups
    ``i..j``? Then they are a count or a list, not one number spelled digit by
    digit ("4'9" before it is a height, not more digits)."""
    if any(len(g.digits) != 1 for g in groups[i : j + 1]):
        return False
    for lo, hi in ((i - 2, i), (j + 1, j + 3)):
        if lo < 0 or hi > len(groups):
            continue
        run = groups[min(lo, i) : max(hi, j + 1)]
        side = groups[lo:hi]
        joins = (s[a.end : b.start] for a, b in zip(run, run[1:], strict=False))
        if all(len(g.digits) == 1 for g in side) and all(sep.isspace() for sep in joins):
            return True
    return False
