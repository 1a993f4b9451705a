"""SQLAlchemy 2 models of the store (see DESIGN.md, "Store").

Times are UTC. SQLite returns them naive; :func:`utc` restores the zone.
Digests are lower-case hex SHA-256. WARC paths are relative to the data root.

Values a page produces (URLs, external ids, identifier values, text) have no
length limit: a hostile page must not keep itself out of the store by being
long. PostgreSQL refuses B-tree index entries over about 2.7 kB, so unique
keys over such values are on their SHA-256 (``*_sha256`` columns, filled by
:func:`value_sha256`), and the capture URL index is a hash index there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    and_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CAPTURE_KINDS = ("response", "request", "metadata", "resource", "revisit")


def utcnow() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite hands back naive ones)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def value_sha256(value: str) -> str:
    """Lower-case hex SHA-256 of a text value's UTF-8: the key unique indexes use."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def sha256_of(column: str) -> Callable[[Any], str]:
    """A column default: the SHA-256 of ``column`` in the same INSERT (ORM or Core)."""

    def default(context: Any) -> str:
        if context is None:
            raise ValueError(f"{column}_sha256 must be given with {column}")
        return value_sha256(context.get_current_parameters()[column])

    return default


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


Timestamp = DateTime(timezone=True)


class Platform(Base):
    __tablename__ = "platform"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Crawl(Base):
    __tablename__ = "crawl"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    status: Mapped[str] = mapped_column(String(16), default="running")
    """running | finished | failed | interrupted"""
    finish_reason: Mapped[str | None] = mapped_column(Text)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    ads: Mapped[int] = mapped_column(Integer, default=0)
    new_ads: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    settings_json: Mapped[str | None] = mapped_column(Text)
    """The capture-shaping settings of this crawl, as canonical JSON."""
    state: Mapped[str | None] = mapped_column(String(16))
    """finished | degraded | empty | refused | stopped | failed (crawler/health.py)"""
    health_json: Mapped[str | None] = mapped_column(Text)
    """Definition health: pages, links, detail pages, refusals, problems, fix (JSON)."""
    drift_json: Mapped[str | None] = mapped_column(Text)
    """How this run departs from the platform's recent runs, when it does (JSON)."""

    platform: Mapped[Platform] = relationship()


class WarcFile(Base):
    __tablename__ = "warc_file"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crawl_id: Mapped[int | None] = mapped_column(ForeignKey("crawl.id"), index=True)
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    """Path relative to the data root, of the closed file (no ``.open``)."""
    status: Mapped[str] = mapped_column(String(16), default="open")
    """open | closed | repaired"""
    opened_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))


