"""Advert search: text (the query grammar), identifier, photo, name, location, platform, dates.

1. Each criterion that picks adverts by their content is answered from an
   index: a text query, and the name and location words with it, as one
   tree; two-character words of unspaced scripts (Japanese, Korean, Thai...)
   come from the bigram table ``ad_gram``; an identifier from its unique
   (kind, value digest) key; a photo from the pHash index
   (:mod:`crawler.workbench.photosearch`).
2. SQLite: the tree is one FTS5 ``MATCH`` over the trigram table (the index
   intersects the words' hit lists); ids picked by it alone stay in the
   engine's JSON array (never a Python set), other id sets are intersected
   in Python. The column filters (platform, dates, name, location) and the
   page are then SQL over ``ad`` (or ``ad_search`` when a name or location is
   given: one row holds every filtered column); with column filters every
   filtered hit is listed newest first in one pass (the count is its length,
   the page a slice), without them the count is the size of the id set.
3. PostgreSQL: the tree is one condition the planner combines. A word that
   lies inside one word of the text (:func:`~crawler.workbench.searchquery.is_word`)
   and is contained in few words of the vocabulary is looked up in the word
   index (``search_word`` -> ``ad_word``: exact, no text is read); phrases,
   words under an OR, and common syllables use the pg_trgm index on
   ``ad_search.doc``. With column filters, every hit is listed newest first
   in one statement; the text alone is counted (over one word's range of the
   word index, or as the union of an OR's branches, where it can), then the
   page is a walk of the recency index that stops when it is full.

Both engines look for the same normalised substring in the same normalised
text, so they agree (tests/test_workbench_search.py). One-character words
and two-character words of spaced scripts cannot use an index: they are
matched by a plain scan on both engines.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Text, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from crawler.schedule.watchlist import WatchError
from crawler.schedule.watchlist import normalise as normalise_identifier
from crawler.store.models import Ad, AdSearch, Platform, value_sha256
from crawler.workbench.searchquery import (
    And,
    Node,
    Not,
    Or,
    QueryError,
    Term,
    is_gram,
    is_word,
    normalise,
    parse,
    terms,
)

PAGE_SIZE = 20
MAX_PAGE = 500
MAX_FILTER = 200
"""Longest name or location filter (characters)."""


class SearchError(ValueError):
    """A search that cannot run as asked; the message is one line for the searcher."""


@dataclass(frozen=True)
class SearchRequest:
    text: str = ""
    identifier: str = ""
    name: str = ""
    location: str = ""
    platform: str = ""
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1
    ad_ids: frozenset[int] | None = None
    """Adverts already picked by another index (the photo search); None: no such criterion."""

    def is_empty(self) -> bool:
        return not (
            self.text or self.identifier or self.name or self.location or self.platform
            or self.since or self.until or self.ad_ids is not None
        )  # fmt: skip


@dataclass
class SearchResult:
    total: int
    page: int
    pages: int
    ads: list[dict[str, Any]] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    identifier: tuple[str, str] | None = None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- text query -> the SQL of its advert ids ----------------------------------


def _fts_expr(node: Node) -> str | None:
    """The whole (sub)query as one FTS5 MATCH expression, or None where FTS5 cannot say it.

    FTS5's NOT is binary (``a NOT b``) and a trigram index cannot find fewer
    than three characters: a bare NOT, or a short word, falls back to set
    operations over the parts.
    """
    if isinstance(node, Term):
        return '"' + node.text.replace('"', '""') + '"' if len(node.text) >= 3 else None
    if isinstance(node, Not):
        return None
    if isinstance(node, Or):
        parts = [_fts_expr(c) for c in node.nodes]
        return None if None in parts else "(" + " OR ".join(parts) + ")"  # type: ignore[arg-type]
    positive = [c for c in node.nodes if not isinstance(c, Not)]
    negative = [c.node for c in node.nodes if isinstance(c, Not)]
    pos = [_fts_expr(c) for c in positive]
    neg = [_fts_expr(c) for c in negative]
    if not positive or None in pos or None in neg:
        return None
    expr = "(" + " AND ".join(pos) + ")"  # type: ignore[arg-type]
    for n in neg:
        expr = f"({expr} NOT {n})"
    return expr


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self._n = itertools.count()

    def bind(self, value: Any) -> str:
        name = f"q{next(self._n)}"
        self.values[name] = value
        return f":{name}"


def _short_term(term: str, params: _Params, instr: str) -> str:
    if is_gram(term):
        return f"SELECT ad_id FROM ad_gram WHERE gram = {params.bind(term)}"
    return f"SELECT ad_id FROM ad_search WHERE {instr}(doc, {params.bind(term)}) > 0"


def _sqlite_ids(node: Node, params: _Params) -> str:
    """SQL selecting ``ad_id`` of the matches: FTS5 where it can, set operations around it."""
    fts = _fts_expr(node)
    if fts is not None:
        return f"SELECT rowid AS ad_id FROM ad_fts WHERE ad_fts MATCH {params.bind(fts)}"
    if isinstance(node, Term):
        return _short_term(node.text, params, "instr")

    def sub(n: Node) -> str:
        return f"SELECT ad_id FROM ({_sqlite_ids(n, params)})"

    if isinstance(node, Not):
        return f"SELECT ad_id FROM ad_search EXCEPT {sub(node.node)}"
    if isinstance(node, Or):
        return " UNION ".join(sub(c) for c in node.nodes)
    positive = [c for c in node.nodes if not isinstance(c, Not)]
    negative = [c.node for c in node.nodes if isinstance(c, Not)]
    sql = " INTERSECT ".join(sub(c) for c in positive) or "SELECT ad_id FROM ad_search"
    return sql + "".join(f" EXCEPT {sub(n)}" for n in negative)


MAX_EXPANSION = 8
"""Most vocabulary words a query word is expanded to through the word index; a word
inside more (a common syllable) is found by the trigram index, which then reads less."""


def _contains(term: str) -> str:
    """The LIKE pattern of a text (a vocabulary word, a document) containing ``term``."""
    return "%" + _escape_like(term) + "%"


def _word_terms(node: Node, conjunctive: bool = True) -> set[str]:
    """The words of a query that :class:`_PgWhere` may look up in the word index: those
    not under an OR (where the trigram index's bitmaps combine better)."""
    if isinstance(node, Term):
        return {node.text} if conjunctive and is_word(node.text) else set()
    if isinstance(node, Not):
        return _word_terms(node.node, conjunctive)
    inner = conjunctive and isinstance(node, And)
    return set().union(*(_word_terms(c, inner) for c in node.nodes))


def _vocabulary(session: Session, node: Node) -> dict[str, list[int]]:
    """The vocabulary words (ids) containing each word of the query the word index may
    serve, in one statement over the vocabulary's trigram index; at most
    :data:`MAX_EXPANSION` + 1 each (more means: leave it to the trigram index)."""
    wanted = _word_terms(node)
    if isinstance(node, Or):  # the count looks each branch up on its own
        wanted = wanted.union(*(_word_terms(c) for c in node.nodes))
    wanted = sorted(wanted)
    if not wanted:
        return {}
    params = _Params()
    columns = ", ".join(
        f"ARRAY(SELECT id FROM search_word WHERE word LIKE {params.bind(_contains(w))}"
        f" LIMIT {MAX_EXPANSION + 1})"
        for w in wanted
    )
    row = session.execute(text(f"SELECT {columns}"), params.values).one()
    return {w: sorted(ids) for w, ids in zip(wanted, row, strict=True)}


class _PgWhere:
    """Compiles a query tree into one PostgreSQL condition on an advert id ``{key}``
    (and ``doc`` of ``ad_search``), which the planner combines: a word inside few
    vocabulary words is looked up in the word index (exact: the adverts holding a word
    that contains it), other words and phrases by the trigram index, short ones as the
    grammar says (bigram table or scan)."""

    def __init__(self, vocabulary: dict[str, list[int]], params: _Params) -> None:
        self.vocabulary, self.params = vocabulary, params
        self.uses_doc = False
        """Whether the condition reads ``ad_search.doc``."""
        self.negates = False
        """Whether it has a NOT: then it must run over ``ad_search``, or an advert not
        indexed yet would match every NOT (on SQLite too, NOT means "of the indexed")."""

    def table(self) -> tuple[str, str]:
        """The table (and its advert id) the condition runs over: ``ad`` where it can,
        whose covering indexes hold every filtered column."""
        return ("ad_search", "ad_id") if self.uses_doc or self.negates else ("ad", "id")

    def words(self, ids: list[int]) -> str:
        """SQL selecting the adverts holding one of the vocabulary words ``ids``."""
        if not ids:
            return "SELECT ad_id FROM ad_word WHERE false"
        if len(ids) == 1:
            return f"SELECT ad_id FROM ad_word WHERE word_id = {self.params.bind(ids[0])}"
        return f"SELECT ad_id FROM ad_word WHERE word_id = ANY({self.params.bind(ids)})"

    def term(self, term: str, conjunctive: bool) -> str:
        ids = self.vocabulary.get(term) if conjunctive else None
        if ids is not None and len(ids) <= MAX_EXPANSION:
            return f"{{key}} IN ({self.words(ids)})"
        if len(term) >= 3:
            self.uses_doc = True
            return f"doc LIKE {self.params.bind(_contains(term))}"
        return f"{{key}} IN ({_short_term(term, self.params, 'strpos')})"

    def __call__(self, node: Node, conjunctive: bool = True) -> str:
        if isinstance(node, Term):
            return self.term(node.text, conjunctive)
        if isinstance(node, Not):
            self.negates = True
            return f"NOT ({self(node.node, conjunctive)})"
        inner = conjunctive and isinstance(node, And)
        joiner = " AND " if isinstance(node, And) else " OR "
        return joiner.join(f"({self(c, inner)})" for c in node.nodes)


def text_ids_sql(node: Node) -> tuple[str, dict[str, str]]:
    """The SQLite SQL (and its parameters) selecting the ids of the adverts matching a
    parsed query."""
    params = _Params()
    return _sqlite_ids(node, params), params.values


def fetch_ids(session: Session, sql: str, params: dict[str, Any]) -> set[int]:
    """The ids a query selects, aggregated into one value by the engine (a row per id
    through the driver costs more than the search itself at 10,000 hits)."""
    if session.get_bind().dialect.name == "sqlite":
        packed = session.scalar(text(f"SELECT json_group_array(ad_id) FROM ({sql})"), params)
        return set(json.loads(packed or "[]"))
    agg = session.scalar(text(f"SELECT array_agg(ad_id) FROM ({sql}) AS hits"), params)
    return set(agg or ())


def _packed(session: Session, sql: str, params: dict[str, Any]) -> tuple[int, str]:
    """How many ids a SQLite query selects, and the ids as the JSON array the engine made."""
    packed = session.scalar(text(f"SELECT json_group_array(ad_id) FROM ({sql})"), params)
    packed = packed or "[]"
    return (0 if packed == "[]" else packed.count(",") + 1), packed


def text_ids(session: Session, node: Node) -> set[int]:
    return fetch_ids(session, *text_ids_sql(node))


def identifier_ids(session: Session, kind: str, value: str) -> set[int]:
    sql = (
        "SELECT ai.ad_id FROM ad_identifier ai JOIN identifier i ON i.id = ai.identifier_id"
        " WHERE i.kind = :kind AND i.value_sha256 = :digest AND i.value = :value"
    )
    return fetch_ids(session, sql, {"kind": kind, "digest": value_sha256(value), "value": value})


# -- the search ---------------------------------------------------------------


class _Where:
    """The column filters as SQL text with typed parameters (SQLAlchemy's SQLite
    compiler drops table hints, and the covering index must be named there)."""

    def __init__(self, table: str = "ad", key: str = "id") -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []
        self.table, self.key = table, key

    def add(self, clause: str, **values: tuple[Any, Any]) -> None:
        self.clauses.append(clause)
        self.params += [bindparam(k, v, type_=t) for k, (v, t) in values.items()]

    def sql(self, columns: str, index: str | None, tail: str = "") -> str:
        hint = f" INDEXED BY {index}" if index and self.table == "ad" else ""
        where = " WHERE " + " AND ".join(self.clauses) if self.clauses else ""
        return f"SELECT {columns} FROM {self.table} AS ad{hint}{where}{tail}"

    def statement(self, columns: str, index: str | None, tail: str = "") -> Any:
        return text(self.sql(columns, index, tail)).bindparams(*self.params)


def _field_filter(value: str, label: str) -> str:
    norm = normalise(value)
    if len(norm) > MAX_FILTER:
        raise SearchError(f"the {label} is longer than {MAX_FILTER} characters")
    return norm


@dataclass
class _Criteria:
    """What a request asks, parsed: the content words, field filters and other id sets."""

    content: Node | None
    """The text query and the name and location words, as one tree (None: neither)."""
    fields: list[tuple[str, str]]
    """(column, normalised value) of the name and location filters."""
    sources: list[Callable[[], set[int]]]
    """Id sets from other indexes (identifier, photo), each computed when needed."""
    terms: list[str]
    ident: tuple[str, str] | None

    def empty(self) -> SearchResult:
        return SearchResult(0, 1, 1, terms=self.terms, identifier=self.ident)

    def page(self, session: Session, ids: list[int], total: int, page: int) -> SearchResult:
        """The result for ``ids`` (the page's adverts) of ``total`` hits on page ``page``."""
        return _page(session, ids, total, page, _pages(total), self.terms, self.ident)


def _criteria(session: Session, req: SearchRequest) -> _Criteria:
    sources: list[Callable[[], set[int]]] = []
    ident: tuple[str, str] | None = None
    if req.ad_ids is not None:
        picked = set(req.ad_ids)
        sources.append(lambda: picked)
    if req.identifier:
        try:
            spec = normalise_identifier(req.identifier)
        except WatchError as exc:
            raise SearchError(str(exc)) from None
        ident = (spec.kind, spec.value)
        sources.append(lambda: identifier_ids(session, spec.kind, spec.value))
    words: list[Node] = []
    result_terms: list[str] = []
    if req.text:
        try:
            tree = parse(req.text)
        except QueryError as exc:
            raise SearchError(str(exc)) from None
        result_terms = terms(tree)
        words.append(tree)
    given = ((req.name, "name"), (req.location, "location"))
    fields = [(label, norm) for value, label in given if (norm := _field_filter(value, label))]
    # A field is a line of the indexed text: the index narrows, the column decides.
    words += [Term(norm) for _, norm in fields]
    content = None if not words else words[0] if len(words) == 1 else And(tuple(words))
    return _Criteria(content, fields, sources, result_terms, ident)


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def _page_number(req: SearchRequest, total: int) -> tuple[int, int]:
    """The page shown (the one asked, within the result) and its offset."""
    page = min(max(1, req.page), _pages(total), MAX_PAGE)
    return page, (page - 1) * PAGE_SIZE


def _ids_of(sources: list[Callable[[], set[int]]]) -> set[int] | None:
    """The intersection of the id sets (None: no such criterion); stops at an empty one."""
    ids: set[int] | None = None
    for source in sources:  # each later set only narrows the first
        found = source()
        ids = found if ids is None else ids & found
        if not ids:
            break
    return ids


def search(session: Session, req: SearchRequest) -> SearchResult:
    """One page of adverts matching every given criterion, newest sighting first."""
    crit = _criteria(session, req)
    if session.get_bind().dialect.name == "sqlite":
        return _sqlite_search(session, req, crit)
    if crit.content is not None:
        return _pg_search(session, req, crit)
    return _column_search(session, req, crit, None)


def _column_filters(req: SearchRequest, crit: _Criteria) -> _Where:
    """The column filters over ``ad`` (or ``ad_search`` when a name or location is
    given: the hits are then few, and one row of it holds every filtered column)."""
    where = _Where("ad_search", "ad_id") if crit.fields else _Where()
    for label, norm in crit.fields:
        where.add(f"ad.{label} LIKE :{label} ESCAPE '\\'",
                  **{label: ("%" + _escape_like(norm) + "%", AdSearch.name.type)})  # fmt: skip
    if req.platform:
        where.add("ad.platform_id = (SELECT id FROM platform WHERE name = :platform)",
                  platform=(req.platform, Platform.name.type))  # fmt: skip
    if req.since is not None:
        where.add("ad.last_seen >= :since", since=(req.since, Ad.last_seen.type))
    if req.until is not None:
        where.add("ad.first_seen < :until", until=(req.until, Ad.first_seen.type))
    return where


def _sqlite_search(session: Session, req: SearchRequest, crit: _Criteria) -> SearchResult:
    """SQLite: text and field words are one FTS5 query, so the index intersects their
    hit lists; the column filters then run over the hits."""
    if crit.content is not None and not crit.sources:
        # Only the index picks: its ids stay in the engine's own JSON, never a Python set
        # (at 10,000 hits, building and re-encoding the set cost more than the match).
        hits = _packed(session, *text_ids_sql(crit.content))
        return _column_search(session, req, crit, hits)
    content = crit.content
    if content is not None:
        crit.sources.append(lambda: text_ids(session, content))
    ids = _ids_of(crit.sources)
    return _column_search(session, req, crit, None if ids is None else _as_hits(ids))


def _as_hits(ids: set[int]) -> tuple[int, str]:
    return len(ids), json.dumps(sorted(ids))


def _column_search(
    session: Session, req: SearchRequest, crit: _Criteria, hits: tuple[int, str] | None
) -> SearchResult:
    """The column filters and the page over ``hits`` (how many ids, and the ids as a JSON
    array), or over every advert when None; on PostgreSQL only without content words."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    where = _column_filters(req, crit)
    filtered = bool(where.clauses)
    if hits is None and crit.sources:
        ids = _ids_of(crit.sources)
        hits = None if ids is None else _as_hits(ids)
        if ids and not sqlite:
            where.add(f"ad.{where.key} = ANY(:ids)", ids=(sorted(ids), ARRAY(Integer)))
    if hits is not None and not hits[0]:
        return crit.empty()
    if hits is not None and sqlite:
        where.add(f"ad.{where.key} IN (SELECT value FROM json_each(:ids))", ids=(hits[1], Text()))

    key = f"ad.{where.key}"
    order = f" ORDER BY ad.last_seen DESC, {key} DESC"
    if hits is not None and filtered and sqlite:
        # Every filtered hit, newest first, in one pass: the count is its length and the
        # page a slice (a count and then a page would look every hit up twice).
        every = where.sql(f"{key} AS hit", "ix_ad_keys", order)
        packed = session.scalar(
            text(f"SELECT json_group_array(hit) FROM ({every})").bindparams(*where.params)
        )
        ordered: list[int] = json.loads(packed or "[]")
        page, offset = _page_number(req, len(ordered))
        return crit.page(session, ordered[offset : offset + PAGE_SIZE], len(ordered), page)
    if hits is not None and not filtered and hits[0] <= PAGE_SIZE:
        # One page holds every hit (an identifier's adverts, mostly): its rows, sorted.
        return crit.page(session, json.loads(hits[1]), hits[0], 1)
    if hits is not None and not filtered:
        total = hits[0]
    else:
        by = "ix_ad_keys" if hits is not None else "ix_ad_recent"
        total = int(session.scalar(where.statement("count(*)", by if sqlite else None)) or 0)
    page, offset = _page_number(req, total)
    # Many hits: walking the recency index newest first stops after a page. Few:
    # looking each up by id and sorting them reads less. Either way only the
    # page's own rows are then read in full.
    by = "ix_ad_recent" if hits is None or _dense(session, total, offset) else "ix_ad_keys"
    tail = f"{order} LIMIT {PAGE_SIZE} OFFSET {offset}"
    page_ids = list(session.scalars(where.statement(key, by if sqlite else None, tail)))
    return crit.page(session, page_ids, total, page)


def _page(session: Session, page_ids: list[int], total: int, page: int, pages: int,
          result_terms: list[str], ident: tuple[str, str] | None) -> SearchResult:  # fmt: skip
    """The result page: the rows of the page's adverts only, newest sighting first."""
    rows = session.execute(
        select(
            Ad.id,
            Ad.title,
            Ad.name,
            Ad.location,
            Ad.first_seen,
            Ad.last_seen,
            Ad.url,
            Platform.name.label("platform"),
        )  # fmt: skip
        .join(Platform, Platform.id == Ad.platform_id)
        .where(Ad.id.in_(page_ids))
        .order_by(Ad.last_seen.desc(), Ad.id.desc())
    ).all()
    return SearchResult(
        total=total,
        page=page,
        pages=pages,
        ads=[dict(r._mapping) for r in rows],
        terms=result_terms,
        identifier=ident,
    )


def _pg_search(session: Session, req: SearchRequest, crit: _Criteria) -> SearchResult:
    """PostgreSQL with content words: one condition (word, trigram and bigram indexes)
    with the column filters, over ``ad_search`` where it reads the text or a name or
    location, else over ``ad``'s covering index."""
    ids = _ids_of(crit.sources)  # identifier, photo: small sets from their own keys
    if ids is not None and not ids:
        return crit.empty()
    assert crit.content is not None
    params = _Params()
    vocabulary = _vocabulary(session, crit.content)
    compile_ = _PgWhere(vocabulary, params)
    condition = compile_(crit.content)
    table, key = ("ad_search", "ad_id") if crit.fields else compile_.table()
    clauses = [condition.replace("{key}", key)]
    for label, norm in crit.fields:
        clauses.append(f"{label} LIKE {params.bind(_contains(norm))}")
    if req.platform:
        clauses.append(
            f"platform_id = (SELECT id FROM platform WHERE name = {params.bind(req.platform)})"
        )
    if req.since is not None:
        clauses.append(f"last_seen >= {params.bind(req.since)}")
    if req.until is not None:
        clauses.append(f"first_seen < {params.bind(req.until)}")
    if ids is not None:
        clauses.append(f"{key} = ANY({params.bind(sorted(ids))})")
    where = f"FROM {table} WHERE " + " AND ".join(clauses)
    order = f"ORDER BY last_seen DESC, {key} DESC"
    if len(clauses) > 1:  # narrowed by more than the words: every hit, newest first, at once
        found = session.scalar(text(f"SELECT array_agg({key} {order}) {where}"), params.values)
        ordered = list(found or ())
        page, offset = _page_number(req, len(ordered))
        return crit.page(session, ordered[offset : offset + PAGE_SIZE], len(ordered), page)
    # The words alone: count them, then walk newest first until the page is full.
    total = int(session.scalar(text(_pg_count(crit.content, vocabulary, params, where)),
                               params.values))  # fmt: skip
    if not total:
        return crit.empty()
    page, offset = _page_number(req, total)
    tail = f" {order} LIMIT {PAGE_SIZE} OFFSET {offset}"
    page_ids = list(session.scalars(text(f"SELECT {key} {where}{tail}"), params.values))
    return crit.page(session, page_ids, total, page)


def _pg_count(node: Node, vocabulary: dict[str, list[int]], params: _Params, where: str) -> str:
    """The SQL counting the adverts matching a query alone: where a word of its top-level
    AND is found in one vocabulary word, over that word's range of the word index, the
    rest of the query checked on those adverts only; otherwise over ``where``."""
    if isinstance(node, Or):
        return _pg_count_union(node, vocabulary, params)
    children = list(node.nodes) if isinstance(node, And) else [node]
    for i, child in enumerate(children):
        if isinstance(child, Term) and len(vocabulary.get(child.text) or ()) == 1:
            rest = children[:i] + children[i + 1 :]
            sql = f"SELECT count(*) FROM ad_word WHERE word_id = {params.bind(vocabulary[child.text][0])}"
            if not rest:
                return sql
            compile_ = _PgWhere(vocabulary, params)
            condition = compile_(rest[0] if len(rest) == 1 else And(tuple(rest)))
            if not compile_.uses_doc:  # else the trigram index's bitmaps read less
                return f"{sql} AND {condition.replace('{key}', 'ad_id')}"
            break
    return f"SELECT count(*) {where}"


def _pg_count_union(node: Or, vocabulary: dict[str, list[int]], params: _Params) -> str:
    """The SQL counting the adverts matching any branch of an OR: the union of each
    branch's ids, a word's from the word index (one condition over the text would
    recheck every trigram candidate of every branch)."""
    branches = []
    for child in node.nodes:
        compile_ = _PgWhere(vocabulary, params)
        ids = vocabulary.get(child.text) if isinstance(child, Term) else None
        if ids is not None and len(ids) <= MAX_EXPANSION:
            branches.append(compile_.words(ids))
            continue
        condition = compile_(child)
        table, key = compile_.table()
        branches.append(f"SELECT {key} FROM {table} WHERE {condition.replace('{key}', key)}")
    return "SELECT count(*) FROM (" + " UNION ".join(f"({b})" for b in branches) + ") AS hits"


def _dense(session: Session, hits: int, offset: int) -> bool:
    """Whether walking newest first reads fewer index entries than looking up every hit."""
    if hits <= offset + PAGE_SIZE:
        return False  # there are at least as many adverts as hits: never fewer
    adverts = int(session.scalar(select(func.max(Ad.id))) or 0)
    return (offset + PAGE_SIZE) * adverts < hits * hits


def platforms(session: Session) -> list[str]:
    return list(session.scalars(select(Platform.name).order_by(Platform.name)))
