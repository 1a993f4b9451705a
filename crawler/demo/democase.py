"""The demo's case: what an analyst would gather first, so the workbench shows a case.

After the demo's analysis, one case is opened in the store under the demo
account's name: the largest network of strong links, the identifier shared by
the most adverts, and a few adverts carrying it. It goes through the
workbench's own case code and audit trail (``case.create``, ``case.item.add``),
exactly as if the demo analyst had built it in the browser.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.store.models import AdIdentifier, Case, Identifier, Network
from crawler.workbench import audit, cases, notes

DEMO_CASE = "DEMO-1"
DEMO_ADS = 3
DESCRIPTION = (
    "Demo case (synthetic data): the largest network of adverts linked by shared "
    "identifiers or images, its most shared identifier and a few adverts that carry it. "
    "Leads for review, not verdicts."
)


@dataclass(frozen=True)
class DemoCase:
    case_id: int
    reference: str
    items: list[str]
    """How a person reads each item: advert 12: …, phone +7701…, network S-4."""
    made: bool
    """False when an earlier demo run made it already."""


def _largest_network(session: Session) -> str | None:
    return session.scalar(
        select(Network.label).where(Network.strong.is_(True))
        .order_by(Network.size.desc(), Network.id).limit(1)
    )  # fmt: skip


def _most_shared_identifier(session: Session) -> tuple[int, list[int]] | None:
    """The identifier found in the most adverts, and those adverts (oldest first)."""
    shared = func.count(func.distinct(AdIdentifier.ad_id))
    best = session.scalar(
        select(AdIdentifier.identifier_id).join(Identifier, Identifier.id == AdIdentifier.identifier_id)
        .where(Identifier.kind != "url").group_by(AdIdentifier.identifier_id)
        .order_by(shared.desc(), AdIdentifier.identifier_id).limit(1)
    )  # fmt: skip
    if best is None:
        return None
    ads = session.scalars(
        select(AdIdentifier.ad_id).where(AdIdentifier.identifier_id == best)
        .group_by(AdIdentifier.ad_id).order_by(AdIdentifier.ad_id)
    )  # fmt: skip
    return int(best), [int(a) for a in ads]


def make_demo_case(session: Session, actor: str) -> DemoCase | None:
    """Open the demo case as ``actor`` (the demo analyst); None when the store has no advert."""
    existing = session.scalar(select(Case).where(Case.reference == DEMO_CASE))
    if existing is not None:
        labels = [f"{i.kind} {i.ref}" for i in cases.items(session, existing.id)]
        return DemoCase(existing.id, existing.reference, labels, made=False)
    picked = _most_shared_identifier(session)
    if picked is None:
        return None
    identifier, ads = picked
    subjects = [notes.resolve(session, "ad", str(a)) for a in ads[:DEMO_ADS]]
    subjects.append(notes.resolve(session, "identifier", str(identifier)))
    network = _largest_network(session)
    if network is not None:
        subjects.append(notes.resolve(session, "network", network))
    case = cases.create(session, DEMO_CASE, DESCRIPTION, actor)
    audit.append(session, actor, "case.create", f"case:{case.id}",
                 {"reference": case.reference, "description": case.description})  # fmt: skip
    labels = []
    for subject in subjects:
        if subject is None:
            continue
        cases.add_item(session, case, subject, actor)
        audit.append(session, actor, "case.item.add", f"case:{case.id}",
                     {"item": subject.key, "label": subject.label})  # fmt: skip
        labels.append(subject.label)
    return DemoCase(case.id, case.reference, labels, made=True)
