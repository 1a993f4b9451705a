"""The workbench's audit chain, anchored in the custody chain.

The audit trail (``audit_event``) is a hash chain of its own, so browsing
never waits behind evidence writes. On its own it proves only itself: whoever
can write the store can rewrite an audit event and recompute every hash after
it. So its head (seq, hash, time) is written into the custody chain as an
``audit.head`` event at defined moments: every crawl's end, every export,
the workbench's start and stop, and every ``ADARCHIVE_WORKBENCH_AUDIT_ANCHOR_INTERVAL``
seconds while it serves. Those custody events are time-stamped with the
custody chain's head (crawler/evidence/anchor.py). A rewritten audit history
then disagrees with a recorded head, and ``adarchive custody verify`` says
where (:func:`check_audit`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.evidence.chain import ChainResult, rfc3339, verify_chain
from crawler.evidence.custody import head, record_event
from crawler.store.models import AuditEvent, CustodyEvent, utc

AUDIT_HEAD = "audit.head"
SUBJECT = "audit:chain"


def _last_recorded(session: Session) -> dict[str, Any] | None:
    event = session.scalar(
        select(CustodyEvent)
        .where(CustodyEvent.action == AUDIT_HEAD)
        .order_by(CustodyEvent.seq.desc())
        .limit(1)
    )
    return json.loads(event.details) if event is not None else None


def record_audit_head(
    session: Session, reason: str, *, actor: str | None = None
) -> CustodyEvent | None:
    """Write the audit chain's head into the custody chain, unless it is recorded already.

    Returns the custody event, or None when the audit trail is empty or its
    head has not moved since the last ``audit.head`` event. The session must
    have nothing pending (a lost race on the custody head rolls it back).
    """
    latest = head(session, AuditEvent)
    if latest is None:
        return None
    last = _last_recorded(session)
    if last is not None and last.get("audit_seq") == latest.seq:
        return None
    details = {
        "audit_seq": latest.seq,
        "audit_hash": latest.hash,
        "audit_at": rfc3339(latest.at),
        "reason": reason,
    }
    event: CustodyEvent = record_event(session, AUDIT_HEAD, SUBJECT, details, actor=actor)
    return event


def _audit_records(session: Session, batch: int = 1000) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        chunk = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not chunk:
            return
        for ev in chunk:
            at = utc(ev.at)  # SQLite hands back naive datetimes
            assert at is not None
            yield {
                "seq": ev.seq,
                "at": rfc3339(at),
                "actor": ev.actor,
                "action": ev.action,
                "subject": ev.subject,
                "details_text": ev.details,
                "details_sha256": ev.details_sha256,
                "prev_hash": ev.prev_hash,
                "hash": ev.hash,
            }
        last = chunk[-1].seq


def verify_audit_chain(session: Session) -> ChainResult:
    """Recompute every link of the audit chain from the store."""
    return verify_chain(_audit_records(session))


@dataclass
class AuditCheck:
    """The audit chain recomputed, and each head the custody chain recorded checked against it."""

    chain: ChainResult
    heads: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems

    def lines(self) -> list[str]:
        chain = self.chain.describe().replace("custody chain", "audit chain")
        out = [chain, f"audit heads in the custody chain: {self.heads}"]
        out += [f"  FAIL {p}" for p in self.problems]
        return out


def check_audit(session: Session) -> AuditCheck:
    """Recompute the audit chain; every ``audit.head`` custody event must match it.

    An audit history rewritten with every hash recomputed passes the first
    check but not the second: the custody chain (itself anchored by time-stamps)
    still holds the old hash of the recorded event, or the event is missing.
    """
    out = AuditCheck(verify_audit_chain(session))
    recorded = session.scalars(
        select(CustodyEvent).where(CustodyEvent.action == AUDIT_HEAD).order_by(CustodyEvent.seq)
    ).all()
    for event in recorded:
        out.heads += 1
        try:
            details = json.loads(event.details)
            seq, digest = int(details["audit_seq"]), str(details["audit_hash"])
        except (ValueError, KeyError, TypeError):
            out.problems.append(f"custody event {event.seq}: not an audit head")
            continue
        row = session.get(AuditEvent, seq)
        if row is None:
            out.problems.append(
                f"custody event {event.seq} recorded audit event {seq}, which is missing: "
                "the audit trail was cut back"
            )
        elif row.hash != digest:
            out.problems.append(
                f"custody event {event.seq} recorded audit event {seq} with hash {digest[:16]}…, "
                f"the audit trail now has {row.hash[:16]}…: the audit history up to event "
                f"{seq} was rewritten"
            )
    return out
