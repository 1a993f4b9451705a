"""Benchmark: ``extract_identifiers`` vs bare ``phonenumbers.PhoneNumberMatcher``.

Builds 20,000 synthetic ads (seeded; Russian, Kazakh, English, Japanese,
Korean, Thai and Filipino texts; plain and obfuscated contacts; many numbers
that are not contacts), runs both over the same ads with the same default
region, and prints ads per second for each, their ratio, and how many of the
planted phone numbers each one found. Target: ours at least half the bare
matcher's speed, i.e. our time at most 2x its time (it does far more:
normalisation, cues, market rules, e-mails, handles, links).

    python bench/extract_speed.py [--ads N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import phonenumbers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawler.extract import extract_identifiers  # noqa: E402
from crawler.extract.phones import parse_e164  # noqa: E402

PREFIXES = {
    "KZ": ("7", ["701", "702", "705", "707", "747", "777"], 7),
    "RU": ("7", ["903", "916", "926", "977", "985"], 7),
    "JP": ("81", ["90", "80", "70"], 8),
    "KR": ("82", ["10"], 8),
    "TH": ("66", ["81", "86", "89", "92"], 7),
    "GB": ("44", ["7911", "7400", "7555"], 6),
    "PH": ("63", ["917", "905", "918", "927"], 7),
}
LANGS = {"KZ": "ru", "RU": "ru", "JP": "ja", "KR": "ko", "TH": "th", "GB": "en", "PH": "en"}
CUES = {
    "ru": ["Тел:", "Звоните", "Пишите в WhatsApp", "Номер:", "Хабарласыңыз:"],
    "ja": ["電話：", "TEL", "連絡先"],
    "ko": ["연락처", "전화", "문의"],
    "th": ["โทร", "ติดต่อ", "เบอร์"],
    "en": ["Call", "Tel:", "Text me on", "WhatsApp:"],
}
FILLER = {
    "ru": "Девушка {a} лет, рост {h}, вес {w}. Цена {p} тг/час, ночь {p2} тг. Работаю с {t} до {t2}. "
    "Объявление №{ref}, просмотров {v}. Обновлено {d}. Приятная, спокойная, без вредных привычек.",
    "ja": "{a}歳、身長{h}cm。料金60分{p}円、90分{p2}円。営業時間{t}〜{t2}。掲載番号{ref}、閲覧数{v}、更新日{d}。",
    "ko": "나이 {a}살, 키 {h}cm, 몸무게 {w}kg. 가격 {p}원, {p2}원. 영업시간 {t}-{t2}. 글번호 {ref}, 조회수 {v}, {d}.",
    "th": "อายุ {a} ปี ส่วนสูง {h} น้ำหนัก {w} ราคา {p} บาท ค้างคืน {p2} บาท เปิด {t}-{t2} รหัส {ref} เข้าชม {v} วันที่ {d}",
    "en": "Age {a}, height {h}cm, {w}kg. Rates from {p} per hour, {p2} overnight. Available {t}-{t2}. "
    "Ad ref {ref}, {v} views, posted {d}. Friendly and discreet, city centre.",
}
WORDS_EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
WORDS_RU = ["ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"]


def _number(rng: random.Random, region: str) -> phonenumbers.PhoneNumber:
    cc, prefixes, rest = PREFIXES[region]
    while True:
        digits = rng.choice(prefixes) + "".join(rng.choice("0123456789") for _ in range(rest))
        num = phonenumbers.parse(f"+{cc}{digits}")
        if phonenumbers.is_valid_number(num):
            return num


def _render(rng: random.Random, num: phonenumbers.PhoneNumber, lang: str) -> str:
    national = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
    digits = "".join(c for c in national if c.isdigit())
    style = rng.randrange(8)
    if style == 0:
        return national
    if style == 1:
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if style == 2:
        return rng.choice(["*", "_", "!", ".", "💋"]).join(digits)
    if style == 3:
        return "".join(f"{d}\ufe0f\u20e3" for d in digits)
    if style == 4:
        words = WORDS_RU if lang == "ru" else WORDS_EN
        return " ".join(words[int(d)] if i % 2 else d for i, d in enumerate(digits))
    if style == 5:
        return "".join(chr(0xFF10 + int(d)) for d in digits)
    if style == 6:
        return digits.replace("0", "O").replace("1", "l")
    return "wa.me/" + phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)[1:]


def make_ads(n: int, seed: int) -> list[tuple[str, str, list[str]]]:
    """(text, region, planted E.164 numbers) per ad."""
    rng = random.Random(seed)
    ads = []
    regions = list(PREFIXES)
    for _ in range(n):
        region = rng.choice(regions)
        lang = LANGS[region]
        planted = []
        parts = [_filler(rng, lang), _filler(rng, lang)]
        for _ in range(rng.choice([1, 1, 2, 3])):
            num = _number(rng, region)
            planted.append(phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164))
            parts.append(f"{rng.choice(CUES[lang])} {_render(rng, num, lang)}")
        if rng.random() < 0.3:
            parts.append(
                f"Telegram: @user_{rng.randint(100, 999)}, mail u{rng.randint(1, 99)} [at] example [dot] com"
            )
        rng.shuffle(parts)
        ads.append((" ".join(parts), region, planted))
    return ads


def _filler(rng: random.Random, lang: str) -> str:
    """Ad text full of numbers that are not contacts (age, price, times, ids, views, dates)."""
    h = rng.randint(9, 14)
    return FILLER[lang].format(
        a=rng.randint(19, 45),
        h=rng.randint(150, 185),
        w=rng.randint(45, 80),
        p=rng.choice([3000, 5000, 15000, 20000, 150, 200]),
        p2=rng.choice([30000, 45000, 60000, 1200, 900]),
        t=f"{h}:00",
        t2=f"{h + 9}:00",
        ref=rng.randint(10**6, 10**9),
        v=rng.randint(100, 10**6),
        d=f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2024",
    )


def _time(fn, ads) -> tuple[float, int, int]:
    """Seconds, planted numbers found, numbers found that were not planted."""
    found = extra = 0
    start = time.perf_counter()
    for text, region, planted in ads:
        values = fn(text, region)
        found += sum(1 for p in planted if p in values)
        extra += len(values - set(planted))
    return time.perf_counter() - start, found, extra


def _ours(text: str, region: str) -> set[str]:
    return {i.value for i in extract_identifiers(text, region) if i.kind == "phone"}


def _matcher(text: str, region: str) -> set[str]:
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    return {
        phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164) for m in matcher
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    ads = make_ads(args.ads, args.seed)
    planted = sum(len(p) for _, _, p in ads)
    chars = sum(len(t) for t, _, _ in ads)
    print(f"{len(ads)} ads, {chars / len(ads):.0f} chars/ad, {planted} planted phone numbers")
    _ours(ads[0][0], ads[0][1])  # import-time work (regex compilation) out of the timing
    _matcher(ads[0][0], ads[0][1])
    parse_e164.cache_clear()
    t_matcher, f_matcher, x_matcher = _time(_matcher, ads)
    t_ours, f_ours, x_ours = _time(_ours, ads)
    for label, t, f, x in (
        ("PhoneNumberMatcher (VALID)", t_matcher, f_matcher, x_matcher),
        ("extract_identifiers       ", t_ours, f_ours, x_ours),
    ):
        print(
            f"{label}: {len(ads) / t:8.0f} ads/s  found {f / planted:6.1%} of planted,"
            f" {x} numbers not planted"
        )
    ratio = t_ours / t_matcher
    print(
        f"ratio (our time / matcher time): {ratio:.2f}x  (target <= 2x): {'OK' if ratio <= 2 else 'SLOW'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
