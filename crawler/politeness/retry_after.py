"""``Retry-After`` parsing and capped exponential backoff (pure functions)."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime


def parse_retry_after(value: str | bytes | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date.

    Returns None when the header is absent or unreadable (the caller then
    backs off on its own schedule); a date in the past means 0.
    """
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(attempt: int, retry_after: float | None, base: float, cap: float) -> float:
    """How long to pause a site after its ``attempt``-th refusal in a row (1-based).

    Exponential (``base * 2**(attempt-1)``), never shorter than what the site
    asked for, never longer than ``cap``.
    """
    exponential = base * (2 ** max(0, attempt - 1))
    wanted = max(exponential, retry_after or 0.0)
    return min(cap, wanted)
