"""Seeded generator of the extraction corpora: regenerate, never hand-tune.

    python tests/extract_corpus/generate.py            # rewrite the generated files
    python tests/extract_corpus/generate.py --check    # exit 1 if they differ

Writes ``en_market.jsonl`` (North American, British, Australian and Indian
adverts as they are really written: a bare number alone in the title, at a
line end, between emojis, repeated, dotted, spaced or parenthesised, only in
the page URL or host, as keycaps or mixed digits and number words; and
negatives dense with prices, times, dates, measurements, post codes, street
numbers, ids and percentages) and ``styles.jsonl`` (the multilingual markets'
harder styles). Every number is synthetic: North America uses the fictional
555-0100..0199 lines; elsewhere random mobile numbers that libphonenumber
validates for the region (Ofcom's drama ranges are not valid there, so they
never come out). Names are invented, wording neutral.

Line format: ``{"id", "text", "region", "language"?, "url"?, "expected":
[{"kind", "value", "channel"?}]}``; an identifier found only in ``url`` is
expected like any other (the page URL is an extraction source).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberFormat as Fmt
from phonenumbers import PhoneNumberType as Type

HERE = Path(__file__).parent
SEED = 16
EN_CASES = 620
Case = dict[str, Any]

NAMES = [
    "Amy", "Bella", "Cleo", "Dana", "Eva", "Faye", "Gina", "Hana", "Iris", "Jade", "Kira",
    "Lena", "Mila", "Nora", "Olive", "Pia", "Rosa", "Sara", "Tess", "Vera", "Wren", "Zoe",
]  # fmt: skip
CITIES = {
    "US": ["Columbia", "Austin", "Tampa", "Reno", "Boise", "Tucson", "Dayton", "Fresno"],
    "CA": ["Toronto", "Calgary", "Ottawa", "Halifax", "Regina", "Victoria"],
    "GB": ["Leeds", "Bristol", "Croydon", "Cardiff", "Leicester", "Reading"],
    "AU": ["Perth", "Brisbane", "Hobart", "Geelong", "Darwin", "Cairns"],
    "IN": ["Pune", "Andheri", "Gurgaon", "Whitefield", "Salt Lake", "Banjara Hills"],
}
SITES = ["example-board.com", "listings.example.net", "classifieds.example.org", "example-ads.co"]
EMOJI = ["💋", "🌸", "🔥", "✨", "💕", "🌹", "⭐", "💎", "🍓", "😘", "❤️", "👑"]
PHONE_EMOJI = ["📱", "☎️", "📞", "☎", "📲"]
EN_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


# --- numbers ---------------------------------------------------------------------------


@cache
def _na_area_codes(region: str) -> tuple[str, ...]:
    """Area codes whose 555-01XX lines libphonenumber accepts for ``region``."""
    out = []
    for area in range(201, 990):
        num = phonenumbers.parse(f"+1{area}5550142")
        if (
            phonenumbers.is_valid_number(num)
            and phonenumbers.region_code_for_number(num) == region
            and phonenumbers.number_type(num) == Type.FIXED_LINE_OR_MOBILE  # not toll-free
        ):
            out.append(str(area))
    return tuple(out)


def mobile(rng: random.Random, region: str) -> phonenumbers.PhoneNumber:
    """A synthetic mobile number libphonenumber validates for ``region``."""
    if region in ("US", "CA"):
        area = rng.choice(_na_area_codes(region))
        return phonenumbers.parse(f"+1{area}555{rng.randint(100, 199):04d}")
    example = phonenumbers.example_number_for_type(region, Type.MOBILE)
    nsn = phonenumbers.national_significant_number(example)
    cc = example.country_code
    while True:
        keep = rng.choice([1, 2, 2, 3])
        digits = nsn[:keep] + "".join(rng.choice("0123456789") for _ in nsn[keep:])
        num = phonenumbers.parse(f"+{cc}{digits}")
        if (
            phonenumbers.is_valid_number(num)
            and phonenumbers.region_code_for_number(num) == region
            and phonenumbers.number_type(num) in (Type.MOBILE, Type.FIXED_LINE_OR_MOBILE)
        ):
            return num


def e164(num: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(num, Fmt.E164)


def groups(num: phonenumbers.PhoneNumber, fmt: int = Fmt.NATIONAL) -> list[str]:
    """Digit groups of libphonenumber's own formatting of ``num``."""
    text = phonenumbers.format_number(num, fmt)
    out, cur = [], ""
    for c in text:
        if c.isdigit():
            cur += c
        elif cur:
            out.append(cur)
            cur = ""
    return out + ([cur] if cur else [])


def _trunkless(num: phonenumbers.PhoneNumber) -> list[str]:
    """National grouping without a trunk prefix ("98765 43210", "90 123 45 67")."""
    g = groups(num, Fmt.INTERNATIONAL)[1:]
    return g


