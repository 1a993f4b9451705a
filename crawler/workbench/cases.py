"""Cases: a unique reference, a description, the adverts, identifiers and networks gathered.

Items are named as notes name their subjects (:mod:`crawler.workbench.notes`).
Every change is a row of ``case_event`` (the case's own timeline) and, by the
caller, an audit event. What a case exports is :func:`selection`: its adverts,
the adverts of its networks, and its identifiers, handed to the same
``crawler.evidence`` selection the ``adarchive export`` command builds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crawler.evidence.selection import Selection
from crawler.store.models import (
    Ad,
    AdNetwork,
    Capture,
    Case,
    CaseEvent,
    CaseExport,
    CaseItem,
    Identifier,
    Network,
    Platform,
    Sighting,
    utc,
    utcnow,
)
from crawler.workbench.notes import Subject, resolve

MAX_REFERENCE = 128
MAX_DESCRIPTION = 4000
REFERENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/:#-]*$")
TIMELINE_LIMIT = 500
EARLIEST = datetime.min.replace(tzinfo=UTC)


class CaseError(ValueError):
    """A case change the user can correct (reference taken, item already there, …)."""


@dataclass
class CaseView:
    case: Case
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    exports: list[CaseExport] = field(default_factory=list)
    ad_count: int = 0


def clean_reference(text: str) -> str:
    ref = " ".join(text.split())
    if not ref:
        raise CaseError("a case needs a reference")
    if len(ref) > MAX_REFERENCE:
        raise CaseError(f"a case reference has at most {MAX_REFERENCE} characters")
    if not REFERENCE_RE.match(ref):
        raise CaseError("a case reference is letters, digits, spaces and . _ / : # -")
    return ref


def _event(session: Session, case_id: int, actor: str, action: str, detail: str = "") -> None:
    session.add(CaseEvent(case_id=case_id, at=utcnow(), actor=actor, action=action, detail=detail))


def create(session: Session, reference: str, description: str, actor: str) -> Case:
    ref = clean_reference(reference)
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        raise CaseError(f"a description has at most {MAX_DESCRIPTION} characters")
    taken = session.scalar(select(Case.id).where(func.lower(Case.reference) == ref.lower()))
    if taken is not None:
        raise CaseError(f"there is already a case {ref!r}")
    case = Case(reference=ref, description=description, created_by=actor, created_at=utcnow())
    session.add(case)
    try:
        session.flush()
        _event(session, case.id, actor, "created", ref)
        session.commit()
    except IntegrityError:  # another request took the reference meanwhile
        session.rollback()
        raise CaseError(f"there is already a case {ref!r}") from None
    return case


def describe(session: Session, case: Case, description: str, actor: str) -> None:
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        raise CaseError(f"a description has at most {MAX_DESCRIPTION} characters")
    case.description = description
    _event(session, case.id, actor, "described", description[:200])
    session.commit()


def add_item(session: Session, case: Case, subject: Subject, actor: str) -> CaseItem:
    exists = session.scalar(
        select(CaseItem.id).where(
            CaseItem.case_id == case.id, CaseItem.kind == subject.kind, CaseItem.ref == subject.ref
        )  # fmt: skip
    )
    if exists is not None:
        raise CaseError(f"{subject.label} is already in case {case.reference}")
    item = CaseItem(case_id=case.id, kind=subject.kind, ref=subject.ref, added_by=actor,
                    added_at=utcnow())  # fmt: skip
    session.add(item)
    _event(session, case.id, actor, "item added", subject.label)
    try:
        session.commit()
    except IntegrityError:  # the same item added by another request meanwhile
        session.rollback()
        raise CaseError(f"{subject.label} is already in case {case.reference}") from None
    return item


def remove_item(session: Session, case: Case, item: CaseItem, label: str, actor: str) -> None:
    session.execute(delete(CaseItem).where(CaseItem.id == item.id))
    _event(session, case.id, actor, "item removed", label)
    session.commit()


def record(session: Session, case_id: int, actor: str, action: str, detail: str) -> None:
    """A timeline step made elsewhere (export, exhibit)."""
    _event(session, case_id, actor, action, detail)
    session.commit()


def list_all(session: Session) -> list[dict[str, Any]]:
    counts: dict[int, dict[str, int]] = {}
    for case_id, kind, n in session.execute(
        select(CaseItem.case_id, CaseItem.kind, func.count()).group_by(
            CaseItem.case_id, CaseItem.kind
        )
    ):
        counts.setdefault(case_id, {})[kind] = int(n)
    last = dict(
        session.execute(
            select(CaseEvent.case_id, func.max(CaseEvent.at)).group_by(CaseEvent.case_id)
        ).all()
    )
    return [
        {
            "case": c,
            "counts": counts.get(c.id, {}),
            "last": utc(last.get(c.id)) or utc(c.created_at),
        }
        for c in session.scalars(select(Case).order_by(Case.created_at.desc(), Case.id.desc()))
    ]


def containing(session: Session, kind: str, ref: str) -> list[Case]:
    return list(
        session.scalars(
            select(Case)
            .join(CaseItem, CaseItem.case_id == Case.id)
            .where(CaseItem.kind == kind, CaseItem.ref == ref)
            .order_by(Case.reference)
        )
    )


def choices(session: Session) -> list[tuple[int, str]]:
    return [
        (i, r) for i, r in session.execute(select(Case.id, Case.reference).order_by(Case.reference))
    ]


def items(session: Session, case_id: int) -> list[CaseItem]:
    return list(
        session.scalars(select(CaseItem).where(CaseItem.case_id == case_id).order_by(CaseItem.id))
    )


def network_ads(session: Session, label: str) -> list[int]:
    return list(
        session.scalars(
            select(AdNetwork.ad_id)
            .join(Network, Network.id == AdNetwork.network_id)
            .where(Network.label == label)
            .order_by(AdNetwork.ad_id)
        )
    )


def case_ads(session: Session, case_id: int) -> list[int]:
    """Its adverts and its networks' adverts (identifiers bring theirs at export)."""
    ads: set[int] = set()
    for item in items(session, case_id):
        if item.kind == "ad":
            ads.add(int(item.ref))
        elif item.kind == "network":
            ads.update(network_ads(session, item.ref))
    return sorted(ads)


