"""Replay WARC files in pywb, the independent tool a court expert would use.

The machinery is the package's (crawler/evidence/pywb_replay.py, which the exhibit
uses too); tests never install pywb: they fail with the command to run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from crawler.evidence.pywb_replay import (
    CHECKOUT_BIN,
    COLLECTION,
    INSTALL,
    Fetched,
    ReplayError,
    Wayback,
    find_pywb,
    free_port,
)
from crawler.evidence.pywb_replay import wayback as _wayback

PYWB_BIN = CHECKOUT_BIN
__all__ = ["COLLECTION", "Fetched", "INSTALL", "PYWB_BIN", "Wayback", "free_port", "wayback"]


def require_pywb() -> Path:
    """The pywb bin directory, or a test failure that says how to install it."""
    try:
        return find_pywb(str(PYWB_BIN))
    except ReplayError as exc:
        pytest.fail(str(exc))


@contextmanager
def wayback(warcs: Sequence[Path], root: Path) -> Iterator[Wayback]:
    """Index ``warcs`` into a fresh collection under ``root`` and serve it on loopback."""
    with _wayback(warcs, root, require_pywb()) as server:
        yield server
