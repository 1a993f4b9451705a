"""Reviewers' decisions on links: recorded by the workbench, respected by ``analyze``.

A link is named by its advert pair (smaller id first) and kind, so a decision
outlives the link row (``analyze --full`` recreates links). The newest accept
or reject of a pair and kind is in force; notes never change it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.store.models import Link, LinkDecision, utcnow

DECISIONS = ("accept", "reject", "note")
MAX_NOTE = 2000

PairKind = tuple[int, int, str]


class DecisionError(ValueError):
    """A decision that cannot be recorded as asked; the message is one line."""


def pair_kind(a: int, b: int, kind: str) -> PairKind:
    return (min(a, b), max(a, b), kind)


def record(session: Session, link: Link, decision: str, actor: str, note: str = "") -> LinkDecision:
    """Add one decision on ``link`` (the caller commits)."""
    if decision not in DECISIONS:
        raise DecisionError(f"unknown decision {decision!r} (one of {', '.join(DECISIONS)})")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise DecisionError(f"a note may have at most {MAX_NOTE} characters")
    if decision == "note" and not note:
        raise DecisionError("a note needs some text")
    a, b, kind = pair_kind(link.ad_a, link.ad_b, link.kind)
    row = LinkDecision(ad_a=a, ad_b=b, kind=kind, decision=decision, note=note or None,
                       actor=actor, at=utcnow())  # fmt: skip
    session.add(row)
    session.flush()
    return row


def in_force(session: Session) -> dict[PairKind, str]:
    """(pair, kind) → "accept" or "reject", the newest of each."""
    out: dict[PairKind, str] = {}
    for a, b, kind, decision in session.execute(
        select(LinkDecision.ad_a, LinkDecision.ad_b, LinkDecision.kind, LinkDecision.decision)
        .where(LinkDecision.decision.in_(("accept", "reject")))
        .order_by(LinkDecision.id)
    ):
        out[(a, b, kind)] = decision
    return out


def rejected(session: Session) -> set[PairKind]:
    return {key for key, decision in in_force(session).items() if decision == "reject"}


def history(session: Session, keys: set[PairKind]) -> dict[PairKind, list[LinkDecision]]:
    """Every decision on these links, oldest first."""
    out: dict[PairKind, list[LinkDecision]] = {k: [] for k in keys}
    if not keys:
        return out
    ads = {a for a, _, _ in keys}
    for row in session.scalars(
        select(LinkDecision).where(LinkDecision.ad_a.in_(ads)).order_by(LinkDecision.id)
    ):
        key = (row.ad_a, row.ad_b, row.kind)
        if key in out:
            out[key].append(row)
    return out
