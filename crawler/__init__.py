"""adarchive: a polite crawler and ad-archiving framework for counter-trafficking work."""

from __future__ import annotations

__version__ = "0.1.0"
