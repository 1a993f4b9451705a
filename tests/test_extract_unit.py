"""Focused tests of crawler.extract: one per obfuscation, offsets, WhatsApp channel."""

from __future__ import annotations

import pytest

from crawler.extract import Identifier, extract_identifiers
from crawler.extract.normalize import normalize

KZ = "+77012345678"  # written nationally as 8 701 234 56 78


def phones(text: str, region: str | None = "KZ") -> list[tuple[str, str | None]]:
    return [(i.value, i.channel) for i in extract_identifiers(text, region) if i.kind == "phone"]


@pytest.mark.parametrize(
    ("text", "region", "value"),
    [
        ("Тел: 8 701 234 56 78", "KZ", KZ),
        ("+7 701 234 56 78", "KZ", KZ),
        ("call 8*7*0*1*2*3*4*5*6*7*8", "KZ", KZ),
        ("тел 8_7_0_1_2_3_4_5_6_7_8", "KZ", KZ),
        ("тел 8!701!234!56!78", "KZ", KZ),
        ("тел 8;701;234;56;78", "KZ", KZ),
        ("тел 8💋7💋0💋1💋2💋3💋4💋5💋6💋7💋8", "KZ", KZ),
        ("тел 8 / 701 / 234 . 56 - 78", "KZ", KZ),
        ("call eight seven zero one two three four five six seven eight", "KZ", KZ),
        ("звони восемь семь ноль один два три четыре пять шесть семь восемь", "KZ", KZ),
        ("звони 8 семь 0 один 2 три 4 пять 6 семь 8", "KZ", KZ),
        ("Тел 8семь01два345678", "KZ", KZ),
        ("8️⃣7️⃣0️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣", "KZ", KZ),
        ("тел ８７０１２３４５６７８", "KZ", KZ),
        ("тел ٨٧٠١٢٣٤٥٦٧٨", "KZ", KZ),
        ("Тел: 87O1 234 56 78", "KZ", KZ),
        ("Тел: 8 7Ol 234 56 78", "KZ", KZ),
        ("Тел: 8 7О1 234 56 78", "KZ", KZ),  # Cyrillic О
        ("Тел: 8 70I 234 56 78", "KZ", KZ),
        ("โทร ๐๘๑-๒๓๔-๕๖๗๘", "TH", "+66812345678"),
        ("電話 〇九〇-一二三四-五六七八", "JP", "+819012345678"),
        ("電話 ０９０－１２３４－５６７８", "JP", "+819012345678"),
        ("연락 공일공 일이삼사 오육칠팔", "KR", "+821012345678"),
        ("연락 영일영-일이삼사-오육칠팔", "KR", "+821012345678"),
        ("Call 07911 123456", "GB", "+447911123456"),
        ("Tawag: 0917 123 4567", "PH", "+639171234567"),
        ("Tel: 90 123 45 67", "UZ", "+998901234567"),
        ("Тел: 0700 123 456", "KG", "+996700123456"),
    ],
)
def test_obfuscations(text: str, region: str, value: str) -> None:
    assert phones(text, region) == [(value, None)]


def test_offsets_refer_to_the_original_text() -> None:
    text = "Анна 25 лет. Тел: 8️⃣7️⃣0️⃣1️⃣ два три 4 5 six 7 8 — жду"
    (ident,) = extract_identifiers(text, "KZ")
    assert (ident.kind, ident.value) == ("phone", KZ)
    assert text[ident.start : ident.end] == ident.match
    assert ident.match.startswith("8️⃣") and ident.match.endswith("8")


def test_identifier_to_dict() -> None:
    ident = Identifier("phone", KZ, "8 701", 3, 8)
    assert ident.to_dict() == {"kind": "phone", "value": KZ, "match": "8 701", "start": 3, "end": 8}
    wa = Identifier("phone", KZ, "x", 0, 1, "whatsapp")
    assert wa.to_dict()["channel"] == "whatsapp"