def render_en(rng: random.Random, num: phonenumbers.PhoneNumber, region: str) -> str:
    """One way advertisers in ``region`` write ``num`` (plain styles)."""
    nat = groups(num)
    bare = _trunkless(num)
    nsn = phonenumbers.national_significant_number(num)
    cc = str(num.country_code)
    if region in ("US", "CA"):
        a, b, c = nsn[:3], nsn[3:6], nsn[6:]
        styles = [
            f"({a}) {b}-{c}", f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}",
            f"{a} {b} {c}", f"{a}{b}{c}", f"{a}{b}{c}", f"({a}){b}-{c}", f"1-{a}-{b}-{c}",
            f"+1 {a}-{b}-{c}", f"+1 ({a}) {b}-{c}", f"+1{a}{b}{c}", f"{a} {b}-{c}", f"{a}/{b}-{c}",
            f"{a}-{b}{c}", f"1 ({a}) {b} {c}", f"{a} - {b} - {c}", f"{a}.{b}{c}",
        ]  # fmt: skip
    elif region == "IN":
        styles = [
            " ".join(bare), "".join(bare), "-".join(bare), f"+91 {' '.join(bare)}",
            f"+91-{''.join(bare)}", f"+91{nsn}", f"0{nsn}", f"91 {nsn}", f"{nsn[:3]} {nsn[3:6]} {nsn[6:]}",
            f"{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}", f"0{' '.join(bare)}", nsn, nsn,
        ]  # fmt: skip
    else:  # GB, AU: the trunk prefix is how everybody writes them
        trunk = "".join(nat)
        styles = [
            " ".join(nat), " ".join(nat), trunk, trunk, "-".join(nat),
            f"+{cc} {' '.join(bare)}", f"+{cc}{nsn}", f"+{cc} (0) {' '.join(bare)}",
            f"{trunk[:5]} {trunk[5:8]} {trunk[8:]}", f"{trunk[:4]} {trunk[4:7]} {trunk[7:]}",
            f"00{cc} {' '.join(bare)}", f"({nat[0]}) {' '.join(nat[1:])}",
        ]  # fmt: skip
    return rng.choice(styles)


def obfuscate_en(rng: random.Random, num: phonenumbers.PhoneNumber, region: str) -> str:
    """Filter-evading styles seen in English-language adverts."""
    nsn = phonenumbers.national_significant_number(num)
    digits = nsn if region in ("US", "CA", "IN") else "".join(groups(num))
    # obfuscators put their separators between the usual groups
    parts = [nsn[:3], nsn[3:6], nsn[6:]] if region in ("US", "CA") else groups(num)
    if region == "IN":
        parts = _trunkless(num)
    style = rng.randrange(8)
    if style == 0:  # keycaps
        return "".join(f"{d}\ufe0f\u20e3" for d in digits)
    if style == 1:  # digits mixed with words: "4one5-555-01three2", "four1five"
        out = []
        for part in parts:
            toks: list[str] = []
            for d in part:
                word = rng.random() < 0.35
                tok = EN_WORDS[int(d)] if word else d
                if rng.random() < 0.5:
                    tok = tok.capitalize() if word else tok
                # a space between two words, sometimes between a word and a digit
                if toks and toks[-1][-1].isalpha() and (word or rng.random() < 0.3):
                    toks.append(" ")
                toks.append(tok)
            out.append("".join(toks))
        return rng.choice(["-", " ", " - "]).join(out)
    if style == 2:  # every digit spaced
        return " ".join(digits)
    if style == 3:  # emoji between groups
        e = rng.choice(EMOJI)
        return e.join(parts)
    if style == 4:  # all words
        return " ".join(EN_WORDS[int(d)] for d in digits)
    if style == 5:  # look-alike letters
        return "-".join(parts).replace("0", "O").replace("1", "l", 1)
    if style == 6:  # odd separators
        return rng.choice(["*", "|", ";", "/", "_", "~"]).join(parts)
    return " ".join(f"{p[:-1]}{EN_WORDS[int(p[-1])]}" for p in parts)


# --- English-market texts ------------------------------------------------------------

HEADLINES = [
    "New in town", "Available now", "Sweet and friendly", "Last days here", "Visiting this week",
    "Upscale and discreet", "Back in {city}", "Your new favorite", "Relaxing company",
    "Fun and easygoing", "Weekend special", "Independent, no agency",
]  # fmt: skip
CUE_BEFORE = [
    "call or text", "Call", "Text", "TXT", "Text me", "Call me", "Contact:", "Phone:", "Cell:",
    "Call/Text", "text only", "txt or call", "Reach me at", "Mobile:", "Ph:", "Tel:",
]  # fmt: skip
CUE_AFTER = [
    "ask for {name}", "incall only", "in/out", "call or text", "text only please", "no blocked calls",
    "serious inquiries only", "no private numbers", "available now", "24 hrs",
]  # fmt: skip


