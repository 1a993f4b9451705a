"""The market rules behind cue-less bare numbers, bare @names and the page address."""

from __future__ import annotations

import pytest

from crawler.extract import extract_identifiers
from crawler.extract.markets import bare_at_messenger, usual_bare_number, usual_grouping
from crawler.extract.urls import extract_from_url, url_as_text


def phones(text: str, region: str) -> list[str]:
    return [i.value for i in extract_identifiers(text, region) if i.kind == "phone"]


@pytest.mark.parametrize(
    ("e164", "sizes", "usual"),
    [
        ("+14155550132", (10,), True),  # undivided
        ("+14155550132", (3, 3, 4), True),  # libphonenumber's own grouping
        ("+14155550132", (3, 7), True),  # a coarser one
        ("+14155550132", (2, 2, 2, 2, 2), False),  # how unrelated numbers line up
        ("+14155550132", (4, 3, 3), True),  # three groups of three or four
        ("+14155550132", (1, 2, 3, 4), False),
        ("+919876543210", (5, 5), True),
        ("+919876543210", (3, 3, 4), True),
        ("+998900299894", (2, 3, 2, 2), True),
        ("+77012345678", (3, 3, 2, 2), True),  # area code apart, the rest in twos
        ("+77012345678", (10,), False),  # undivided without the trunk prefix: an id as often
        ("+819012345678", (2, 4, 4), False),  # Japan always writes the trunk 0
        ("+447911123456", (4, 6), False),  # so does Britain
        ("+18005550199", (3, 3, 4), False),  # toll-free: nobody's personal number
    ],
)
def test_usual_bare_numbers(e164: str, sizes: tuple[int, ...], usual: bool) -> None:
    assert usual_bare_number(e164, sizes) is usual


def test_grouping_ignores_the_prefix() -> None:
    assert usual_grouping("+77012345678", (1, 3, 3, 2, 2))  # 8 701 234 56 78
    assert usual_grouping("+447911123456", (5, 6))  # 07911 123456
    assert not usual_grouping("+447911123456", (2, 2, 2, 2, 3))


@pytest.mark.parametrize(
    "text",
    [
        "(415) 555-0132 ask for Amy",
        "Amy 415-555-0132 incall only",
        "Amy 415.555.0132",
        "Amy 4155550132 4155550132",
        "Amy 415 555 0132",
        "💋415💋555💋0132💋",
        "Amy 415|555|0132",
        "Kira 415/555-0132",
        "Amy\n(415) 555-\n0132",
        "four1five 555 zero132",
        "Seven zero six - five five5 - 0115",
        "4 1 5 5 5 5 0 1 3 2",
        "4️⃣1️⃣5️⃣5️⃣5️⃣5️⃣0️⃣1️⃣3️⃣2️⃣",
    ],
)
def test_north_american_numbers_need_no_cue(text: str) -> None:
    assert set(phones(text, "US")) <= {"+14155550132", "+17065550115"}
    assert phones(text, "US")


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("Rates 250 300 4500", "CA"),  # a list of prices, not 250-300-4500
        ("Stats 34 24 36 5 6 130", "US"),
        ("Ad ID: 7712345678", "US"),
        ("Post 9876543210", "IN"),
        ("Артикул: 8 701 234 56 78", "KZ"),  # nor its tail "701 234 56 78"
        ("一二三四五六七八九十の数え方", "JP"),  # Japan writes the trunk prefix
        ("Measurements 184/64/44/415/555", "US"),
        ("Open 10.00-21.00 daily", "TH"),
        ("Darwin WA 6000", "AU"),
    ],
)
def test_numbers_that_stay_unread(text: str, region: str) -> None:
    assert phones(text, region) == []


