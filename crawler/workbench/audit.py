"""The workbench's audit trail: every login, search, view and reveal, hash-chained.

Its own chain (table ``audit_event``), with the custody log's arithmetic
(:mod:`crawler.evidence.chain`): each event carries the hash of the previous
one and its hash covers the canonical JSON digest of its details. Browsing
therefore never waits behind evidence writes on the custody chain's head.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from crawler.evidence.audithead import verify_audit_chain
from crawler.evidence.chain import (
    ChainResult,
)
from crawler.evidence.custody import next_event, record_event
from crawler.store.db import begin_sqlite_transaction
from crawler.store.models import AuditEvent

RETRIES = 30
CHAIN_LOCK = 0x61756469  # "audi": the PostgreSQL advisory lock that serialises appends
_APPEND = threading.Lock()
"""One append at a time per server process: concurrent requests queue here for a
few milliseconds instead of racing for the chain's head and retrying with backoff
(which, under 8 concurrent searches, cost more than the searches themselves)."""


def append(
    session: Session, actor: str, action: str, subject: str, details: Mapping[str, Any]
) -> AuditEvent:
    """Append and commit one event, on top of the chain's head as it is in the store.

    The audit trail is a chain of its own, kept exactly as the custody log is
    (crawler/evidence/custody.py), so browsing never waits behind evidence writes.
    Appends are serialised across every server process (``serve --workers``) before
    the head is read: SQLite's write lock (BEGIN IMMEDIATE), PostgreSQL's
    transaction-scoped advisory lock; within one process the threads queue on a
    lock first. The event and nothing else is committed in one transaction, so a
    crash leaves the chain as it was or one event longer. A writer that does not
    take the lock (an older version) can still win the race: that append is
    retried on top of the new head. The session must have nothing else pending:
    a retry rolls it back.
    """
    with _APPEND:
        return record_event(session, action, subject, details, actor=actor, model=AuditEvent,
                            retries=RETRIES, lock=_lock_chain, append=_insert)  # fmt: skip


def _insert(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
    *,
    model: type[AuditEvent] = AuditEvent,
) -> AuditEvent:
    """The next event on top of the head, written with one INSERT (the chain's arithmetic,
    :func:`crawler.evidence.custody.next_event`, without loading the head row as an object
    or flushing one through the ORM: a third of an append's cost)."""
    last = session.execute(
        select(model.seq, model.hash).order_by(model.seq.desc()).limit(1)
    ).first()
    values = next_event(None if last is None else (last.seq, last.hash), actor, action, subject,
                        details)  # fmt: skip
    session.execute(insert(model).values(**values))
    return model(**values)


def _lock_chain(session: Session) -> None:
    """Hold the chain's append lock until this transaction ends (commit or rollback)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(CHAIN_LOCK)))
    else:
        begin_sqlite_transaction(session)


@dataclass(frozen=True)
class AuditFilter:
    """What the auditor asked to see; empty fields do not filter."""

    actor: str = ""
    action: str = ""
    subject: str = ""
    since: datetime | None = None
    until: datetime | None = None


def query(
    session: Session, flt: AuditFilter, *, limit: int = 50, offset: int = 0
) -> tuple[int, list[AuditEvent]]:
    """(total matching, one page of them, newest first)."""
    stmt = select(AuditEvent)
    if flt.actor:
        stmt = stmt.where(AuditEvent.actor == flt.actor)
    if flt.action:
        stmt = stmt.where(AuditEvent.action == flt.action)
    if flt.subject:
        stmt = stmt.where(AuditEvent.subject == flt.subject)
    if flt.since is not None:
        stmt = stmt.where(AuditEvent.at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(AuditEvent.at < flt.until)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(limit).offset(offset)).all()
    return int(total), list(rows)


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def verify(session: Session) -> ChainResult:
    """Recompute the whole audit chain from the store (the code `custody verify` runs)."""
    return verify_audit_chain(session)