def _price(rng: random.Random, region: str) -> str:
    cur = {"US": "$", "CA": "$", "GB": "£", "AU": "$", "IN": "₹"}[region]
    amount = rng.choice([80, 100, 120, 150, 160, 200, 250, 300, 350, 400, 500, 600, 800, 1000])
    if region == "IN":
        amount *= 30
    return rng.choice(
        [
            f"{cur}{amount}",
            f"{cur}{amount}/hr",
            f"{cur}{amount} hh",
            f"{amount} roses" if region in ("US", "CA") else f"{cur}{amount} per hour",
            f"{cur}{amount:,}",
            f"Rs. {amount}" if region == "IN" else f"{cur} {amount}",
            f"{amount}{cur}" if region == "GB" else f"{cur}{amount}.00",
        ]
    )


def _time(rng: random.Random) -> str:
    a, b = rng.randint(8, 12), rng.randint(1, 11)
    return rng.choice(
        [
            f"{a}am-{b}pm",
            f"{a}:00 - {b + 12}:00",
            f"from {a} am to {b} pm",
            f"{a}:{rng.choice(['00', '30'])}am till late",
            "24/7",
            f"{b}pm-{rng.randint(1, 5)}am",
            f"Mon-Fri {a}-{b}",
            f"{a}.30am - {b}.30pm",
        ]
    )


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(2023, 2026), rng.randint(1, 12), rng.randint(1, 28)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return rng.choice(
        [
            f"{m}/{d}/{y}",
            f"{d:02d}/{m:02d}/{y}",
            f"{y}-{m:02d}-{d:02d}",
            f"{months[m - 1]} {d}, {y}",
            f"{d} {months[m - 1]} {y}",
            f"{m}/{d}/{y % 100:02d} {rng.randint(1, 12)}:{rng.randint(0, 59):02d} PM",
            f"{d}.{m:02d}.{y}",
        ]
    )


def _postcode(rng: random.Random, region: str) -> str:
    city = rng.choice(CITIES[region])
    if region == "US":
        zip_ = f"{rng.randint(10000, 99999)}"
        return rng.choice(
            [f"{city}, TX {zip_}", f"ZIP {zip_}", f"{city} {zip_}-{rng.randint(1000, 9999)}"]
        )
    if region == "CA":
        L = "ABCEGHJKLMNPRSTVXY"
        return f"{city}, ON {rng.choice(L)}{rng.randint(1, 9)}{rng.choice(L)} {rng.randint(1, 9)}{rng.choice(L)}{rng.randint(1, 9)}"
    if region == "GB":
        return f"{city} LS{rng.randint(1, 29)} {rng.randint(1, 9)}AB"
    if region == "AU":
        return f"{city} WA {rng.randint(2000, 7999)}"
    return rng.choice(
        [f"{city} - {rng.randint(110001, 700099)}", f"PIN {rng.randint(110001, 700099)}"]
    )


def _ad_id(rng: random.Random) -> str:
    """A ten-digit advert id: exactly the shape of a North American number."""
    return str(rng.randint(2_000_000_000, 9_999_999_999))


