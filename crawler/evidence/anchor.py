"""Anchor the custody chain outside the store: RFC 3161 tokens over its head.

The chain in the database proves only itself: whoever can write the store can
edit an event and recompute every hash after it. So at each crawl's end and
each export, the head (seq, hash, at) is time-stamped by every configured TSA,
and the anchor and its tokens are written as files beside the WARC files
(``<warc dir>/custody/``), where they travel with the archive and into
bundles. A rewritten history then disagrees with an anchor, or is re-stamped
later, which shows as a token much newer than the events it covers.

A TSA that cannot be reached never stops the work: the anchor is still
written, marked pending for that TSA, retried at the next anchoring, and
reported as a gap by ``custody verify``.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.configuration import setting
from crawler.evidence.canonical import canonical_bytes
from crawler.evidence.chain import rfc3339
from crawler.evidence.timestamp import (
    TimestampError,
    request_timestamp,
    tsa_slug,
    verify_response,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

SCHEMA = "adarchive-custody-anchor/1"
ANCHOR_DIR = "custody"
ANCHOR_PREFIX = "anchor-"
"""Anchors travel in bundles as ``evidence/anchor-head-<seq>.json`` (+ ``….<tsa>.tsr``)."""
# A token this much newer than the newest event it covers suggests a re-stamped rewrite.
MAX_TOKEN_LAG = timedelta(hours=1)


def tsa_urls(value: str | None = None) -> list[str]:
    """``ADARCHIVE_TSA_URL``: one or more TSA URLs, separated by spaces or commas."""
    text = value if value is not None else setting("ADARCHIVE_TSA_URL") or ""
    return [u for u in re.split(r"[\s,]+", text) if u]


def anchor_dir(data_root: Path) -> Path:
    return Path(data_root) / "warc" / ANCHOR_DIR


def _slug(url: str) -> str:
    return tsa_slug(url)


@dataclass
class AnchorResult:
    path: Path | None
    tokens: list[Path] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


def anchor_head(session: Session, data_root: Path, reason: str, urls: list[str]) -> AnchorResult:
    """Write ``head-<seq>.json`` and a token per reachable TSA; retry earlier pending ones."""
    if not urls:
        return AnchorResult(None)
    # The store is imported by the writing side only: `verify` checks anchors without it.
    from crawler.evidence.custody import head

    event = head(session)
    if event is None:
        return AnchorResult(None)
    directory = anchor_dir(data_root)
    directory.mkdir(parents=True, exist_ok=True)
    retry_pending(directory, urls)
    body = {
        "schema": SCHEMA,
        "seq": event.seq,
        "hash": event.hash,
        "at": rfc3339(event.at),
        "reason": reason,
    }
    path = directory / f"head-{event.seq:09d}.json"
    path.write_bytes(canonical_bytes(body))
    result = AnchorResult(path)
    for url in urls:
        if _stamp(path, url):
            result.tokens.append(_token_path(path, url))
        else:
            result.pending.append(url)
    return result


def _token_path(anchor: Path, url: str) -> Path:
    return anchor.with_name(f"{anchor.stem}.{_slug(url)}.tsr")


def _pending_path(anchor: Path, url: str) -> Path:
    return anchor.with_name(f"{anchor.stem}.{_slug(url)}.pending")


def _stamp(anchor: Path, url: str) -> bool:
    token, pending = _token_path(anchor, url), _pending_path(anchor, url)
    try:
        response = request_timestamp(url, anchor.read_bytes())
    except TimestampError as exc:
        logger.error("custody anchor %s: %s (queued, retried at the next anchoring)", anchor, exc)
        pending.write_text(json.dumps({"tsa_url": url, "error": str(exc)}) + "\n")
        return False
    tmp = token.with_name(token.name + ".tmp")
    tmp.write_bytes(response)
    tmp.replace(token)
    pending.unlink(missing_ok=True)
    return True


def retry_pending(directory: Path, urls: list[str]) -> None:
    """Retry queued requests to TSAs still configured (a late token still bounds the time)."""
    for pending in sorted(directory.glob("head-*.pending")):
        try:
            url = json.loads(pending.read_text())["tsa_url"]
        except (OSError, ValueError, KeyError):
            continue
        anchor = directory / (pending.name.split(".", 1)[0] + ".json")
        if url in urls and anchor.exists():
            _stamp(anchor, url)


def pending_requests(data_root: Path) -> list[Path]:
    """Chain-head time-stamp requests still queued: gaps in trusted time (for ``status``)."""
    return sorted(anchor_dir(data_root).glob("head-*.pending"))


@dataclass
class AnchorCheck:
    anchors: int = 0
    tokens_valid: int = 0
    problems: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    by_tsa: dict[str, Counter[str]] = field(default_factory=dict)
    """Per TSA (the token name's slug of its URL): how many tokens were valid, untrusted…"""

    def tally(self, token_name: str, outcome: str) -> None:
        tsa = token_name.rsplit(".", 2)[-2] if token_name.count(".") >= 2 else token_name
        self.by_tsa.setdefault(tsa, Counter())[outcome] += 1

    def per_tsa(self) -> list[str]:
        """One line per TSA: every token reported, whether or not it was needed."""
        return [
            f"TSA {tsa}: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            for tsa, counts in sorted(self.by_tsa.items())
        ]


def check_one(
    out: AnchorCheck,
    name: str,
    body_bytes: bytes,
    tokens: list[tuple[str, bytes]],
    events: dict[int, tuple[str, datetime]],
    tsa_roots: frozenset[str],
    roots_pem: bytes,
) -> None:
    """One anchor against the chain ``events`` (seq -> hash, at), and each of its tokens."""
    out.anchors += 1
    try:
        body = json.loads(body_bytes)
        seq, anchored_hash = int(body["seq"]), str(body["hash"])
    except (ValueError, KeyError, TypeError):
        out.problems.append(f"{name}: not a custody anchor")
        return
    stored = events.get(seq)
    if stored is None:
        out.problems.append(f"{name}: custody event {seq} is missing")
        return
    if stored[0] != anchored_hash:
        out.problems.append(
            f"{name}: custody event {seq} has hash {stored[0][:16]}…, but "
            f"{anchored_hash[:16]}… was anchored: the history up to event {seq} was rewritten"
        )
    valid = 0
    for token_name, token in tokens:
        check = verify_response(token, body_bytes, roots_pem or None)
        if not check.ok:
            out.lines.append(f"{token_name}: INVALID ({check.reason})")
            out.tally(token_name, "INVALID")
            continue
        if not tsa_roots:
            out.lines.append(f"{token_name}: well-formed, NOT trusted (no TSA root configured)")
            out.tally(token_name, "NOT trusted (no TSA root configured)")
            continue
        if check.root_fingerprint not in tsa_roots:
            out.lines.append(f"{token_name}: root {check.root_fingerprint[:16]}… not trusted")
            out.tally(token_name, f"under root {check.root_fingerprint[:16]}…, not trusted")
            continue
        assert check.gen_time is not None
        lag = check.gen_time - stored[1]
        if lag < -timedelta(seconds=1):
            out.problems.append(f"{token_name}: token time precedes event {seq}")
            out.tally(token_name, "FAILED")
            continue
        if lag > MAX_TOKEN_LAG:
            out.problems.append(
                f"{token_name}: stamped {check.gen_time:%Y-%m-%dT%H:%M:%SZ}, {lag} after "
                f"event {seq}: re-stamped later?"
            )
            out.tally(token_name, "FAILED")
            continue
        valid += 1
        out.tally(token_name, "valid")
        out.lines.append(f"{token_name}: valid, {check.gen_time:%Y-%m-%dT%H:%M:%SZ}")
    if valid:
        out.tokens_valid += 1
    else:
        out.gaps.append(f"{name}: event {seq} has no valid token under a trusted root")


def check_anchors(
    events: dict[int, tuple[str, datetime]],
    data_root: Path,
    tsa_roots: frozenset[str],
    roots_pem: bytes,
) -> AnchorCheck:
    """Each anchor file against the store's chain; each token under the trusted TSA roots.

    One valid token per anchor suffices; every token is reported.
    """
    out = AnchorCheck()
    directory = anchor_dir(data_root)
    for path in sorted(directory.glob("head-*.json")):
        tokens = [(t.name, t.read_bytes()) for t in sorted(directory.glob(f"{path.stem}.*.tsr"))]
        check_one(out, path.name, path.read_bytes(), tokens, events, tsa_roots, roots_pem)
        for pending in sorted(directory.glob(f"{path.stem}.*.pending")):
            out.gaps.append(f"{pending.name}: time-stamp request still queued (TSA unreachable)")
    return out
