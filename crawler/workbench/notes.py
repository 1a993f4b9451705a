"""Notes and tags on adverts, identifiers and networks: what an analyst wants to remember.

A subject is named as the audit trail names it: ``ad:<id>``,
``identifier:<id>``, ``network:<label>`` (network rows are recreated by
``analyze --full``; their labels name the same group). Removing a note only
marks it removed, with who and when; a tag is deleted, and its history is in
the audit trail. The caller audits every change.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crawler.store.models import (
    Ad,
    Identifier,
    Network,
    WorkbenchNote,
    WorkbenchTag,
    utc,
    utcnow,
)

KINDS = ("ad", "identifier", "network")
MAX_NOTE = 4000
MAX_TAG = 40
TAG_RE = re.compile(r"^[\w][\w .:/#+-]*$")


class NoteError(ValueError):
    """A note or tag the user can correct (empty, too long, unknown subject)."""


@dataclass(frozen=True)
class Subject:
    """An advert, identifier or network that notes, tags and cases can name."""

    kind: str
    ref: str
    label: str
    """How a person reads it: advert 12, phone +7701…, network S-4."""
    url: str
    """Its page in the workbench."""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.ref}"


def row_id(value: object) -> int | None:
    """A store id from a URL or form: digits within the engines' integer range, else None
    (so a guessed 30-digit id is "not found", not a database error)."""
    text = str(value)
    return int(text) if text.isdigit() and len(text) <= 10 and int(text) < 2**31 else None


def resolve(session: Session, kind: str, ref: str) -> Subject | None:
    """The subject named by ``kind`` and ``ref``, if it exists in the store."""
    if kind in ("ad", "identifier") and row_id(ref) is None:
        return None
    if kind == "ad":
        ad = session.get(Ad, int(ref))
        if ad is not None:
            return Subject("ad", str(ad.id), f"advert {ad.id}: {ad.title or '(no title)'}",
                           f"/ads/{ad.id}")  # fmt: skip
    elif kind == "identifier":
        ident = session.get(Identifier, int(ref))
        if ident is not None:
            from urllib.parse import urlencode

            query = urlencode({"identifier": f"{ident.kind}:{ident.value}"})
            return Subject("identifier", str(ident.id), f"{ident.kind} {ident.value}",
                           f"/search?{query}")  # fmt: skip
    elif kind == "network" and ref:
        network = session.scalar(select(Network).where(Network.label == ref))
        if network is not None:
            return Subject("network", network.label, f"network {network.label}",
                           f"/networks/{network.id}")  # fmt: skip
        return Subject("network", ref, f"network {ref} (not in the latest analysis)", "/networks")
    return None


def identifier_ref(session: Session, kind: str, value: str) -> str | None:
    ident = session.scalar(select(Identifier.id).where(Identifier.matching(kind, value)))
    return None if ident is None else str(ident)


def clean_tag(text: str) -> str:
    tag = " ".join(unicodedata.normalize("NFKC", text).split()).lower()
    if not tag:
        raise NoteError("a tag cannot be empty")
    if len(tag) > MAX_TAG:
        raise NoteError(f"a tag has at most {MAX_TAG} characters")
    if not TAG_RE.match(tag):
        raise NoteError("a tag is letters, digits, spaces and . : / # + - _")
    return tag


def add_note(session: Session, subject: Subject, body: str, actor: str) -> WorkbenchNote:
    body = body.strip()
    if not body:
        raise NoteError("a note cannot be empty")
    if len(body) > MAX_NOTE:
        raise NoteError(f"a note has at most {MAX_NOTE} characters")
    note = WorkbenchNote(subject_kind=subject.kind, subject_ref=subject.ref, body=body,
                         actor=actor, at=utcnow())  # fmt: skip
    session.add(note)
    session.commit()
    return note


def remove_note(session: Session, note: WorkbenchNote, actor: str) -> None:
    if note.removed_at is not None:
        raise NoteError("that note was already removed")
    note.removed_at, note.removed_by = utcnow(), actor
    session.commit()


def add_tag(session: Session, subject: Subject, text: str, actor: str) -> WorkbenchTag:
    tag = clean_tag(text)
    exists = session.scalar(
        select(WorkbenchTag).where(
            WorkbenchTag.subject_kind == subject.kind,
            WorkbenchTag.subject_ref == subject.ref,
            WorkbenchTag.tag == tag,
        )  # fmt: skip
    )
    if exists is not None:
        raise NoteError(f"already tagged {tag!r}")
    row = WorkbenchTag(subject_kind=subject.kind, subject_ref=subject.ref, tag=tag, actor=actor,
                       at=utcnow())  # fmt: skip
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # the same tag added by another request meanwhile
        session.rollback()
        raise NoteError(f"already tagged {tag!r}") from None
    return row


def remove_tag(session: Session, tag: WorkbenchTag) -> None:
    session.delete(tag)
    session.commit()


def for_subject(session: Session, kind: str, ref: str) -> dict[str, Any]:
    """The notes in force (oldest first) and the tags of one subject."""
    notes = session.scalars(
        select(WorkbenchNote)
        .where(
            WorkbenchNote.subject_kind == kind,
            WorkbenchNote.subject_ref == ref,
            WorkbenchNote.removed_at.is_(None),
        )  # fmt: skip
        .order_by(WorkbenchNote.at, WorkbenchNote.id)
    ).all()
    tags = session.scalars(
        select(WorkbenchTag)
        .where(WorkbenchTag.subject_kind == kind, WorkbenchTag.subject_ref == ref)
        .order_by(WorkbenchTag.tag)
    ).all()
    return {
        "notes": [{"id": n.id, "body": n.body, "actor": n.actor, "at": utc(n.at)} for n in notes],
        "tags": [{"id": t.id, "tag": t.tag, "actor": t.actor} for t in tags],
    }


def tag_counts(session: Session) -> list[tuple[str, int]]:
    return [
        (t, int(n))
        for t, n in session.execute(
            select(WorkbenchTag.tag, func.count())
            .group_by(WorkbenchTag.tag)
            .order_by(WorkbenchTag.tag)
        )
    ]


def tagged(session: Session, tag: str) -> list[Subject]:
    rows = session.execute(
        select(WorkbenchTag.subject_kind, WorkbenchTag.subject_ref)
        .where(WorkbenchTag.tag == tag)
        .order_by(WorkbenchTag.subject_kind, WorkbenchTag.at)
    ).all()
    return [s for k, r in rows if (s := resolve(session, k, r)) is not None]


def recent_notes(session: Session, limit: int = 50) -> list[tuple[WorkbenchNote, Subject | None]]:
    notes = session.scalars(
        select(WorkbenchNote)
        .where(WorkbenchNote.removed_at.is_(None))
        .order_by(WorkbenchNote.at.desc(), WorkbenchNote.id.desc())
        .limit(limit)
    ).all()
    return [(n, resolve(session, n.subject_kind, n.subject_ref)) for n in notes]