def filler(rng: random.Random, region: str) -> str:
    """One sentence of the number-dense text real adverts are full of."""
    name = rng.choice(NAMES)
    age = rng.randint(21, 45)
    ft, inch = rng.randint(4, 6), rng.randint(0, 11)
    cm = rng.randint(150, 185)
    choices: list[Callable[[], str]] = [
        lambda: f"{age} yo, {ft}'{inch}\", {rng.randint(100, 160)} lbs",
        lambda: f"Age {age}. Height {cm} cm, weight {rng.randint(45, 75)} kg.",
        lambda: (
            f"Stats: {rng.choice([32, 34, 36])}{rng.choice('BCD')}-{rng.randint(22, 28)}-{rng.randint(32, 38)}"
        ),
        lambda: (
            f"{rng.choice([34, 36])}-{rng.randint(22, 28)}-{rng.randint(32, 38)}, size {rng.choice([4, 6, 8, 10])}"
        ),
        lambda: (
            f"Rates: {_price(rng, region)} 30 min, {_price(rng, region)} 1 hr, {_price(rng, region)} 2 hrs"
        ),
        lambda: f"Donation {_price(rng, region)}, overnight {_price(rng, region)}",
        lambda: (
            f"Available {_time(rng)}, {rng.choice(['7 days a week', 'weekdays', 'weekends only'])}"
        ),
        lambda: f"Posted {_date(rng)}",
        lambda: f"Posted: {_date(rng)} - Ad ID: {_ad_id(rng)}",
        lambda: f"Post ID {_ad_id(rng)}",
        lambda: f"Ad #{_ad_id(rng)}",
        lambda: f"Ref. {rng.randint(10_000_000, 99_999_999)}",
        lambda: f"Verified provider ID {rng.randint(10000, 999999)}",
        lambda: f"Reviews 4.{rng.randint(1, 9)}/5 ({rng.randint(10, 1999):,})",
        lambda: (
            f"{rng.choice([100, 100, 50, 20])}% {rng.choice(['real photos', 'independent', 'deposit first'])}"
        ),
        lambda: (
            f"Located near {rng.randint(100, 9999)} {rng.choice(['Main St', 'Oak Ave', 'High Street', 'Park Road', '5th Ave'])}"
        ),
        lambda: f"Suite {rng.randint(100, 2999)}, {rng.randint(1, 40)}th floor",
        lambda: f"{_postcode(rng, region)}",
        lambda: f"{rng.randint(2, 48)} photos, {rng.randint(1000, 250000):,} views",
        lambda: f"Member since {rng.randint(2012, 2025)}, {rng.randint(2, 300)} reviews",
        lambda: f"{name} is {age} and visiting until {_date(rng)}",
        lambda: f"{rng.randint(2, 5)} days left, {rng.randint(1, 4)} slots at {_time(rng)}",
        lambda: f"Text for rates: {_price(rng, region)} and up",
        lambda: f"Call after {rng.randint(5, 11)} pm, deposit {_price(rng, region)}",
        lambda: f"{ft} ft {inch} in, {rng.randint(100, 160)} lb, {rng.choice([32, 34, 36])}DD",
        lambda: f"{_price(rng, region)} special until {_time(rng)}",
        lambda: (
            f"Room {rng.randint(100, 2400)}, {rng.randint(1, 9)} min from {rng.choice(CITIES[region])} station"
        ),
        lambda: f"Order no. {rng.randint(10**9, 10**10 - 1)}",
        lambda: f"{rng.randint(1, 3)} hr min, {rng.randint(20, 60)} min warning",
    ]
    return rng.choice(choices)()


def _page_url(rng: random.Random, region: str, number_part: str | None) -> str:
    site = rng.choice(SITES)
    city = rng.choice(CITIES[region]).lower().replace(" ", "-")
    ad = _ad_id(rng)
    if number_part is None:
        return rng.choice(
            [
                f"https://{site}/ad/{city}/{ad}",
                f"https://{site}/ad/{ad}.html",
                f"https://{site}/{city}/personals/{ad}/",
                f"https://{site}/view?id={ad}&city={city}",
                f"https://{site}/post/{city}/{rng.randint(10**6, 10**7)}-{ad}",
            ]
        )
    return rng.choice(
        [
            f"https://{site}/ad/{city}/{number_part}/{rng.randint(10**6, 10**8)}",
            f"https://{number_part}.{site}/",
            f"https://{site}/{city}/personals/{rng.choice(NAMES).lower()}-{number_part}-{rng.randint(1000, 99999)}",
            f"https://{site}/ad/{number_part}",
            f"https://{number_part}.{site}/ad/{ad}.html",
        ]
    )


def _title(rng: random.Random, city: str) -> str:
    return rng.choice(HEADLINES).format(city=city)


PLACES = [
    "title", "line-end", "emojis", "repeated", "cue-before", "words-after", "dense-body",
    "url-only", "two-numbers", "line-break", "whatsapp", "with-email-or-telegram",
    "stats-line", "next-to-numbers",
]  # fmt: skip