def test_normalize_keeps_an_offset_map() -> None:
    text = "x 5️⃣ семь ０"
    norm = normalize(text)
    assert norm.text == "x 5 7 0"
    assert norm.span(2, 3) == (2, 5)
    assert text[slice(*norm.span(4, 5))] == "семь"
    assert text[slice(*norm.span(6, 7))] == "０"


@pytest.mark.parametrize(
    "text",
    [
        "https://wa.me/77012345678",
        "wa.me/+77012345678",
        "https://api.whatsapp.com/send?phone=77012345678&text=hi",
        "WhatsApp: 8 701 234 56 78",
        "ватсап 87012345678",
        "Tel/WhatsApp 8 701 234 56 78",
        "8 701 234 56 78 (WhatsApp)",
    ],
)
def test_whatsapp_numbers_are_phones_with_a_channel(text: str) -> None:
    assert phones(text) == [(KZ, "whatsapp")]


def test_whatsapp_channel_only_for_the_number_after_the_cue() -> None:
    text = "Тел: 8 701 234 56 78, WhatsApp: 8 702 456 78 12"
    assert phones(text) == [(KZ, None), ("+77024567812", "whatsapp")]


def test_same_number_plain_and_whatsapp_share_the_value() -> None:
    found = phones("Call 8 701 234 56 78\nhttps://wa.me/77012345678")
    assert found == [(KZ, None), (KZ, "whatsapp")]


def test_foreign_number_in_international_form() -> None:
    assert phones("Call +7 701 234 56 78", "PH") == [(KZ, None)]
    assert phones("Contact +7 701 234 56 78") == [(KZ, None)]
    assert phones("Contact +7 701 234 56 78", None) == [(KZ, None)]


@pytest.mark.parametrize(
    "text",
    [
        "Цена 15 000 тг, ночь 45 000 тг",
        "Рост 170, вес 55, возраст 23",
        "Дата 12.03.2024, время 10:00-22:00",
        "Объявление № 87012345678",
        "Номер объявления 87012345678",
        "ISBN 978-601-7000-12-3",
        "Индекс 050000",
        "просмотров: 87 012 345",
        "Ad number 87012345678",
        "掲載番号 366378491",
        "글번호 390921237",
        "https://example.org/ad/87012345678",
        "anna87012345678@example.org",
        "7012345678",  # no trunk prefix and no cue: could be anything
    ],
)
def test_numbers_that_are_not_contacts(text: str) -> None:
    assert phones(text) == []


def test_bare_national_number_needs_a_cue() -> None:
    assert phones("Тел: 701 234 56 78") == [(KZ, None)]
    assert phones("Размер 701 234 56 78") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("anna@example.com", "anna@example.com"),
        ("Anna.K@Example.ORG", "anna.k@example.org"),
        ("anna [at] example [dot] com", "anna@example.com"),
        ("anna(at)example(dot)com", "anna@example.com"),
        ("anna at example dot com", "anna@example.com"),
        ("anna собака example точка ru", "anna@example.ru"),
        ("anna {at} mail.example.kz", "anna@mail.example.kz"),
    ],
)
def test_emails(text: str, value: str) -> None:
    found = extract_identifiers(f"Пишите: {text}.")
    assert [(i.kind, i.value) for i in found] == [("email", value)]


