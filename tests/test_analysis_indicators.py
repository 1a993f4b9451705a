"""Each risk indicator fires on a positive case, stays silent on a negative one, obeys its config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.analysis.analysis_config import ConfigError, load_config
from crawler.analysis.indicators import (
    RULES,
    AdFacts,
    Contact,
    IndicatorContext,
    evaluate,
    obfuscation_reasons,
)
from crawler.analysis.minhash import Signer

CONFIG = load_config()
T0 = datetime(2026, 10, 1, tzinfo=UTC)


def ad(i: int, **kw: object) -> AdFacts:
    base = {"platform": "uk_directory", "name": f"Name{i}", "language": "en", "capture_id": 100 + i}
    return AdFacts(id=i, **{**base, **kw})  # type: ignore[arg-type]


def phone(
    ad_id: int, value: str = "+447700900123", match: str | None = None, ident: int = 1
) -> Contact:
    return Contact(ad_id, ident, "phone", value, match or value, 500 + ad_id)


def fired(rule: str, ctx: IndicatorContext, config=CONFIG) -> dict[int, dict]:  # type: ignore[no-untyped-def]
    hits = RULES[rule](ctx, config.indicators[rule], config)
    return {h.ad: h.evidence for h in hits}


def test_every_rule_is_configured_documented_and_switchable() -> None:
    assert set(CONFIG.indicators) == set(RULES)
    for rule in CONFIG.indicators.values():
        assert rule.title and rule.source and rule.description
    assert CONFIG.indicators["movement_wording"].enabled is False  # not predictive (2024 study)


def test_shared_identifier_many_names() -> None:
    ads = {i: ad(i) for i in (1, 2, 3)}
    positive = IndicatorContext(ads, [phone(1), phone(2), phone(3)])
    hits = fired("shared_identifier_many_names", positive)
    assert set(hits) == {1, 2, 3}
    assert hits[1]["identifiers"][0]["names"] == ["name1", "name2", "name3"]
    same_name = IndicatorContext(
        {i: ad(i, name="Ava") for i in (1, 2, 3)}, [phone(1), phone(2), phone(3)]
    )
    assert fired("shared_identifier_many_names", same_name) == {}
    two_ads = IndicatorContext({i: ad(i) for i in (1, 2)}, [phone(1), phone(2)])
    assert fired("shared_identifier_many_names", two_ads) == {}


def test_poster_many_people() -> None:
    ads = {
        1: ad(1, poster_account="agency-x"),
        2: ad(2, poster_account="agency-x"),
        3: ad(3, poster_account="m-1"),
    }
    hits = fired("poster_many_people", IndicatorContext(ads))
    assert set(hits) == {1, 2} and hits[1]["poster_account"] == "agency-x"
    same = {1: ad(1, poster_account="a", name="Ava"), 2: ad(2, poster_account="a", name="ava ")}
    assert fired("poster_many_people", IndicatorContext(same)) == {}


def test_duplicate_text_many_names() -> None:
    signer = Signer(CONFIG.linking.signature)
    text = "the very same long advert wording copied word for word into several different adverts"
    rows = signer.signatures(
        [text, text, "an unrelated and entirely different text about dancing lessons"]
    )
    ads = {1: ad(1, name="Ava"), 2: ad(2, name="Mia"), 3: ad(3, name="Zoe")}
    hits = fired(
        "duplicate_text_many_names",
        IndicatorContext(ads, signatures={1: rows[0], 2: rows[1], 3: rows[2]}),
    )
    assert set(hits) == {1, 2} and hits[1]["similar_ads"] == [2]
    same_name = {1: ad(1, name="Ava"), 2: ad(2, name="Ava")}
    assert (
        fired(
            "duplicate_text_many_names",
            IndicatorContext(same_name, signatures={1: rows[0], 2: rows[1]}),
        )
        == {}
    )


def test_contact_multi_platform() -> None:
    ads = {1: ad(1, platform="kz_board"), 2: ad(2, platform="uk_directory"), 3: ad(3), 4: ad(4)}
    ctx = IndicatorContext(
        ads,
        [
            phone(1),
            phone(2),
            phone(3, "+447700900999", ident=2),
            phone(4, "+447700900999", ident=2),
        ],
    )
    hits = fired("contact_multi_platform", ctx)
    assert set(hits) == {1, 2}
    assert hits[1]["identifiers"][0]["platforms"] == ["kz_board", "uk_directory"]


def test_many_locations() -> None:
    ads = {1: ad(1, location="Leeds"), 2: ad(2, location="Bristol"), 3: ad(3, location="Cardiff")}
    assert set(fired("many_locations", IndicatorContext(ads, [phone(1), phone(2), phone(3)]))) == {
        1,
        2,
        3,
    }
    two = {1: ad(1, location="Leeds"), 2: ad(2, location="leeds"), 3: ad(3, location="Bristol")}
    assert fired("many_locations", IndicatorContext(two, [phone(1), phone(2), phone(3)])) == {}


def test_rapid_movement() -> None:
    ads = {
        1: ad(1, location="Leeds", posted="2026-10-01"),
        2: ad(2, location="Bristol", posted="2026/10/04"),
    }
    hits = fired("rapid_movement", IndicatorContext(ads, [phone(1), phone(2)]))
    assert set(hits) == {1, 2} and hits[1]["identifiers"][0]["days"] == 3.0
    slow = {
        1: ad(1, location="Leeds", posted="2026-08-01"),
        2: ad(2, location="Bristol", posted="2026.10.04"),
    }
    assert fired("rapid_movement", IndicatorContext(slow, [phone(1), phone(2)])) == {}


def test_sustained_volume_across_recrawls() -> None:
    ads = {i: ad(i) for i in range(1, 6)}
    contacts = [phone(i) for i in ads]
    long_seen = {i: (T0, T0 + timedelta(days=20)) for i in ads}
    assert set(fired("sustained_volume", IndicatorContext(ads, contacts, seen=long_seen))) == set(
        ads
    )
    one_crawl = {i: (T0, T0 + timedelta(hours=1)) for i in ads}
    assert fired("sustained_volume", IndicatorContext(ads, contacts, seen=one_crawl)) == {}
    few = {i: ads[i] for i in (1, 2, 3, 4)}
    assert fired("sustained_volume", IndicatorContext(few, contacts[:4], seen=long_seen)) == {}


def test_third_person_per_language() -> None:
    ads = {
        1: ad(1, body="She is available for gala dinners."),
        2: ad(2, body="I am available for gala dinners. Shell company events."),
        3: ad(3, language="ja", body="彼女は東京在住です。"),
        4: ad(4, language="ja", body="東京在住です。"),
    }
    hits = fired("third_person", IndicatorContext(ads))
    assert set(hits) == {1, 3}
    assert hits[1]["phrases"] == {"body": ["she is"]}


def test_young_age_by_stated_age_and_keywords() -> None:
    ads = {
        1: ad(1, age="19"),
        2: ad(2, age="24", title="College girl for events"),
        3: ad(3, age="２０歳", language="ja"),
        4: ad(4, age="24", body="Teenage years are long behind me? no: teen-free wording here"),
        5: ad(5, age="27", body="Experienced hostess."),
    }
    hits = fired("young_age", IndicatorContext(ads))
    assert hits[1] == {"stated_age": 19}
    assert hits[2]["phrases"] == {"title": ["college girl"]}
    assert hits[3] == {"stated_age": 20}
    assert 5 not in hits


def test_obfuscated_contact() -> None:
    ads = {i: ad(i) for i in range(1, 8)}
    contacts = [
        phone(1, match="07700 9OO123"),
        phone(2, match="zero seven seven zero zero nine zero zero one two three"),
        phone(3, match="0 7 7 0 0 9 0 0 1 2 3"),
        phone(4, match="07700_900_123"),
        Contact(5, 9, "email", "ava@example.org", "ava [at] example [dot] org", 505),
        phone(6, match="07700 900123"),
        phone(7, match="https://wa.me/447700900123"),
    ]
    hits = fired("obfuscated_contact", IndicatorContext(ads, contacts))
    assert set(hits) == {1, 2, 3, 4, 5}
    assert hits[1]["contacts"][0]["why"] == ["letters or words among the digits"]
    assert hits[3]["contacts"][0]["why"] == ["every digit spaced apart"]


def test_native_digits_are_not_obfuscation_but_foreign_ones_are() -> None:
    th, en = CONFIG.lexicon("th"), CONFIG.lexicon("en")
    assert obfuscation_reasons("phone", "๐๘๑-๒๓๔-๕๖๗๘", th) == []
    assert obfuscation_reasons("phone", "٠٧٧٠٠ ٩٠٠١٢٣", en) == ["unusual digit characters"]
    assert obfuscation_reasons("phone", "7\ufe0f\u20e30\ufe0f\u20e3", en) == [
        "emoji or keycap digits"
    ]


def test_movement_wording_is_off_by_default_and_can_be_switched_on(tmp_path: Path) -> None:
    ads = {1: ad(1, title="New in town for three days"), 2: ad(2, title="Weekend bookings")}
    ctx = IndicatorContext(ads)
    assert "movement_wording" not in evaluate(ctx, CONFIG)
    override = tmp_path / "mine.toml"
    override.write_text(
        "[indicators.movement_wording]\nenabled = true\nweight = 0.5\n", encoding="utf-8"
    )
    config = load_config(override)
    assert set(h.ad for h in evaluate(ctx, config)["movement_wording"]) == {1}
    assert config.indicators["movement_wording"].weight == 0.5


def test_disabled_rule_does_not_run(tmp_path: Path) -> None:
    override = tmp_path / "off.toml"
    override.write_text("[indicators.young_age]\nenabled = false\n", encoding="utf-8")
    hits = evaluate(IndicatorContext({1: ad(1, age="18")}), load_config(override))
    assert "young_age" not in hits


def test_extra_lexicon_directory_adds_a_language(tmp_path: Path) -> None:
    lex = tmp_path / "lex"
    lex.mkdir()
    (lex / "de.toml").write_text(
        'language = "de"\n[youth]\nphrases = ["schülerin"]\n', encoding="utf-8"
    )
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('lexicon_dirs = ["lex"]\n', encoding="utf-8")
    config = load_config(cfg)
    hits = evaluate(IndicatorContext({1: ad(1, language="de", body="Schülerin, 24")}), config)
    assert [h.ad for h in hits["young_age"]] == [1]


@pytest.mark.parametrize(
    "text",
    [
        "[indicators.no_such_rule]\ntitle='x'\nsource='y'\n",
        "[linking.weights]\nphone = -1\n",
        "[linking.weights]\nfax = 1.0\n",
        '[networks]\ndefault = "some"\n',
        "not toml = = =",
    ],
)
def test_bad_configuration_is_one_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_config(path)
