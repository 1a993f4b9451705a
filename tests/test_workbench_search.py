"""Workbench search: the query grammar, and the same adverts on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from conftest import migrated_sqlite
from crawler.store.db import open_store
from crawler.store.models import Ad, AdIdentifier, AdSearch, Identifier, Platform
from crawler.workbench.search import SearchError, SearchRequest, search
from crawler.workbench.searchindex import refresh
from crawler.workbench.searchquery import And, Not, Or, QueryError, Term, parse

T0 = datetime(2026, 11, 1, tzinfo=UTC)

# Synthetic, neutral advert texts in several scripts.
TEXTS = [
    ("Friendly tutor offers piano lessons", "Call any evening. Quiet studio near the park."),
    ("Piano tuning and repair", "Grand and upright pianos, twenty years of practice."),
    ("Guitar lessons for beginners", "Group or private lessons, evenings only."),
    ("東京の料理教室", "毎週土曜日に和食の料理教室を開いています。初心者歓迎。"),
    ("서울 요리 수업", "주말마다 한식 요리 수업을 합니다. 초보자 환영."),
    ("เรียนทำอาหารไทย", "สอนทำอาหารไทยทุกวันเสาร์ ยินดีต้อนรับผู้เริ่มต้น"),
    ("Ｆｕｌｌ-width PIANO notes", "Sheet music 100% free; 50_50 split with a friend."),
    ("Bicycle repair (quick)", 'Say "hello" at the door. No piano here.'),
]

QUERIES = [
    "piano",
    "PIANO",
    '"piano lessons"',
    "piano lessons",
    "piano OR guitar",
    "piano NOT tuning",
    "piano -repair",
    "lessons AND (evening OR evenings)",
    "NOT piano",
    "料理教室",
    "東京",
    "요리",
    "ทำอาหาร",
    "100%",
    "50_50",
    '"say"',
    '"hello"',
    "(quick)",
    "a",
    "ab",
    "zzzz",
    "料理 OR 요리",
    "NOT 東京",
    "요리 -수업",
    "lessons -ab",
    "(東京 OR piano) 教室",
    # the word index (PostgreSQL): inside a word, in several words, NOT and OR of words
    "iano",
    "pianos",
    "lessons -evening",
    "repair -piano -tuning",
    "-lessons -piano",
    "tutor OR 東京",
    "guitar OR tuning OR repair",
    '"piano lessons" OR tuning',
    "lessons evenings",
    "full-width",
]

# Invented names and places, several scripts (a name per advert, a place per advert).
NAMES = ["Anna Lee", "さくら", "민지", "Анна"]
PLACES = ["Riverside Park", "東京都 新宿区", "서울 강남", "Old Town"]


def test_grammar_trees() -> None:
    assert parse("red car") == And((Term("red"), Term("car")))
    assert parse('"Red  Car" OR blue') == Or((Term("red car"), Term("blue")))
    assert parse("NOT (a OR b) c") == And((Not(Or((Term("a"), Term("b")))), Term("c")))
    assert parse("-foo bar") == And((Not(Term("foo")), Term("bar")))
    assert parse("red or car") == And((Term("red"), Term("or"), Term("car")))
    assert parse("ＰＩＡＮＯ") == Term("piano")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"open', "closing"),
        ("(a OR b", "')'"),
        ("a OR", "ends"),
        ("a )", "unexpected"),
        ("", "empty"),
        ("x" * 501, "longer"),
        (" ".join(["w"] * 21), "at most 20"),
    ],
)
def test_grammar_errors_are_one_line(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(query)


def _fill(url: str) -> object:
    factory = open_store(url)
    with factory() as s:
        p1, p2 = Platform(name="board-a"), Platform(name="board-b")
        s.add_all([p1, p2])
        s.flush()
        phone = Identifier(kind="phone", value="+77015550101")
        s.add(phone)
        s.flush()
        for i, (title, body) in enumerate(TEXTS):
            ad = Ad(
                platform_id=(p1 if i % 2 == 0 else p2).id,
                external_id=f"e{i}",
                url=f"http://127.0.0.10/ad/{i}",
                first_seen=T0 + timedelta(days=i),
                last_seen=T0 + timedelta(days=i + 1),
                title=title,
                body=body,
                name=NAMES[i % len(NAMES)],
                location=PLACES[i % 3],
                text_sha256=f"{i:064x}",
            )
            s.add(ad)
            s.flush()
            if i in (1, 4):
                s.add(AdIdentifier(ad_id=ad.id, identifier_id=phone.id, field="body",
                                   match="x", start=0, end=1))  # fmt: skip
        s.commit()
        assert refresh(s) == len(TEXTS)
        assert refresh(s) == 0  # nothing changed since
    return factory


def _titles(factory: object, **kw: object) -> set[str]:
    with factory() as s:  # type: ignore[operator]
        result = search(s, SearchRequest(**kw))  # type: ignore[arg-type]
        assert result.total == len(result.ads)  # one page here
        return {a["title"] for a in result.ads}


EXPECTED = {
    "piano": {TEXTS[0][0], TEXTS[1][0], TEXTS[6][0], TEXTS[7][0]},
    '"piano lessons"': {TEXTS[0][0]},
    "piano -repair": {TEXTS[0][0], TEXTS[6][0]},
    "料理教室": {TEXTS[3][0]},
    "요리": {TEXTS[4][0]},
    "ทำอาหาร": {TEXTS[5][0]},
    "50_50": {TEXTS[6][0]},
    "100%": {TEXTS[6][0]},
    '"hello"': {TEXTS[7][0]},
}


def test_same_adverts_on_both_engines(store_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    factory = _fill(store_url)
    reference = _fill(f"sqlite:///{tmp_path / 'reference.db'}")
    for query in QUERIES:
        got = _titles(factory, text=query)
        assert got == _titles(reference, text=query), query
        if query in EXPECTED:
            assert got == EXPECTED[query], query
    assert _titles(factory, text="zzzz") == set()
    assert len(_titles(factory, text="NOT piano")) == len(TEXTS) - 4


def test_filters_identifier_platform_dates(store_url: str) -> None:
    factory = _fill(store_url)
    # the identifier in any written form, normalised as extraction does
    for written in ("+7 701 555 01 01", "phone:+77015550101", "+7 (701) 555-0101"):
        assert _titles(factory, identifier=written) == {TEXTS[1][0], TEXTS[4][0]}
    assert _titles(factory, text="piano", platform="board-b") == {TEXTS[1][0], TEXTS[7][0]}
    since = T0 + timedelta(days=7, hours=12)
    assert _titles(factory, since=since) == {TEXTS[7][0]}
    assert _titles(factory, until=T0 + timedelta(hours=1)) == {TEXTS[0][0]}
    with pytest.raises(SearchError, match="no identifier recognised"):
        _titles(factory, identifier="nothing here")


def test_pages_and_counts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    factory = open_store(migrated_sqlite(tmp_path / "p.db"))
    with factory() as s:
        p = Platform(name="board")
        s.add(p)
        s.flush()
        for i in range(45):
            s.add(Ad(platform_id=p.id, external_id=str(i), url=f"http://127.0.0.10/{i}",
                     first_seen=T0, last_seen=T0 + timedelta(minutes=i),
                     title=f"lesson number {i}"))  # fmt: skip
        s.commit()
        refresh(s)
        seen: list[int] = []
        for page in (1, 2, 3):
            r = search(s, SearchRequest(text="lesson", page=page))
            assert (r.total, r.pages, r.page) == (45, 3, page)
            seen += [a["id"] for a in r.ads]
        assert len(seen) == len(set(seen)) == 45
        assert search(s, SearchRequest(text="lesson", page=99)).page == 3


def test_changed_adverts_are_reindexed(store_url: str) -> None:
    factory = _fill(store_url)
    with factory() as s:  # type: ignore[operator]
        ad = s.query(Ad).filter_by(external_id="e2").one()
        ad.title, ad.text_sha256 = "Cello lessons", "e" * 64
        s.commit()
        assert refresh(s) == 1
        assert {a["title"] for a in search(s, SearchRequest(text="cello")).ads} == {"Cello lessons"}
        assert search(s, SearchRequest(text="guitar")).total == 0
        if store_url.startswith("postgresql"):  # the word index followed the change
            held = "SELECT w.word FROM ad_word a JOIN search_word w ON w.id = a.word_id"
            now = set(s.scalars(text(f"{held} WHERE a.ad_id = :ad"), {"ad": ad.id}))
            assert "cello" in now and "guitar" not in now and "evenings" in now


FIELD_QUERIES: list[tuple[dict[str, str], set[int]]] = [
    ({"name": "anna"}, {0, 4}),  # case-folded substring
    ({"name": "ＡＮＮＡ"}, {0, 4}),  # full-width, NFKC
    ({"name": "さくら"}, {1, 5}),
    ({"name": "민"}, {2, 6}),  # one character: a scan, on both engines
    ({"location": "東京"}, {1, 4, 7}),  # two unspaced characters: the bigram table
    ({"location": "park"}, {0, 3, 6}),
    ({"name": "anna", "location": "park"}, {0}),
    ({"text": "piano", "location": "riverside"}, {0, 6}),
    ({"text": "lessons", "name": "lee", "platform": "board-a"}, {0}),
    ({"location": "新宿区", "platform": "board-b"}, {1, 7}),
    ({"name": "nobody"}, set()),
    ({"name": "50%"}, set()),
]


def test_name_location_platform_filters_same_on_both_engines(store_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    factory = _fill(store_url)
    reference = _fill(f"sqlite:///{tmp_path / 'reference.db'}")
    for kw, indexes in FIELD_QUERIES:
        got = _titles(factory, **kw)
        assert got == _titles(reference, **kw), kw
        assert got == {TEXTS[i][0] for i in indexes}, kw
    with pytest.raises(SearchError, match="longer than"):
        _titles(factory, name="x" * 201)


def test_bigrams_only_for_unspaced_scripts() -> None:
    from crawler.workbench.searchquery import grams, is_gram

    assert is_gram("料理") and is_gram("요리") and is_gram("ทำ")
    assert not is_gram("ab") and not is_gram("東") and not is_gram("東a")
    assert grams("東京の料理 ab") == {"東京", "京の", "の料", "料理"}


def test_word_index_holds_whole_words_of_spaced_scripts() -> None:
    from crawler.workbench.searchquery import is_word, words

    assert words("piano lessons, 50_50 ab 東京の料理 москва x1y2z3") == {
        "piano", "lessons", "москва", "x1y2z3"
    }  # fmt: skip
    assert words("abc東京def") == {"abc", "def"}  # an unspaced script ends a word
    assert is_word("iano") and is_word("уроки") and is_word("x1y")
    # Words with a space, punctuation or an unspaced script, or shorter than three
    # characters, may span words: they are not looked up in the word index.
    for term in ("piano lessons", "50_50", "full-width", "ab", "東京の", "abc東"):
        assert not is_word(term), term


def test_refresher_indexes_only_past_its_watermark(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from crawler.workbench.searchindex import Refresher

    factory = _fill(f"sqlite:///{tmp_path / 'w.db'}")
    refresher = Refresher(every=0)
    with factory() as s:  # type: ignore[operator]
        assert refresher.prime(s) == 0  # _fill indexed everything already
        platform_id = s.query(Platform).first().id
        s.add(Ad(platform_id=platform_id, external_id="new", url="http://127.0.0.10/new",
                 first_seen=T0 + timedelta(days=30), last_seen=T0 + timedelta(days=30),
                 title="Harp lessons", location="Old Town", text_sha256="a" * 64))  # fmt: skip
        seen_again = s.query(Ad).filter_by(external_id="e0").one()
        seen_again.title, seen_again.last_seen = "Cello tutor", T0 + timedelta(days=31)
        s.commit()
        assert search(s, SearchRequest(text="harp")).total == 0  # not yet indexed
        refresher.maybe_refresh(s)
        assert {a["title"] for a in search(s, SearchRequest(text="harp")).ads} == {"Harp lessons"}
        assert search(s, SearchRequest(text="cello")).total == 1
        assert search(s, SearchRequest(location="old town")).total == 1


def test_results_are_cached_until_the_index_changes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from crawler.workbench.searchindex import Refresher

    factory = _fill(f"sqlite:///{tmp_path / 'c.db'}")
    refresher = Refresher(every=0, cache_size=2)
    req = SearchRequest(text="piano")
    with factory() as s:  # type: ignore[operator]
        refresher.prime(s)
        first = refresher.cached(req, lambda: search(s, req))
        assert refresher.cached(req, lambda: search(s, req)) is first
        ad = s.query(Ad).filter_by(external_id="e2").one()
        ad.title, ad.last_seen = "Piano duets", T0 + timedelta(days=40)
        s.commit()
        refresher.maybe_refresh(s)  # indexes the change: the cache is emptied
        again = refresher.cached(req, lambda: search(s, req))
        assert again is not first and again.total == first.total + 1
    assert Refresher(every=0, cache_size=0).cached(req, lambda: 7) == 7


def test_a_store_indexed_before_the_word_index_is_searched_after_upgrade(store_url: str) -> None:
    """Migration 0012 on an existing store: PostgreSQL's index is rebuilt with words."""
    from sqlalchemy.orm import Session

    from crawler.store.db import make_engine, upgrade_schema

    engine = make_engine(store_url)
    upgrade_schema(engine, "0011")
    with Session(engine) as s:
        p = Platform(name="board")
        s.add(p)
        s.flush()
        ad = Ad(platform_id=p.id, external_id="1", url="http://127.0.0.10/1", first_seen=T0,
                last_seen=T0, title="Piano lessons", text_sha256="a" * 64)  # fmt: skip
        s.add(ad)
        s.flush()
        # indexed as 0011 knew it: the text, no words
        s.add(AdSearch(ad_id=ad.id, text_sha256=ad.text_sha256, last_seen=T0, first_seen=T0,
                       doc="piano lessons", platform_id=p.id))  # fmt: skip
        s.commit()
    engine.dispose()
    factory = open_store(store_url, create=False)  # upgraded to the newest schema
    with factory() as s:
        again = refresh(s)
        assert again == (1 if store_url.startswith("postgresql") else 0)
        for query in ("piano", "iano", "lessons -guitar", "piano OR guitar"):
            assert search(s, SearchRequest(text=query)).total == 1, query


def test_not_means_not_among_the_indexed_adverts(store_url: str) -> None:
    """An advert the index has not seen yet matches no query, NOT ones included."""
    factory = _fill(store_url)
    with factory() as s:  # type: ignore[operator]
        s.add(Ad(platform_id=1, external_id="new", url="http://127.0.0.10/new", first_seen=T0,
                 last_seen=T0 + timedelta(days=30), title="Piano lessons", text_sha256="f" * 64))  # fmt: skip
        s.commit()
        for query in ("NOT piano", "-guitar", "lessons -guitar"):
            ids = {a["title"] for a in search(s, SearchRequest(text=query)).ads}
            assert "Piano lessons" not in ids, query
        assert search(s, SearchRequest(text="NOT piano")).total == len(TEXTS) - 4
