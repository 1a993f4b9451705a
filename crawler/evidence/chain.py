"""The custody chain's arithmetic, with no store: hashing and checking events.

Kept apart from :mod:`crawler.evidence.custody` (which needs SQLAlchemy), so
``adarchive verify`` on a court's machine loads only what it checks with.
Each event's ``hash`` is SHA-256 over the RFC 8785 canonical JSON of
``{seq, at, actor, action, subject, details_sha256, prev_hash}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crawler.evidence.canonical import canonical_bytes

GENESIS_HASH = "0" * 64


def rfc3339(at: datetime) -> str:
    """``2026-11-29T05:49:00.123456Z``: UTC, always with microseconds (naive = UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def event_hash(
    seq: int, at: str, actor: str, action: str, subject: str, details_sha256: str, prev_hash: str
) -> str:
    """The chain hash of one event (see module docstring)."""
    return sha256_hex(
        canonical_bytes(
            {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "subject": subject,
                "details_sha256": details_sha256,
                "prev_hash": prev_hash,
            }
        )
    )


@dataclass(frozen=True)
class ChainResult:
    """The outcome of checking a chain; ``broken_seq`` names the first bad link."""

    ok: bool
    events: int
    head_hash: str
    broken_seq: int | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"custody chain intact: {self.events} events, head {self.head_hash}"
        return f"custody chain broken at event {self.broken_seq}: {self.reason}"


def verify_chain(events: Iterable[Mapping[str, Any]], *, first_seq: int = 1) -> ChainResult:
    """Recompute every link; stop at the first that does not hold.

    Events are exported records (details as an object, or absent when
    redacted) or store rows as mappings with ``details_text`` (the stored
    canonical JSON).
    """
    expected_prev = GENESIS_HASH
    expected_seq = first_seq
    count = 0
    for raw in events:
        ev = raw
        seq = ev.get("seq")
        try:
            problem = _check_event(ev, expected_seq, expected_prev)
        except (KeyError, TypeError, ValueError) as exc:
            problem = f"malformed event ({exc.__class__.__name__}: {exc})"
        if problem:
            return ChainResult(
                False, count, expected_prev, seq if seq is not None else expected_seq, problem
            )
        expected_prev = ev["hash"]
        expected_seq += 1
        count += 1
    return ChainResult(True, count, expected_prev)


def _check_event(ev: Mapping[str, Any], expected_seq: int, expected_prev: str) -> str:
    if ev["seq"] != expected_seq:
        return f"expected event {expected_seq} here, found {ev['seq']} (an event is missing or reordered)"
    if ev["prev_hash"] != expected_prev:
        return "prev_hash does not match the hash of the previous event"
    if "details_text" in ev:
        actual = sha256_hex(str(ev["details_text"]).encode("utf-8"))
    elif "details" in ev:
        actual = sha256_hex(canonical_bytes(ev["details"]))
    else:
        actual = None  # redacted: only the digest travels
    if actual is not None and actual != ev["details_sha256"]:
        return "details do not match details_sha256 (details were edited)"
    recomputed = event_hash(
        ev["seq"], ev["at"], ev["actor"], ev["action"], ev["subject"],
        ev["details_sha256"], ev["prev_hash"],
    )  # fmt: skip
    if recomputed != ev["hash"]:
        return "hash does not match the event's contents (the event was edited)"
    return ""