def selection(session: Session, case_id: int) -> Selection:
    """What ``adarchive export`` would be given: --ad for each advert, --identifier KIND:VALUE."""
    idents = []
    for item in items(session, case_id):
        if item.kind == "identifier":
            ident = session.get(Identifier, int(item.ref))
            if ident is not None:
                idents.append(f"{ident.kind}:{ident.value}")
    return Selection(ads=[str(a) for a in case_ads(session, case_id)], identifiers=idents)


def load(session: Session, case_id: int) -> CaseView | None:
    case = session.get(Case, case_id)
    if case is None:
        return None
    view = CaseView(case)
    grouped: dict[str, list[dict[str, Any]]] = {"ad": [], "identifier": [], "network": []}
    for item in items(session, case_id):
        subject = resolve(session, item.kind, item.ref)
        entry = {
            "id": item.id,
            "kind": item.kind,
            "ref": item.ref,
            "label": subject.label if subject else f"{item.kind} {item.ref} (gone from the store)",
            "url": subject.url if subject else "",
            "added_by": item.added_by,
            "added_at": utc(item.added_at),
        }
        if item.kind == "network":
            entry["ads"] = len(network_ads(session, item.ref))
        grouped.setdefault(item.kind, []).append(entry)
    view.items = grouped
    ads = case_ads(session, case_id)
    view.ad_count = len(ads)
    view.timeline = timeline(session, case_id, ads)
    view.exports = list(
        session.scalars(
            select(CaseExport).where(CaseExport.case_id == case_id).order_by(CaseExport.id.desc())
        )
    )
    return view


def timeline(session: Session, case_id: int, ads: list[int]) -> list[dict[str, Any]]:
    """Sightings of the case's adverts and the case's own events, oldest first."""
    rows: list[dict[str, Any]] = []
    for ev in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)):
        rows.append({"at": utc(ev.at), "what": "case", "action": ev.action, "actor": ev.actor,
                     "detail": ev.detail, "ad": None})  # fmt: skip
    for start in range(0, len(ads), 500):
        chunk = ads[start : start + 500]
        for seen_at, ad_id, title, platform, url in session.execute(
            select(Sighting.seen_at, Ad.id, Ad.title, Platform.name, Capture.url)
            .join(Ad, Ad.id == Sighting.ad_id)
            .join(Platform, Platform.id == Ad.platform_id)
            .outerjoin(Capture, Capture.id == Sighting.capture_id)
            .where(Sighting.ad_id.in_(chunk))
        ):
            rows.append({"at": utc(seen_at), "what": "sighting", "action": "seen", "actor": platform,
                         "detail": title or "(no title)", "ad": ad_id, "url": url})  # fmt: skip
    rows.sort(key=lambda r: (r["at"] or EARLIEST, r["what"] != "sighting"))
    return rows[-TIMELINE_LIMIT:]


def export_summary(result: Any) -> dict[str, Any]:
    """The audit details of a finished export: the CLI's summary as data."""
    return {
        "sha256": result.sha256,
        "bytes": result.size,
        "captures": result.captures,
        "records": result.records,
        "custody_event": result.export_event,
        "signer": result.signer_fingerprint,
    }
