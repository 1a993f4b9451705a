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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.evidence.audithead import verify_audit_chain
from crawler.evidence.chain import (
    ChainResult,
)
from crawler.evidence.custody import record_event
from crawler.store.models import AuditEvent

RETRIES = 30
_APPEND = threading.Lock()
"""One append at a time per server process: concurrent requests queue here for a
few milliseconds instead of racing for the chain's head and retrying with backoff
(which, under 8 concurrent searches, cost more than the searches themselves)."""


def append(
    session: Session, actor: str, action: str, subject: str, details: Mapping[str, Any]
) -> AuditEvent:
    """Append and commit one event, retrying on top of the new head if another writer won.

    The audit trail is a chain of its own, kept exactly as the custody log is
    (crawler/evidence/custody.py), so browsing never waits behind evidence writes.
    The session must have nothing else pending: a lost race rolls it back.
    """
    with _APPEND:
        return record_event(session, action, subject, details, actor=actor, model=AuditEvent,
                            retries=RETRIES)  # fmt: skip


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
