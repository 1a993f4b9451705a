"""Advert search: text (the query grammar), identifier, platform and dates; paginated.

Each word or phrase of a text query becomes one indexed predicate:
SQLite's FTS5 trigram table, or PostgreSQL's pg_trgm GIN index through
``LIKE``. Both look for the same normalised substring in the same
normalised text, so the engines agree (tests/test_workbench_search.py).
Words shorter than three characters cannot use a trigram index; they are
matched by a plain substring scan on both engines.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, column, func, not_, or_, select, text
from sqlalchemy.orm import Session

from crawler.schedule.watchlist import WatchError
from crawler.schedule.watchlist import normalise as normalise_identifier
from crawler.store.models import Ad, AdIdentifier, Identifier, Platform
from crawler.workbench.searchquery import And, Node, Not, QueryError, Term, parse, terms

PAGE_SIZE = 20
MAX_PAGE = 500


class SearchError(ValueError):
    """A search that cannot run as asked; the message is one line for the searcher."""


@dataclass(frozen=True)
class SearchRequest:
    text: str = ""
    identifier: str = ""
    platform: str = ""
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1

    def is_empty(self) -> bool:
        return not (self.text or self.identifier or self.platform or self.since or self.until)


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


def compile_text(node: Node, dialect: str) -> ColumnElement[bool]:
    """A boolean SQL expression over ``ad.id`` for a parsed query on one engine."""
    counter = itertools.count()

    def leaf(term: str) -> ColumnElement[bool]:
        name = f"q{next(counter)}"
        if len(term) < 3:
            fn = "instr(doc, :{n}) > 0" if dialect == "sqlite" else "strpos(doc, :{n}) > 0"
            sql, value = f"SELECT ad_id FROM ad_search WHERE {fn.format(n=name)}", term
        elif dialect == "sqlite":
            sql = f"SELECT rowid AS ad_id FROM ad_fts WHERE ad_fts MATCH :{name}"
            value = '"' + term.replace('"', '""') + '"'
        else:
            sql = f"SELECT ad_id FROM ad_search WHERE doc LIKE :{name}"
            value = f"%{_escape_like(term)}%"
        ids = text(sql).bindparams(**{name: value}).columns(column("ad_id", Integer))
        return Ad.id.in_(ids)

    def walk(n: Node) -> ColumnElement[bool]:
        if isinstance(n, Term):
            return leaf(n.text)
        if isinstance(n, Not):
            return not_(walk(n.node))
        if isinstance(n, And):
            return and_(*(walk(c) for c in n.nodes))
        return or_(*(walk(c) for c in n.nodes))

    return walk(node)


def search(session: Session, req: SearchRequest) -> SearchResult:
    """One page of adverts matching every given criterion, newest sighting first."""
    dialect = session.get_bind().dialect.name
    conditions: list[ColumnElement[bool]] = []
    result_terms: list[str] = []
    ident: tuple[str, str] | None = None
    if req.text:
        try:
            tree = parse(req.text)
        except QueryError as exc:
            raise SearchError(str(exc)) from None
        conditions.append(compile_text(tree, dialect))
        result_terms = terms(tree)
    if req.identifier:
        try:
            spec = normalise_identifier(req.identifier)
        except WatchError as exc:
            raise SearchError(str(exc)) from None
        ident = (spec.kind, spec.value)
        conditions.append(
            Ad.id.in_(
                select(AdIdentifier.ad_id)
                .join(Identifier, Identifier.id == AdIdentifier.identifier_id)
                .where(Identifier.kind == spec.kind, Identifier.value == spec.value)
            )
        )
    if req.platform:
        conditions.append(Platform.name == req.platform)
    if req.since is not None:
        conditions.append(Ad.last_seen >= req.since)
    if req.until is not None:
        conditions.append(Ad.first_seen < req.until)
    base = select(Ad.id).where(*conditions)
    if req.platform:
        base = base.join(Platform, Platform.id == Ad.platform_id)
    total = int(session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, req.page), pages, MAX_PAGE)
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
        .where(*conditions)
        .order_by(Ad.last_seen.desc(), Ad.id.desc())
        # SQLite would sort every hit; walking the index newest first stops after a page.
        .with_hint(Ad, "INDEXED BY ix_ad_last_seen_id", "sqlite")
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return SearchResult(
        total=total,
        page=page,
        pages=pages,
        ads=[dict(r._mapping) for r in rows],
        terms=result_terms,
        identifier=ident,
    )


def platforms(session: Session) -> list[str]:
    return list(session.scalars(select(Platform.name).order_by(Platform.name)))