@pytest.mark.parametrize(
    "text",
    [
        "415-555-0132 $200",  # the next amount's dollar sign is not this number's unit
        "Houston TX 77002 415-555-0132",  # a ZIP code right before it
        "Age 24 415-555-0132",
        "5'6 130 4155550132",
        "Room 12 415 555 0132",
        "(415) 555-0132 - 24 hrs - 100 roses",
    ],
)
def test_numbers_next_to_other_numbers(text: str) -> None:
    assert phones(text, "US") == ["+14155550132"]


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("Geelong WA 5623 4192 935", "AU"),  # a state and a post code, not WhatsApp
        ("Text only, no calls. Andheri - 699757 9349 695", "IN"),  # the cue ends a sentence
        ("📲8128671437📲\n4 ft 8 in", "IN"),  # not a Japanese number over the line end
        ("147 ~ 9 7 5", "US"),
    ],
)
def test_guards_from_generated_negatives(text: str, region: str) -> None:
    assert [v for v in phones(text, region) if v != "+918128671437"] == []


@pytest.mark.parametrize(
    ("text", "region", "found"),
    [
        ("Text only, no calls.\n36 4'5 151 34 22 38", "AU", []),  # a height in it
        ("Call after 8 pm, deposit ₹18,000. 34-26-35", "IN", []),  # rupees, measurements
        ("Hana 584-five5five-0One 3Six.", "CA", ["+15845550136"]),  # not "90-60-90"
        ("New in town\n600£ 07125 856091 Age 25", "GB", ["+447125856091"]),  # 600£ is a price
        ("Zoe 12:00 - 21:00 three 5two - Five5five - 0One Four six", "US", ["+13525550146"]),
        ("Tess 513/555/0135 or 728-555-0152", "US", ["+15135550135", "+17285550152"]),
        ("Text only. 41 4'6 151 32 24 34", "CA", []),
        ("Call 44 7911 123456", "KZ", ["+447911123456"]),  # the country code apart
        ("24 photos, 156,359 views. Nora 8114164952.", "IN", ["+918114164952"]),
    ],
)
def test_guards_and_their_limits(text: str, region: str, found: list[str]) -> None:
    assert phones(text, region) == found


def test_counting_is_not_a_number_spelled_digit_by_digit() -> None:
    assert phones("4 1 5 " * 20, "US") == []
    assert phones("Steps 1 2 3 4 5 6 7 8 9 0 1 2 3 4", "US") == []
    assert phones("4'9 8 0 6 5 5 5 0 1 7 4 • 34B", "US") == ["+18065550174"]


def test_wa_label_is_still_whatsapp_where_wa_is_a_state() -> None:
    found = extract_identifiers("WA: +1 415-555-0132", "US")
    assert [(i.value, i.channel) for i in found] == [("+14155550132", "whatsapp")]


def test_double_zero_opens_an_international_number() -> None:
    assert phones("Room 8 0061 414 477 418", "AU") == ["+61414477418"]


def test_cue_separated_by_opening_hours() -> None:
    assert phones("Звонить с 10 до 22: 90 029 98 94", "UZ") == ["+998900299894"]
    assert phones("Call 10am-10pm: 07911 123456", "GB") == ["+447911123456"]
    assert phones("Звоните: с 12 до 22: 8 919 848 83 95", "RU") == ["+79198488395"]


def test_whatsapp_cue_with_a_number_between_does_not_count() -> None:
    found = extract_identifiers("Perth WA 6000\nNora 0412 677 946", "AU")
    assert [(i.value, i.channel) for i in found] == [("+61412677946", None)]


