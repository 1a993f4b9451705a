"""The custody log: an append-only hash chain of what happened to the evidence.

Each event's ``hash`` is SHA-256 over the RFC 8785 canonical JSON of
``{seq, at, actor, action, subject, details_sha256, prev_hash}``. It covers
the *digest* of the details, not the details themselves, so an export can
ship events unrelated to its case with their details removed (only
``details_sha256`` left) and the chain still verifies end to end.

Concurrent writers cannot fork the chain: ``seq`` is the primary key, so the
second writer of the same ``seq`` fails with an IntegrityError and retries on
top of the new head (:func:`record_event`).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from crawler.evidence.canonical import canonical_bytes
from crawler.evidence.chain import (
    GENESIS_HASH,
    ChainResult,
    event_hash,
    rfc3339,
    sha256_hex,
)
from crawler.evidence.chain import verify_chain as _verify_records
from crawler.store.models import CustodyEvent

__all__ = [
    "GENESIS_HASH",
    "ChainResult",
    "append_event",
    "event_hash",
    "event_record",
    "record_event",
    "rfc3339",
    "sha256_hex",
    "verify_chain",
    "verify_store_chain",
]

RETRIES = 20


def default_actor() -> str:
    """Who acts: the configured operator identity plus the OS account that ran the command.

    ``ADARCHIVE_OPERATOR_NAME`` and ``ADARCHIVE_OPERATOR_UNIT`` (or ``ADARCHIVE_ACTOR``,
    a whole identity) name the person; ``user@host`` alone would often say only
    ``root@vm``. Without a configured identity the event says so, never hiding it.
    """
    from crawler.configuration import setting

    name = (setting("ADARCHIVE_OPERATOR_NAME") or "").strip()
    unit = (setting("ADARCHIVE_OPERATOR_UNIT") or "").strip()
    identity = (setting("ADARCHIVE_ACTOR") or "").strip() or ", ".join(
        part for part in (name, unit) if part
    )
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    account = f"{user}@{socket.gethostname()}"
    return f"{identity or 'operator not configured'} [OS user {account}]"


def head(session: Session, model: type[Any] = CustodyEvent) -> Any:
    """The newest event of a chain (``model``: the custody log, or another chain kept
    the same way, such as the workbench's audit trail), or None for an empty one."""
    return session.scalar(select(model).order_by(model.seq.desc()).limit(1))


def append_event(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
    *,
    at: datetime | None = None,
    model: type[Any] = CustodyEvent,
) -> Any:
    """Add the next event to the chain and flush it (the caller commits).

    Raises IntegrityError when another writer took the same ``seq`` first;
    :func:`record_event` handles that by retrying.
    """
    last = head(session, model)
    at_head = None if last is None else (last.seq, last.hash)
    event = model(**next_event(at_head, actor, action, subject, details, at))
    session.add(event)
    session.flush()
    return event


def next_event(
    last: tuple[int, str] | None,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
    at: datetime | None = None,
) -> dict[str, Any]:
    """The columns of the event that follows ``last`` ((seq, hash) of the chain's head, or
    None for an empty chain): the one place the chain's arithmetic is written."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    details_text = canonical_bytes(dict(details)).decode("utf-8")
    details_sha256 = sha256_hex(details_text.encode("utf-8"))
    seq = 1 if last is None else last[0] + 1
    prev_hash = GENESIS_HASH if last is None else last[1]
    return {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details_text,
        "details_sha256": details_sha256,
        "prev_hash": prev_hash,
        "hash": event_hash(seq, rfc3339(at), actor, action, subject, details_sha256, prev_hash),
    }


def record_event(
    session: Session,
    action: str,
    subject: str,
    details: Mapping[str, Any],
    *,
    actor: str | None = None,
    model: type[Any] = CustodyEvent,
    retries: int = RETRIES,
    lock: Callable[[Session], None] | None = None,
    append: Callable[..., Any] = append_event,
) -> Any:
    """Append and commit one event, retrying when a concurrent writer won the race.

    ``lock``, when given, runs first in each attempt's transaction (a chain whose
    writers serialise before reading the head); ``append`` writes the event
    (:func:`append_event`'s signature). The session must have nothing else pending:
    a lost race rolls it back.
    """
    actor = actor or default_actor()
    for attempt in range(retries):
        try:
            if lock is not None:
                lock(session)
            event = append(session, actor, action, subject, details, model=model)
            session.commit()
            return event
        except (IntegrityError, OperationalError):
            session.rollback()
            if attempt == retries - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


# -- the exported / displayed form ------------------------------------------


def event_record(event: CustodyEvent, *, redact: bool = False) -> dict[str, Any]:
    """The JSON form of an event (custody.jsonl, ``custody show``).

    Redacted events keep everything but ``details``, so their hash still checks.
    """
    record: dict[str, Any] = {
        "seq": event.seq,
        "at": rfc3339(event.at),
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "details_sha256": event.details_sha256,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
    if redact:
        record["redacted"] = True
    else:
        record["details"] = json.loads(event.details)
    return record


def _as_record(event: CustodyEvent | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(event, CustodyEvent):
        return {
            "seq": event.seq,
            "at": rfc3339(event.at),
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "details_text": event.details,
            "details_sha256": event.details_sha256,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        }
    return event


def verify_chain(
    events: Iterable[CustodyEvent | Mapping[str, Any]], *, first_seq: int = 1
) -> ChainResult:
    """Recompute every link (store rows or exported records); name the first bad one."""
    return _verify_records((_as_record(e) for e in events), first_seq=first_seq)


def verify_store_chain(session: Session, batch: int = 1000) -> ChainResult:
    """Check the whole chain in the store, streaming rows in batches."""

    def rows() -> Iterable[CustodyEvent]:
        last = 0
        while True:
            chunk = session.scalars(
                select(CustodyEvent)
                .where(CustodyEvent.seq > last)
                .order_by(CustodyEvent.seq)
                .limit(batch)
            ).all()
            if not chunk:
                return
            yield from chunk
            last = chunk[-1].seq

    return verify_chain(rows())