def en_positive(rng: random.Random, n: int) -> Case:
    region = rng.choice(["US", "US", "US", "US", "CA", "GB", "AU", "IN", "IN"])
    city = rng.choice(CITIES[region])
    name = rng.choice(NAMES)
    num = mobile(rng, region)
    obfuscated = rng.random() < 0.18
    shown = obfuscate_en(rng, num, region) if obfuscated else render_en(rng, num, region)
    expected = [{"kind": "phone", "value": e164(num)}]
    fill = [filler(rng, region) for _ in range(rng.randint(0, 4))]
    emo = rng.choice(EMOJI)
    place = rng.randrange(len(PLACES))
    url = _page_url(rng, region, None)
    if place == 0:  # alone in the title
        text = rng.choice(
            [f"{name} {shown}", f"{shown} {name}", f"{shown}", f"{name} - {shown} - {city}"]
        )
    elif place == 1:  # at the end of a line
        text = "\n".join([_title(rng, city), *fill, f"{name} {shown}"])
    elif place == 2:  # between emojis
        p = rng.choice(PHONE_EMOJI)
        text = f"{emo}{emo} {_title(rng, city)} {emo}{emo}\n{p}{shown}{p}\n" + ". ".join(fill)
    elif place == 3:  # repeated
        shows = [shown] + [render_en(rng, num, region) for _ in range(rng.randint(1, 4))]
        text = f"{name} " + rng.choice([" ", " ", "\n", f" {emo} "]).join(shows)
    elif place == 4:  # cue before
        text = f"{_title(rng, city)}. " + ". ".join(fill) + f"\n{rng.choice(CUE_BEFORE)} {shown}"
    elif place == 5:  # words after
        after = rng.choice(CUE_AFTER).format(name=name)
        text = f"{name} {shown} {after}. " + " ".join(fill)
    elif place == 6:  # inside a number-dense body
        mid = len(fill) // 2
        text = ". ".join([*fill[:mid], f"{name} {shown}", *fill[mid:], filler(rng, region)])
    elif place == 7:  # only in the page URL or host
        nsn = phonenumbers.national_significant_number(num)
        part = (
            f"{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}"
            if region in ("US", "CA")
            else "-".join(groups(num) if region in ("GB", "AU") else _trunkless(num))
        )
        url = _page_url(rng, region, part)
        text = "\n".join([_title(rng, city), *fill, f"Ask for {name}."])
    elif place == 8:  # two numbers
        other = mobile(rng, region)
        expected.append({"kind": "phone", "value": e164(other)})
        text = f"{name} {shown} or {render_en(rng, other, region)}\n" + ". ".join(fill)
    elif place == 9:  # split across a line break
        digits_shown = render_en(rng, num, region)
        cut = (
            max(i for i, c in enumerate(digits_shown) if c in " -.")
            if any(c in " -." for c in digits_shown)
            else None
        )
        if cut is None:
            text = f"{rng.choice(CUE_BEFORE)}\n{digits_shown}"
        else:
            text = f"{_title(rng, city)}\n{name} {digits_shown[: cut + 1].rstrip()}\n{digits_shown[cut + 1 :]}"
    elif place == 10:  # WhatsApp
        intl = phonenumbers.format_number(num, Fmt.INTERNATIONAL)
        expected = [{"kind": "phone", "value": e164(num), "channel": "whatsapp"}]
        text = (
            f"{_title(rng, city)}. "
            + ". ".join(fill)
            + f"\n{rng.choice(['WhatsApp', 'whatsapp only', 'WA'])}: {intl}"
        )
    elif place == 12:  # a stats line: "Age 24 | 5'6 | 130 | 34C | 415-555-0132"
        stats = [
            f"Age {rng.randint(21, 45)}",
            f"{rng.randint(4, 5)}'{rng.randint(0, 11)}",
            str(rng.randint(100, 160)),
            f"{rng.choice([32, 34, 36])}{rng.choice('BCD')}",
            _price(rng, region),
        ]
        rng.shuffle(stats)
        stats.insert(rng.randint(0, len(stats)), shown)
        text = f"{_title(rng, city)}\n" + rng.choice([" | ", " / ", " ~ ", " • ", " "]).join(stats)
    elif place == 13:  # right next to other numbers, nothing between
        before = rng.choice(
            [str(rng.randint(21, 45)), _price(rng, region), _postcode(rng, region),
             f"Room {rng.randint(1, 40)}", _time(rng)]
        )  # fmt: skip
        after = rng.choice(
            [f"{rng.randint(21, 45)} yo", _price(rng, region), "24/7",
             f"{rng.randint(1, 3)} hr min", "100% real"]
        )  # fmt: skip
        text = f"{name} {before} {shown} {after}"
    else:  # e-mail or Telegram next to the number
        handle = f"{name.lower()}{rng.randint(10, 99)}"
        if rng.random() < 0.5:
            mail = rng.choice(
                [
                    f"{handle}@gmail.com",
                    f"{handle} at gmail dot com",
                    f"{handle} @ outlook . com",
                    f"{handle}[at]yahoo[dot]com",
                ]
            )
            domain = (
                "gmail.com"
                if "gmail" in mail
                else "outlook.com"
                if "outlook" in mail
                else "yahoo.com"
            )
            expected.append({"kind": "email", "value": f"{handle}@{domain}"})
            text = f"{name} {shown}\nemail {mail}\n" + ". ".join(fill)
        else:
            tg = rng.choice([f"Telegram @{handle}_x", f"t.me/{handle}_x", f"telegram: {handle}_x"])
            expected.append({"kind": "telegram", "value": f"{handle}_x"})
            text = f"{name} {shown}. {tg}\n" + ". ".join(fill)
    fmt = PLACES[place] + ("+obfuscated" if obfuscated and place not in (7, 10) else "")
    return {
        "id": f"en-{n:04d}",
        "format": fmt,
        "text": text,
        "region": region,
        "language": "en",
        "url": url,
        "expected": expected,
    }