def test_prose_with_at_and_dot_is_not_an_email() -> None:
    assert extract_identifiers("meet me at noon dot then we go") == []


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("Telegram: @Anna_K88", "telegram", "anna_k88"),
        ("тг @mira_22", "telegram", "mira_22"),
        ("https://t.me/Boris_22", "telegram", "boris_22"),
        ("telegram.me/sunny_bkk", "telegram", "sunny_bkk"),
        ("LINE: anna.k", "line", "anna.k"),
        ("ไลน์ @lotus22", "line", "@lotus22"),
        ("https://line.me/ti/p/~anna.k", "line", "anna.k"),
        ("카톡 anna22", "kakao", "anna22"),
        ("카카오톡 ID: Mira_7", "kakao", "mira_7"),
        ("https://open.kakao.com/o/sAbC123", "kakao", "open.kakao.com/o/sAbC123"),
        ("微信：anna2024", "wechat", "anna2024"),
        ("WeChat ID lotus_88", "wechat", "lotus_88"),
        ("https://Example.ORG/Profile/Anna?x=1", "url", "https://example.org/Profile/Anna?x=1"),
        ("www.example.net/anna", "url", "http://www.example.net/anna"),
    ],
)
def test_handles_and_links(text: str, kind: str, value: str) -> None:
    found = extract_identifiers(text, "TH")
    assert [(i.kind, i.value) for i in found] == [(kind, value)]
    assert all(text[i.start : i.end] == i.match for i in found)


def test_at_handle_without_a_messenger_cue_is_ignored() -> None:
    assert extract_identifiers("Instagram: @anna_22") == []
    assert extract_identifiers("hello @anna_22") == []


def test_results_sorted_and_deduplicated() -> None:
    text = "mail anna@example.com, tel 8 701 234 56 78, t.me/anna_k, tel 8 701 234 56 78"
    found = extract_identifiers(text, "KZ")
    assert [i.start for i in found] == sorted(i.start for i in found)
    assert [i.kind for i in found] == ["email", "phone", "telegram", "phone"]
    assert len({(i.kind, i.value, i.start) for i in found}) == len(found)


def test_empty_and_region_case() -> None:
    assert extract_identifiers("") == []
    assert phones("Тел: 8 701 234 56 78", "kz") == [(KZ, None)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Telegram: https://t.me/anna_k", [("telegram", "anna_k")]),
        ("LINE: anna@example.com", [("email", "anna@example.com")]),
        ("Kakao: www.example.org/anna", [("url", "http://www.example.org/anna")]),
        ("Telegram: @anna_k.", [("telegram", "anna_k")]),
        ("LINE: anna.k.", [("line", "anna.k")]),
    ],
)
def test_handles_do_not_swallow_links_or_punctuation(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert [(i.kind, i.value) for i in extract_identifiers(text, "TH")] == expected


def test_cue_inside_a_link_is_not_a_cue() -> None:
    """The "wa" of wa.me must not make the next, plainly written number a WhatsApp one."""
    assert phones("wa.me/77012345678 or 8 702 456 78 12") == [
        (KZ, "whatsapp"),
        ("+77024567812", None),
    ]


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("184/64/44 91-68-106 190 75", "GB"),  # measurements list, not +44 …
        ("836582 88 156/87/35", "RU"),  # a 6-digit head is not how numbers are written
        ("ISBN 979-0-457-67703-1", "JP"),  # never start inside a token
        ("Координаты -11.106977, -18.042655 2001-05-27", "JP"),  # decimals are quantities
        ("Цена 28,151 тг, 689.988 тг ночь 176/82/24 94-59-108", "JP"),  # "тг" after a price
        ("12.09.2030 02:13 88-67-97 151 49", "KZ"),  # 88-67-97 is not a trunk prefix
    ],
)
def test_number_soups_are_not_phones(text: str, region: str) -> None:
    assert phones(text, region) == []


def test_list_punctuation_inside_a_number_needs_a_cue() -> None:
    assert phones("8/701/234/56/78") == []
    assert phones("Тел: 8/701/234/56/78") == [(KZ, None)]
    assert phones("87012345678,87024567812") == [(KZ, None), ("+77024567812", None)]


def test_circled_tens_are_not_read_as_digits() -> None:
    # The dingbat circled-number ranges hold tens (❿ U+277F, ➉ U+2789): no digit, no error.
    assert extract_identifiers("call ❿ ➉ today", None) == []