def test_bare_at_is_telegram_only_in_telegram_markets() -> None:
    assert bare_at_messenger("KZ", None) == "telegram"
    assert bare_at_messenger(None, "ru") == "telegram"
    assert bare_at_messenger("KR", "ko") is None
    ru = extract_identifiers("пиши @anna_k", "RU")
    assert [(i.kind, i.value) for i in ru] == [("telegram", "anna_k")]
    assert extract_identifiers("pishi @anna_k", None, language="ru")[0].kind == "telegram"
    assert extract_identifiers("문의 @anna_k", "KR") == []
    assert extract_identifiers("инста @anna_k", "RU") == []  # a cue names another network


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("mail: anna_k @ naver . com", "anna_k@naver.com"),
        ("anna_k at gmail dot com", "anna_k@gmail.com"),
        ("anna_k アット gmail ドット com", "anna_k@gmail.com"),
        ("anna_k 골뱅이 naver 닷 com", "anna_k@naver.com"),
        ("anna(at)example(dot)com. Available 10-22", "anna@example.com"),
    ],
)
def test_spaced_and_spelled_emails(text: str, value: str) -> None:
    assert [i.value for i in extract_identifiers(text, None) if i.kind == "email"] == [value]


def test_comma_for_dot_and_run_on_addresses() -> None:
    found = extract_identifiers("name@gmail,com; anna@example.xyz, ok", None)
    assert [i.value for i in found] == ["name@gmail.com", "anna@example.xyz"]


def test_telegram_cue_with_a_username_needs_no_colon() -> None:
    found = extract_identifiers("тг anna_k2, Telegram only", "RU")
    assert [(i.kind, i.value) for i in found] == [("telegram", "anna_k2")]


def test_spaced_at_in_prose_is_not_an_email() -> None:
    assert extract_identifiers("ask @ reception. Thanks", "GB") == []


def test_numeric_line_ids_are_line_ids() -> None:
    found = extract_identifiers("LINE ID: 58213947", "TH")
    assert [(i.kind, i.value) for i in found] == [("line", "58213947")]
    found = extract_identifiers("ไลน์ไอดี 0812345678", "TH")
    assert [(i.kind, i.value) for i in found] == [("line", "0812345678")]
    found = extract_identifiers("LINE: 0812345678", "TH")  # the ID to search, even if a phone
    assert [(i.kind, i.value) for i in found] == [("line", "0812345678")]
    found = extract_identifiers("LINE 0812345678 โทร 0812345679", "TH")
    assert [(i.kind, i.value) for i in found] == [("line", "0812345678"), ("phone", "+66812345679")]


@pytest.mark.parametrize(
    ("text", "region", "value"),
    [
        ("call zero seven nine double one triple two 456", "GB", "+447911222456"),
        ("โทร ศูนย์แปดหนึ่งสองสามสี่ห้าหกเจ็ดแปด", "TH", "+66812345678"),
        ("Tel: nol to'qqiz bir 234 56 78", "UZ", "+998912345678"),
        ("Тел: нөл жети нөл нөл бир эки үч 456", "KG", "+996700123456"),
        ("Tawag: sero siyam isa pito 123 4567", "PH", "+639171234567"),
        ("Тел: 92 345 67 89", "TJ", "+992923456789"),
        ("Tel: 901234567", "UZ", "+998901234567"),
    ],
)
def test_digit_words_of_each_market(text: str, region: str, value: str) -> None:
    assert phones(text, region) == [value]


@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("https://board.example/ad/columbia/803-555-0199/12345678", ["+18035550199"]),
        ("https://909-555-0142.example-escorts.example/", ["+19095550142"]),
        ("https://board.example/personals/amy-415-555-0132-8812", ["+14155550132"]),
        ("https://board.example/ad/7712345678.html", []),  # an advert id
        ("https://board.example/view?id=7712345678&p=2", []),
        ("https://board.example/2025/03/14/7712345678", []),
    ],
)
def test_numbers_in_the_page_address(url: str, found: list[str]) -> None:
    idents = extract_from_url(url, "US")
    assert [i.value for i in idents] == found
    for ident in idents:
        assert url[ident.start : ident.end] == ident.match


def test_url_as_text_keeps_offsets() -> None:
    url = "https://a-b.example/x_y/1%202?q=3"
    assert len(url_as_text(url)) == len(url)