def en_negative(rng: random.Random, n: int) -> Case:
    region = rng.choice(["US", "US", "US", "CA", "GB", "AU", "IN"])
    city = rng.choice(CITIES[region])
    parts = [_title(rng, city)] + [filler(rng, region) for _ in range(rng.randint(3, 8))]
    if rng.random() < 0.3:
        parts.append(
            rng.choice(
                [
                    "Text only, no calls.",
                    "Call for rates.",
                    "Phone number in my profile.",
                    "No texts after 11pm.",
                ]
            )
        )
    if rng.random() < 0.4:  # numbers lined up with nothing between them
        parts.append(
            rng.choice(
                [
                    f"{rng.randint(21, 45)} {rng.randint(4, 5)}'{rng.randint(0, 11)} {rng.randint(100, 160)} {rng.choice([32, 34, 36])} {rng.randint(22, 28)} {rng.randint(32, 38)}",
                    f"Rates {' '.join(str(rng.choice([100, 150, 200, 250, 300, 400, 500, 800])) for _ in range(4))}",
                    f"Hours {rng.randint(9, 12)} {rng.randint(1, 11)} daily, {rng.randint(2, 7)} days",
                    f"{_postcode(rng, region)} {rng.randint(1, 9999)} {rng.randint(100, 999)}",
                ]
            )
        )
    sep = rng.choice([". ", "\n", " | ", " ✨ "])
    return {
        "id": f"en-neg-{n:04d}",
        "format": "negative",
        "text": sep.join(parts),
        "region": region,
        "language": "en",
        "url": _page_url(rng, region, None),
        "expected": [],
    }


# --- multilingual styles --------------------------------------------------------------

WORDS = {
    "en": EN_WORDS,
    "ru": ["ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"],
    "kk": ["нөл", "бір", "екі", "үш", "төрт", "бес", "алты", "жеті", "сегіз", "тоғыз"],
    "ky": ["нөл", "бир", "эки", "үч", "төрт", "беш", "алты", "жети", "сегиз", "тогуз"],
    "uz": ["nol", "bir", "ikki", "uch", "to'rt", "besh", "olti", "yetti", "sakkiz", "to'qqiz"],
    "tg": ["сифр", "як", "ду", "се", "чор", "панҷ", "шаш", "ҳафт", "ҳашт", "нӯҳ"],
    "th": ["ศูนย์", "หนึ่ง", "สอง", "สาม", "สี่", "ห้า", "หก", "เจ็ด", "แปด", "เก้า"],
    "tl": ["sero", "isa", "dalawa", "tatlo", "apat", "lima", "anim", "pito", "walo", "siyam"],
    "ja": ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"],
    "ko": ["공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"],
}
MARKETS = [  # region, language, contact cue, "write to me" cue, filler
    ("KZ", "ru", "Тел:", "пиши", "Цена {p} тг/час, рост {h}, возраст {a} лет. Объявление №{ref}."),
    (
        "KZ",
        "kk",
        "Хабарласыңыз:",
        "жазыңыз",
        "Бағасы {p} теңге, жасы {a}, бойы {h}. Жарнама №{ref}.",
    ),
    ("RU", "ru", "Звоните:", "пишите", "Цена {p} руб/час, рост {h}, вес {w}. Просмотров: {v}."),
    ("KG", "ky", "Тел:", "жазыңыз", "Баасы {p} сом, жашы {a}, бою {h}. Жарнама №{ref}."),
    ("KG", "ru", "Номер:", "пиши", "Цена {p} сом, возраст {a} лет, рост {h}. Обновлено {d}."),
    ("UZ", "uz", "Tel:", "yozing", "Narxi {p} so'm, yoshi {a}, bo'yi {h}. E'lon №{ref}."),
    ("UZ", "ru", "Звонить:", "пишите", "Цена {p} сум, возраст {a} лет, рост {h}. Просмотров {v}."),
    ("TJ", "tg", "Тел:", "нависед", "Нарх {p} сомонӣ, синну сол {a}, қад {h}. Эълон №{ref}."),
    ("TJ", "ru", "Тел.", "пиши", "Цена {p} сомони, возраст {a} лет, рост {h}. Обновлено {d}."),
    ("TH", "th", "โทร", "ทักมา", "ราคา {p} บาท อายุ {a} ปี ส่วนสูง {h} รหัส {ref}"),
    ("JP", "ja", "電話：", "連絡", "料金60分{p}円、{a}歳、身長{h}cm。掲載番号{ref}。"),
    ("KR", "ko", "연락처", "문의", "가격 {p}원, 나이 {a}살, 키 {h}cm. 글번호 {ref}."),
    ("PH", "tl", "Tawag:", "i-text", "Presyo {p} pesos, edad {a}, {h} cm. Ad no. {ref}."),
    ("PH", "en", "Call:", "text me", "Rate {p} php, age {a}, {h} cm. Ad no. {ref}."),
    ("GB", "en", "Call:", "text", "Rates £{p} ph, age {a}, {h} cm. Ref {ref}."),
]
TELEGRAM_MARKETS = {"KZ", "RU", "KG", "UZ", "TJ"}
HOURS = {
    "ru": "с {a} до {b}",
    "kk": "{a}:00-{b}:00 аралығында",
    "ky": "саат {a}дан {b}го чейин",
    "uz": "soat {a} dan {b} gacha",
    "tg": "аз соати {a} то {b}",
    "th": "{a}.00-{b}.00 น.",
    "ja": "{a}時〜{b}時",
    "ko": "{a}시~{b}시",
    "tl": "{a}am hanggang {b}pm",
    "en": "{a}am-{b}pm",
}
MAIL_WORDS = {  # (at, dot) as advertisers write them
    "ru": [("собака", "точка"), ("(собака)", "(точка)")],
    "kk": [("собака", "точка")],
    "ky": [("собака", "точка")],
    "uz": [("at", "dot"), ("собака", "точка")],
    "tg": [("собака", "точка")],
    "en": [("at", "dot"), ("(at)", "(dot)"), ("[at]", "[dot]")],
    "tl": [("at", "dot")],
    "th": [("at", "dot")],
    "ja": [("at", "dot"), ("アット", "ドット")],
    "ko": [("at", "dot"), ("골뱅이", "닷")],
}