class Capture(Base):
    __tablename__ = "capture"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crawl_id: Mapped[int | None] = mapped_column(ForeignKey("crawl.id"), index=True)
    warc_file_id: Mapped[int | None] = mapped_column(ForeignKey("warc_file.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(Timestamp)
    status: Mapped[int | None] = mapped_column(Integer)
    offset: Mapped[int | None] = mapped_column(BigInteger)
    length: Mapped[int | None] = mapped_column(BigInteger)
    record_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    block_sha256: Mapped[str | None] = mapped_column(String(64))
    payload_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(Text)
    parent_capture_id: Mapped[int | None] = mapped_column(ForeignKey("capture.id"), index=True)

    warc_file: Mapped[WarcFile | None] = relationship()

    # A hash index (PostgreSQL) has no entry-size limit; SQLite's B-tree has none either.
    __table_args__ = (Index("ix_capture_url", "url", postgresql_using="hash"),)


class Ad(Base):
    __tablename__ = "ad"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"))
    external_id: Mapped[str] = mapped_column(Text)
    external_id_sha256: Mapped[str] = mapped_column(String(64), default=sha256_of("external_id"))
    url: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(Timestamp)
    last_seen: Mapped[datetime] = mapped_column(Timestamp)
    title: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    age: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)
    price: Mapped[str | None] = mapped_column(Text)
    posted: Mapped[str | None] = mapped_column(Text)
    poster_account: Mapped[str | None] = mapped_column(Text)
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the normalised text of the latest sighting."""
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("capture.id"))
    """The response capture of the detail page of the latest sighting (the proof)."""
    first_capture_id: Mapped[int | None] = mapped_column(ForeignKey("capture.id"))

    platform: Mapped[Platform] = relationship()

    __table_args__ = (
        UniqueConstraint("platform_id", "external_id_sha256", name="uq_ad_platform_external"),
        # The workbench's search (migration 0007): walked newest first when hits
        # are many, looked up by id when few; both cover its column filters.
        Index("ix_ad_recent", "last_seen", "id", "first_seen", "platform_id"),
        Index("ix_ad_keys", "id", "last_seen", "first_seen", "platform_id"),
    )


class Sighting(Base):
    __tablename__ = "sighting"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id"), index=True)
    crawl_id: Mapped[int | None] = mapped_column(ForeignKey("crawl.id"), index=True)
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("capture.id"))
    seen_at: Mapped[datetime] = mapped_column(Timestamp)
    text_sha256: Mapped[str] = mapped_column(String(64))


class Identifier(Base):
    __tablename__ = "identifier"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    value_sha256: Mapped[str] = mapped_column(String(64), default=sha256_of("value"))

    __table_args__ = (UniqueConstraint("kind", "value_sha256", name="uq_identifier_kind_value"),)

    @classmethod
    def matching(cls, kind: str, value: str) -> Any:
        """The SQL condition for one identifier, through the unique (kind, digest) key: the
        value itself has no index (it can be longer than an index entry allows)."""
        return and_(cls.kind == kind, cls.value_sha256 == value_sha256(value), cls.value == value)


class AdIdentifier(Base):
    __tablename__ = "ad_identifier"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id"), index=True)
    identifier_id: Mapped[int] = mapped_column(ForeignKey("identifier.id"), index=True)
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("capture.id"))
    field: Mapped[str] = mapped_column(String(32))
    match: Mapped[str] = mapped_column(Text)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        UniqueConstraint(
            "ad_id",
            "identifier_id",
            "capture_id",
            "field",
            "start",
            name="uq_ad_identifier_occurrence",
        ),
    )


class Image(Base):
    __tablename__ = "image"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    phash: Mapped[str | None] = mapped_column(String(16), index=True)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    """Matches an agency-supplied list of known hashes: never rendered, not exported."""


class AdImage(Base):
    __tablename__ = "ad_image"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    url_sha256: Mapped[str] = mapped_column(String(64), default=sha256_of("url"))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id"), index=True)
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("capture.id"))

    __table_args__ = (UniqueConstraint("ad_id", "url_sha256", name="uq_ad_image_ad_url"),)


class CustodyEvent(Base):
    __tablename__ = "custody_event"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(Timestamp)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)
    """Canonical JSON (RFC 8785) of the event's details."""
    details_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class Schedule(Base):
    __tablename__ = "schedule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(64))
    every_seconds: Mapped[float | None] = mapped_column(Float)
    cron: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run: Mapped[datetime | None] = mapped_column(Timestamp)
    last_run: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


# --- analysis ---
# Written by ``adarchive analyze`` (crawler.analysis); derived from the rows
# above, never edited by hand. Every link and indicator names the captures
# that prove it. See docs/analysis.md.


class AnalysisRun(Base):
    __tablename__ = "analysis_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    status: Mapped[str] = mapped_column(String(16), default="running")
    """running | finished | failed"""
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    """True when everything was recomputed (first run, --full, or a changed link config)."""
    config_json: Mapped[str] = mapped_column(Text)
    config_sha256: Mapped[str] = mapped_column(String(64))
    stats_json: Mapped[str | None] = mapped_column(Text)


class AdText(Base):
    """The MinHash signature of an ad's normalised text, kept so reruns only sign new text."""

    __tablename__ = "ad_text"

    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id"), primary_key=True)
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    """The ad's ``text_sha256`` when signed: a different value means the text changed."""
    params: Mapped[str] = mapped_column(String(64))
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Little-endian uint32 signature; NULL when the text is too short to compare."""
    chars: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("analysis_run.id"))


class Link(Base):
    """One reason two ads belong together; only a spanning set is stored (see graph.py)."""

    __tablename__ = "link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ad_a: Mapped[int] = mapped_column(ForeignKey("ad.id"), index=True)
    ad_b: Mapped[int] = mapped_column(ForeignKey("ad.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    """phone | email | telegram | line | kakao | wechat | url | image_sha256 | image_phash | poster_account | text"""
    weight: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    """One human-readable line, e.g. ``shared phone +77011234567``."""
    detail: Mapped[str] = mapped_column(Text)
    """JSON: identifier / image ids, Jaccard estimate, Hamming distance."""
    capture_a: Mapped[int | None] = mapped_column(ForeignKey("capture.id"))
    capture_b: Mapped[int | None] = mapped_column(ForeignKey("capture.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("analysis_run.id"), index=True)


class Network(Base):
    """A connected component (≥ 2 ads) of the links, over all links or strong ones only."""

    __tablename__ = "network"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(32), unique=True)
    """``N-<smallest ad id>`` (all links) or ``S-<smallest ad id>`` (strong links only)."""
    strong: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(Integer)
    platforms: Mapped[int] = mapped_column(Integer)
    identifiers: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    """Sum of the indicator weights of its ads: a ranking for review, not a verdict."""
    first_seen: Mapped[datetime | None] = mapped_column(Timestamp)
    last_seen: Mapped[datetime | None] = mapped_column(Timestamp)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("analysis_run.id"))


class AdNetwork(Base):
    __tablename__ = "ad_network"

    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id"), primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("network.id"), primary_key=True, index=True)


class AdIndicator(Base):
    """One risk indicator that fired on one ad, with its evidence (a lead for review)."""

    __tablename__ = "ad_indicator"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id"), index=True)
    indicator: Mapped[str] = mapped_column(String(64), index=True)
    weight: Mapped[float] = mapped_column(Float)
    evidence: Mapped[str] = mapped_column(Text)
    """JSON: what was seen (the matched words, the identifier, the other ads …)."""
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("capture.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("analysis_run.id"))


# --- scheduling, progress and watchlists ---
# Written by crawler.schedule: ``adarchive scheduler`` records each run it starts,
# the progress extension keeps a running crawl's counts fresh for ``adarchive
# status``, ``adarchive watch`` keeps watched identifiers and the adverts found
# carrying them. See docs/operations.md.


class ScheduleRun(Base):
    """One crawl the scheduler started (or adopted after a restart)."""

    __tablename__ = "schedule_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedule.id"), index=True)
    platform: Mapped[str] = mapped_column(String(64), index=True)
    running_platform: Mapped[str | None] = mapped_column(String(64), unique=True)
    """The platform while the run is running, else NULL: the unique constraint is the lock
    that keeps two runs of one platform from overlapping, across scheduler processes."""
    started_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    status: Mapped[str] = mapped_column(String(16), default="running")
    """running | finished | failed | interrupted"""
    exit_code: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    crawl_id: Mapped[int | None] = mapped_column(ForeignKey("crawl.id"))
    pages: Mapped[int] = mapped_column(Integer, default=0)
    ads: Mapped[int] = mapped_column(Integer, default=0)
    new_ads: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    watch_hits: Mapped[int] = mapped_column(Integer, default=0)
    log_path: Mapped[str | None] = mapped_column(Text)


class CrawlProgress(Base):
    """A running crawl's counts, refreshed every few seconds (the crawl row is final only)."""

    __tablename__ = "crawl_progress"

    crawl_id: Mapped[int] = mapped_column(ForeignKey("crawl.id"), primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    ads: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    """Requests waiting in the scheduler: how much of the crawl is known to be left."""
    refusals_json: Mapped[str | None] = mapped_column(Text)
    """Requests refused so far, by reason (``{"robots": 3, …}``), as JSON."""


class Watch(Base):
    """An identifier someone wants to hear about (``adarchive watch add``)."""

    __tablename__ = "watch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    """Normalised like ``identifier.value`` (E.164 phones, lower-case e-mails …)."""
    value_sha256: Mapped[str] = mapped_column(String(64), default=sha256_of("value"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "value_sha256", name="uq_watch_kind_value"),)


class WatchHit(Base):
    """An advert found carrying a watched identifier: once per (watch, ad), with its proof."""

    __tablename__ = "watch_hit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watch_id: Mapped[int] = mapped_column(ForeignKey("watch.id"), index=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id"), index=True)
    capture_id: Mapped[int | None] = mapped_column(ForeignKey("capture.id"))
    """The capture of the page where the identifier was first seen on this ad."""
    crawl_id: Mapped[int | None] = mapped_column(ForeignKey("crawl.id"))
    found_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    __table_args__ = (UniqueConstraint("watch_id", "ad_id", name="uq_watch_hit_watch_ad"),)


# --- workbench (issue 18) ---
# Written by the web workbench (crawler.workbench): its accounts, server-side
# sessions, its own hash-chained audit trail and the advert text search index.
# See docs/workbench.md.


class WorkbenchUser(Base):
    """A local account of the workbench; the password only as an argon2 hash."""

    __tablename__ = "workbench_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    """admin | technical | analyst | evidence_officer | auditor"""
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class WorkbenchSession(Base):
    """A login, kept on the server so it can be revoked; the cookie holds only its token."""

    __tablename__ = "workbench_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the cookie's token: a stolen copy of the table opens no session."""
    user_id: Mapped[int] = mapped_column(ForeignKey("workbench_user.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    address: Mapped[str | None] = mapped_column(String(64))


class AuditEvent(Base):
    """One thing a workbench user did: its own hash chain, shaped like ``custody_event``."""

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    actor: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)
    """Canonical JSON (RFC 8785) of the event's details."""
    details_sha256: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AdSearch(Base):
    """An advert's searchable text, normalised once in Python so both engines see the same.

    SQLite indexes ``doc`` with an FTS5 trigram table (``ad_fts``), PostgreSQL
    with a pg_trgm GIN index; both are created by the migration, not here.
    """

    __tablename__ = "ad_search"

    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id"), primary_key=True, autoincrement=False)
    text_sha256: Mapped[str | None] = mapped_column(String(64))
    last_seen: Mapped[datetime | None] = mapped_column(Timestamp)
    doc: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    """The advert's name, normalised as ``doc`` (the name filter; migration 0007)."""
    location: Mapped[str | None] = mapped_column(Text)
    """The advert's location, normalised as ``doc`` (the location filter)."""
    platform_id: Mapped[int | None] = mapped_column(Integer)
    """Copied from ``ad`` (never changes), so a filtered search needs no join."""
    first_seen: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        # PostgreSQL pages text hits by walking it newest first (migration 0011).
        Index("ix_ad_search_recent", "last_seen", "ad_id"),
    )


class AdGram(Base):
    """Two-character sequences of an advert's text in scripts written without spaces.

    A trigram index cannot find a two-character word, and in Japanese, Chinese,
    Korean or Thai those are common; the workbench looks them up here instead
    of scanning every advert (crawler/workbench/searchindex.py fills it).
    """

    __tablename__ = "ad_gram"

    gram: Mapped[str] = mapped_column(String(2), primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id"), primary_key=True, index=True)


class SearchWord(Base):
    """The vocabulary of the word index: every word (see
    :func:`crawler.workbench.searchquery.words`) some advert's text holds or held.

    A query word is expanded through it (every word containing it, found with
    a pg_trgm index on ``word``) and its adverts read from ``ad_word``. Words
    are never removed: one no advert holds any more maps to no advert.
    PostgreSQL only (SQLite's FTS5 trigram index counts a word from its own
    lists); the table exists on both engines so the schema is one.
    """

    __tablename__ = "search_word"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    word: Mapped[str] = mapped_column(Text, unique=True)


class AdWord(Base):
    """Which adverts hold which word of the vocabulary (PostgreSQL; migration 0012).

    An exact count of a common word is then an index-only walk of its
    ``(word_id, ad_id)`` range, not a recheck of every trigram candidate's text
    (crawler/workbench/searchindex.py fills it with ``ad_search``).
    """

    __tablename__ = "ad_word"

    word_id: Mapped[int] = mapped_column(ForeignKey("search_word.id"), primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id"), primary_key=True, index=True)


class LinkDecision(Base):
    """A reviewer's word on the link between two adverts: accept, reject or a note.

    Keyed by the advert pair (``ad_a < ad_b``) and the link's kind, not by the
    link row, which ``analyze --full`` recreates. The newest accept/reject of a
    pair and kind is in force; ``analyze`` never joins a network with a rejected
    link. Rows are only added, never changed: the history is the record.
    """

    __tablename__ = "link_decision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ad_a: Mapped[int] = mapped_column(ForeignKey("ad.id"), index=True)
    ad_b: Mapped[int] = mapped_column(ForeignKey("ad.id"))
    kind: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(16))
    """accept | reject | note"""
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


# --- workbench notes, tags and cases (issue 18) ---
# An advert is named by its id, an identifier by its id, a network by its
# label (``analyze --full`` recreates network rows; labels name the same group).


class WorkbenchNote(Base):
    """An analyst's note on an advert, identifier or network; removing one only marks it."""

    __tablename__ = "workbench_note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    """ad | identifier | network"""
    subject_ref: Mapped[str] = mapped_column(String(64))
    """The advert's or identifier's id, or the network's label."""
    body: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    removed_by: Mapped[str | None] = mapped_column(String(255))
    removed_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (Index("ix_workbench_note_subject", "subject_kind", "subject_ref"),)


class WorkbenchTag(Base):
    """A short label on an advert, identifier or network (its history is in the audit trail)."""

    __tablename__ = "workbench_tag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_ref: Mapped[str] = mapped_column(String(64))
    tag: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    __table_args__ = (
        UniqueConstraint("subject_kind", "subject_ref", "tag", name="uq_workbench_tag_subject_tag"),
    )


class Case(Base):
    """An investigation: a unique reference, what it is about, and the items it gathers."""

    __tablename__ = "workbench_case"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class CaseItem(Base):
    """An advert, identifier or network gathered into a case."""

    __tablename__ = "case_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("workbench_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """ad | identifier | network"""
    ref: Mapped[str] = mapped_column(String(64))
    """The advert's or identifier's id, or the network's label."""
    added_by: Mapped[str] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    __table_args__ = (
        UniqueConstraint("case_id", "kind", "ref", name="uq_case_item_case_kind_ref"),
    )


class CaseEvent(Base):
    """One step in a case's own timeline: created, item added or removed, exported, verified."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("workbench_case.id"), index=True)
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class CaseExport(Base):
    """A bundle or exhibit made for a case from the workbench, and how far it got."""

    __tablename__ = "case_export"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("workbench_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """bundle | exhibit"""
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("case_export.id"))
    """For an exhibit: the exported bundle it describes."""
    status: Mapped[str] = mapped_column(String(16))
    """running | done | failed"""
    actor: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    report: Mapped[str] = mapped_column(Text, default="")
    """What the CLI would have printed, or the error that stopped it."""


class WorkbenchTotp(Base):
    """A user's TOTP second factor (RFC 6238): the shared secret, kept on the server only.

    ``confirmed`` once a code from the user's app was accepted; only then does
    log-in ask for a code. ``last_step`` is the time step of the newest code
    accepted: a code of that step or an earlier one is refused (no replay).
    """

    __tablename__ = "workbench_totp"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("workbench_user.id"), primary_key=True, autoincrement=False
    )
    secret: Mapped[str] = mapped_column(String(64))
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class WorkbenchPendingLogin(Base):
    """A log-in whose password was right and which waits for its TOTP code (minutes only)."""

    __tablename__ = "workbench_pending_login"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("workbench_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    used_at: Mapped[datetime | None] = mapped_column(Timestamp)
    address: Mapped[str | None] = mapped_column(String(64))


SEARCH_INDEX_NAMES = ("ad_fts", "ix_ad_search_doc_trgm", "ix_search_word_trgm")
"""Engine-specific search structures the migration makes outside the models."""


def in_models(name: str | None, type_: str, parent_names: object) -> bool:
    """For Alembic's ``include_name``: leave the engine-specific search index out of comparisons."""
    return not (name and any(name.startswith(n) for n in SEARCH_INDEX_NAMES))
