"""Advert search: text (the query grammar), identifier, photo, name, location, platform, dates.

A search runs in the same steps on both engines:

1. Each criterion that picks adverts by their content gives the set of
   matching advert ids from an index: a text query, and the name and
   location words with it, become one FTS5 ``MATCH`` over the trigram table
   (SQLite; the index intersects their hit lists) or one ``WHERE`` over the
   pg_trgm-indexed ``ad_search.doc`` (PostgreSQL); two-character words of
   unspaced scripts (Japanese, Korean, Thai...) come from the bigram table
   ``ad_gram``; an identifier from its unique (kind, value digest) key; a
   photo from the pHash index (:mod:`crawler.workbench.photosearch`). On
   SQLite, ids picked by the text index alone stay in the engine's JSON
   array (never a Python set); other sets are intersected in Python.
2. The column filters (platform, dates, name, location) and the page are SQL
   over ``ad`` (or ``ad_search`` when a name or location is given: one row
   holds every filtered column); the id set goes in as one parameter
   (``json_each`` on SQLite, an array on PostgreSQL). Newest sighting first.
3. The count is the size of the id set when no column filter applies; with
   column filters, every filtered hit is listed newest first in one pass
   (the count is its length, the page a slice): always exact. PostgreSQL
   does the same, except for text alone: a ``count(*)``, then a walk of
   ``ad_search``'s recency index that stops when the page is full.

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


def _pg_where(node: Node, params: _Params) -> str:
    """One condition over ``ad_search`` (the planner combines the trigram index scans)."""
    if isinstance(node, Term):
        if len(node.text) >= 3:
            return f"doc LIKE {params.bind('%' + _escape_like(node.text) + '%')}"
        return f"ad_id IN ({_short_term(node.text, params, 'strpos')})"
    if isinstance(node, Not):
        return f"NOT ({_pg_where(node.node, params)})"
    joiner = " AND " if isinstance(node, And) else " OR "
    return joiner.join(f"({_pg_where(c, params)})" for c in node.nodes)


def text_ids_sql(node: Node, dialect: str) -> tuple[str, dict[str, str]]:
    """The SQL (and its parameters) selecting the ids of the adverts matching a parsed query."""
    params = _Params()
    if dialect == "sqlite":
        sql = _sqlite_ids(node, params)
    else:
        sql = f"SELECT ad_id FROM ad_search WHERE {_pg_where(node, params)}"
    return sql, params.values


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
    return fetch_ids(session, *text_ids_sql(node, session.get_bind().dialect.name))


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


def search(session: Session, req: SearchRequest) -> SearchResult:  # noqa: C901
    """One page of adverts matching every given criterion, newest sighting first."""
    dialect = session.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    sources: list[Callable[[], set[int]]] = []
    where = _Where()  # replaced below when name or location filters apply
    result_terms: list[str] = []
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
    if req.text:
        try:
            tree = parse(req.text)
        except QueryError as exc:
            raise SearchError(str(exc)) from None
        result_terms = terms(tree)
    given = ((req.name, "name"), (req.location, "location"))
    fields = [(label, norm) for value, label in given if (norm := _field_filter(value, label))]
    if not sqlite and (req.text or fields):
        # PostgreSQL: text, fields and column filters in one statement over ad_search.
        found = _pg_filter(session, req, tree if req.text else None, fields, sources)
        if found is None:
            return SearchResult(0, 1, 1, terms=result_terms, identifier=ident)
        where_sql, values, narrow = found
        if narrow:  # few hits: all of them, newest first, in one statement
            agg = "array_agg(ad_id ORDER BY last_seen DESC, ad_id DESC)"
            ordered = list(session.scalar(text(f"SELECT {agg} FROM ad_search WHERE {where_sql}"),
                                          values) or ())  # fmt: skip
            total = len(ordered)
        else:  # text alone: count them, then walk the recency index until the page is full
            total = int(session.scalar(
                text(f"SELECT count(*) FROM ad_search WHERE {where_sql}"), values) or 0)  # fmt: skip
        if not total:
            return SearchResult(0, 1, 1, terms=result_terms, identifier=ident)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(1, req.page), pages, MAX_PAGE)
        offset = (page - 1) * PAGE_SIZE
        if narrow:
            page_ids = ordered[offset : offset + PAGE_SIZE]
        else:
            tail = f" ORDER BY last_seen DESC, ad_id DESC LIMIT {PAGE_SIZE} OFFSET {offset}"
            page_ids = list(session.scalars(
                text(f"SELECT ad_id FROM ad_search WHERE {where_sql}{tail}"), values))  # fmt: skip
        return _page(session, page_ids, total, page, pages, result_terms, ident)
    # Text and field words are one FTS5 query, so the index intersects their hit lists
    # (a field is a line of the indexed text: the index narrows, the column decides).
    words = ([tree] if req.text else []) + [Term(norm) for _, norm in fields]
    content = None if not words else words[0] if len(words) == 1 else And(tuple(words))
    if fields:
        # The hits are then few (the index has intersected the words): one row of
        # ad_search each, which holds every filtered column, instead of two look-ups.
        where = _Where("ad_search", "ad_id")
    for label, norm in fields:
        where.add(f"ad.{label} LIKE :{label} ESCAPE '\\'",
                  **{label: ("%" + _escape_like(norm) + "%", AdSearch.name.type)})  # fmt: skip
    if req.platform:
        where.add("ad.platform_id = (SELECT id FROM platform WHERE name = :platform)",
                  platform=(req.platform, Platform.name.type))  # fmt: skip
    if req.since is not None:
        where.add("ad.last_seen >= :since", since=(req.since, Ad.last_seen.type))
    if req.until is not None:
        where.add("ad.first_seen < :until", until=(req.until, Ad.first_seen.type))
    filtered = bool(where.clauses)

    hits: tuple[int, str] | None = None  # how many ids, and the ids as a JSON array
    if content is not None and not sources and sqlite:
        # Only the index picks: its ids stay in the engine's own JSON, never a Python set
        # (at 10,000 hits, building and re-encoding the set cost more than the match).
        hits = _packed(session, *text_ids_sql(content, "sqlite"))
    else:
        if content is not None:
            sources.append(lambda: text_ids(session, content))
        ids: set[int] | None = None
        for source in sources:  # each later set only narrows the first
            found = source()
            ids = found if ids is None else ids & found
            if not ids:
                break
        if ids is not None:
            hits = (len(ids), json.dumps(sorted(ids)))
            if not sqlite:
                where.add(f"ad.{where.key} = ANY(:ids)", ids=(sorted(ids), ARRAY(Integer)))
    if hits is not None and not hits[0]:
        return SearchResult(0, 1, 1, terms=result_terms, identifier=ident)
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
        total = len(ordered)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(1, req.page), pages, MAX_PAGE)
        offset = (page - 1) * PAGE_SIZE
        return _page(session, ordered[offset : offset + PAGE_SIZE], total, page, pages,
                     result_terms, ident)  # fmt: skip
    if hits is not None and not filtered and hits[0] <= PAGE_SIZE:
        # One page holds every hit (an identifier's adverts, mostly): its rows, sorted.
        return _page(session, json.loads(hits[1]), hits[0], 1, 1, result_terms, ident)
    if hits is not None and not filtered:
        total = hits[0]
    else:
        by = "ix_ad_keys" if hits is not None else "ix_ad_recent"
        total = int(session.scalar(where.statement("count(*)", by if sqlite else None)) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, req.page), pages, MAX_PAGE)
    offset = (page - 1) * PAGE_SIZE
    # Many hits: walking the recency index newest first stops after a page. Few:
    # looking each up by id and sorting them reads less. Either way only the
    # page's own rows are then read in full.
    by = "ix_ad_recent" if hits is None or _dense(session, total, offset) else "ix_ad_keys"
    tail = f"{order} LIMIT {PAGE_SIZE} OFFSET {offset}"
    page_ids = list(session.scalars(where.statement(key, by if sqlite else None, tail)))
    return _page(session, page_ids, total, page, pages, result_terms, ident)


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


def _pg_filter(
    session: Session,
    req: SearchRequest,
    tree: Node | None,
    fields: list[tuple[str, str]],
    others: list[Callable[[], set[int]]],
) -> tuple[str, dict[str, Any], bool] | None:
    """The PostgreSQL condition over ``ad_search`` (the trigram index finds, the copied
    columns filter), its parameters, and whether the hits are narrowed by more than the
    text (an id set, a field or a column filter); None when an id set is empty."""
    ids: set[int] | None = None
    for source in others:  # identifier, photo: small sets from their own keys
        found = source()
        ids = found if ids is None else ids & found
        if not ids:
            return None
    params = _Params()
    clauses = [f"({_pg_where(tree, params)})"] if tree is not None else []
    for label, norm in fields:
        clauses.append(f"({_pg_where(Term(norm), params)})")
        clauses.append(f"{label} LIKE {params.bind('%' + _escape_like(norm) + '%')}")
    if req.platform:
        clauses.append(
            f"platform_id = (SELECT id FROM platform WHERE name = {params.bind(req.platform)})"
        )
    if req.since is not None:
        clauses.append(f"last_seen >= {params.bind(req.since)}")
    if req.until is not None:
        clauses.append(f"first_seen < {params.bind(req.until)}")
    if ids is not None:
        clauses.append(f"ad_id = ANY({params.bind(sorted(ids))})")
    narrow = ids is not None or bool(fields or req.platform or req.since or req.until)
    return " AND ".join(clauses), params.values, narrow


def _dense(session: Session, hits: int, offset: int) -> bool:
    """Whether walking newest first reads fewer index entries than looking up every hit."""
    if hits <= offset + PAGE_SIZE:
        return False  # there are at least as many adverts as hits: never fewer
    adverts = int(session.scalar(select(func.max(Ad.id))) or 0)
    return (offset + PAGE_SIZE) * adverts < hits * hits


def platforms(session: Session) -> list[str]:
    return list(session.scalars(select(Platform.name).order_by(Platform.name)))