def _ml_filler(rng: random.Random, template: str) -> str:
    return template.format(
        p=rng.choice([3000, 5000, 15000, 20000, 150, 200, 1200]),
        a=rng.randint(19, 45),
        h=rng.randint(150, 185),
        w=rng.randint(45, 80),
        ref=rng.randint(10**6, 10**9),
        v=rng.randint(100, 10**6),
        d=f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2025",
    )


def _usual(rng: random.Random, num: phonenumbers.PhoneNumber, region: str) -> str:
    """The market's everyday way of writing a mobile number."""
    nat = groups(num)
    bare = _trunkless(num)
    options = [
        " ".join(nat),
        "".join(nat),
        "-".join(nat),
        phonenumbers.format_number(num, Fmt.NATIONAL),
    ]
    if region in ("UZ", "TJ"):  # no trunk prefix at all
        options += [" ".join(bare), "".join(bare), "-".join(bare)]
    elif region in ("KZ", "RU", "PH"):  # mobiles also written grouped without it
        options += [" ".join(bare), "-".join(bare)]
    return rng.choice(options)


def _word_digits(rng: random.Random, digits: str, lang: str, double: bool = False) -> str:
    """Digits mixed with number words of ``lang``; ``double`` uses "double seven"."""
    words = WORDS[lang]
    out: list[str] = []
    i = 0
    while i < len(digits):
        d = digits[i]
        if double and lang == "en" and i + 1 < len(digits) and digits[i + 1] == d:
            if i + 2 < len(digits) and digits[i + 2] == d:
                out.append(f"triple {words[int(d)]}")
                i += 3
            else:
                out.append(f"double {words[int(d)]}")
                i += 2
            continue
        out.append(words[int(d)] if rng.random() < 0.6 else d)
        i += 1
    joiner = "" if lang in ("th", "ja", "ko") and rng.random() < 0.5 else " "
    return joiner.join(out)


def styles(rng: random.Random) -> list[Case]:
    cases: list[Case] = []

    def add(kind: str, region: str, lang: str, text: str, expected: list[dict[str, str]]) -> None:
        cases.append(
            {
                "id": f"style-{kind}-{len(cases):04d}",
                "format": kind,
                "text": text,
                "region": region,
                "language": lang,
                "expected": expected,
            }
        )

    for _ in range(6):
        for region, lang, cue, write, fill in MARKETS:
            num = mobile(rng, region)
            phone = [{"kind": "phone", "value": e164(num)}]
            nat = "".join(groups(num))
            f = _ml_filler(rng, fill)
            keycaps = "".join(f"{d}\ufe0f\u20e3" for d in nat)
            add("keycap", region, lang, f"{f} {cue} {keycaps}", phone)
            add("words", region, lang, f"{cue} {_word_digits(rng, nat, lang)}. {f}", phone)
            if lang != "en":
                add("words-en", region, lang, f"{f}\n{cue} {_word_digits(rng, nat, 'en')}", phone)
            sep = rng.choice([";", "/", "|", rng.choice(EMOJI), " ; ", " / ", "·"])
            add("separators", region, lang, f"{cue} {sep.join(groups(num))}\n{f}", phone)
            a, b = rng.randint(8, 12), rng.randint(19, 23)
            hours = HOURS[lang].format(a=a, b=b)
            add("hours", region, lang, f"{f} {cue} {hours}: {_usual(rng, num, region)}", phone)
            add(
                "usual", region, lang, f"{rng.choice(NAMES)} {_usual(rng, num, region)}\n{f}", phone
            )
            flat = "".join(groups(num))
            add("dotted", region, lang, f"{f} {cue} {'.'.join(groups(num))}", phone)
            cuts = sorted(rng.sample(range(2, len(flat) - 1), 3))
            odd = " ".join(flat[a:b] for a, b in zip([0, *cuts], [*cuts, len(flat)], strict=True))
            add("odd-grouping", region, lang, f"{cue} {odd}\n{f}", phone)
            shown = _usual(rng, num, region)
            cut = shown.rfind(" ")
            if cut > 0:
                add(
                    "linebreak",
                    region,
                    lang,
                    f"{f}\n{cue} {shown[:cut]}\n{shown[cut + 1 :]}",
                    phone,
                )
            handle = f"{rng.choice(NAMES).lower()}_{rng.randint(10, 999)}"
            at, dot = rng.choice(MAIL_WORDS[lang])
            domain, tld = rng.choice(
                [("gmail", "com"), ("mail", "ru"), ("naver", "com"), ("yandex", "kz")]
            )
            mail = [{"kind": "email", "value": f"{handle}@{domain}.{tld}"}]
            add(
                "email-words", region, lang, f"{f} e-mail: {handle} {at} {domain} {dot} {tld}", mail
            )
            spaced = rng.choice(
                [
                    f"{handle} @ {domain} . {tld}",
                    f"{handle} @{domain}. {tld}",
                    f"{handle}@ {domain} .{tld}",
                ]
            )
            add("email-spaced", region, lang, f"{spaced}\n{f}", mail)
            if region in TELEGRAM_MARKETS:
                tg = [{"kind": "telegram", "value": handle}]
                add("bare-at", region, lang, f"{f} {write} @{handle}", tg)
                add("bare-at", region, lang, f"@{handle}\n{f}", tg)
            else:  # elsewhere a bare @name may be any network: nothing to extract
                add("bare-at-neg", region, lang, f"{f} @{handle}", [])
            if region in ("UZ", "TJ"):
                bare = _trunkless(num)
                add("nine-digit", region, lang, f"{f} {cue} {''.join(bare)}", phone)
                add("nine-digit", region, lang, f"{rng.choice(NAMES)} {' '.join(bare)}. {f}", phone)
            add("negative", region, lang, " ".join(_ml_filler(rng, fill) for _ in range(3)), [])
        # English "double seven" and Thai digit words
        for region in ("GB", "PH", "US"):
            num = mobile(rng, region)
            nat = (
                "".join(groups(num))
                if region != "US"
                else phonenumbers.national_significant_number(num)
            )
            add(
                "double",
                region,
                "en",
                f"Call {_word_digits(rng, nat, 'en', double=True)}",
                [{"kind": "phone", "value": e164(num)}],
            )
        num = mobile(rng, "TH")
        nat = "".join(groups(num))
        th = "".join(WORDS["th"][int(d)] for d in nat)
        add(
            "thai-words",
            "TH",
            "th",
            f"ราคา 1500 บาท โทร {th}",
            [{"kind": "phone", "value": e164(num)}],
        )
        # LINE numeric ids are LINE ids, not phone numbers
        lid = str(rng.randint(10**6, 10**9))
        add(
            "line-numeric", "TH", "th", f"อายุ 24 ปี LINE ID: {lid}", [{"kind": "line", "value": lid}]
        )
        lid = str(rng.randint(10**7, 10**9))
        add(
            "line-numeric",
            "JP",
            "ja",
            f"料金60分15000円。ライン ID：{lid}",
            [{"kind": "line", "value": lid}],
        )
    return cases


def build() -> dict[str, list[Case]]:
    rng = random.Random(SEED)
    en: list[Case] = []
    n_neg = EN_CASES * 2 // 5
    for i in range(EN_CASES - n_neg):
        en.append(en_positive(rng, i))
    for i in range(n_neg):
        en.append(en_negative(rng, i))
    rng.shuffle(en)
    return {"en_market.jsonl": en, "styles.jsonl": styles(random.Random(SEED + 1))}


def _dump(cases: list[Case]) -> str:
    return "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only compare with the committed files"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, cases in build().items():
        path = HERE / name
        text = _dump(cases)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(
            f"stale generated corpus: {', '.join(stale)} (run {Path(__file__).name})",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
