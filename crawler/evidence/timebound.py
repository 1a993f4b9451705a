"""How closely trusted time bounds each capture: token time minus WARC-Date, per file.

A token over a WARC file's manifest proves its records existed no later than
the token's time; the WARC-Date only claims when they were captured. With
``ADARCHIVE_WARC_MAX_AGE_MINUTES`` a file is closed and stamped soon after its
oldest capture, so the gap between the two is small. Export (VERIFY.txt) and
``verify`` both compute the gap here, from the tokens and the capture dates,
and state a bound only when every capture in the bundle is covered by a token
within it: never from the setting alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class FileGap:
    """One source WARC file: its captures in the bundle and the time its token gives."""

    name: str
    captures: int
    oldest: datetime
    newest: datetime
    stamped_at: datetime | None
    """The token's genTime; None: no (trusted) token for this file."""

    @property
    def gap(self) -> timedelta | None:
        """Worst case: the oldest capture's distance from the token."""
        return None if self.stamped_at is None else self.stamped_at - self.oldest

    def describe(self) -> str:
        if self.stamped_at is None:
            return f"{self.name}: {self.captures} captures, no trusted time-stamp"
        gap = self.gap
        assert gap is not None
        if self.newest > self.stamped_at:
            return (
                f"{self.name}: a capture dated {_at(self.newest)} is AFTER its token "
                f"({_at(self.stamped_at)}): the dates contradict the token"
            )
        return (
            f"{self.name}: {self.captures} captures {_at(self.oldest)} to {_at(self.newest)}, "
            f"time-stamped {_at(self.stamped_at)}, worst-case gap {duration(gap)}"
        )


@dataclass(frozen=True)
class TimeBound:
    files: tuple[FileGap, ...]
    minutes: float
    """The bound claimed: ADARCHIVE_WARC_MAX_AGE_MINUTES (or ``verify --time-bound``)."""

    @property
    def worst(self) -> FileGap | None:
        stamped = [f for f in self.files if f.gap is not None]
        return max(stamped, key=lambda f: f.gap or timedelta(0), default=None)

    @property
    def contradictions(self) -> list[FileGap]:
        return [f for f in self.files if f.stamped_at is not None and f.newest > f.stamped_at]

    @property
    def holds(self) -> bool:
        """Every capture covered by a token no later than ``minutes`` after it."""
        limit = timedelta(minutes=self.minutes)
        return bool(self.files) and all(
            f.gap is not None and f.gap <= limit and f.newest <= (f.stamped_at or f.newest)
            for f in self.files
        )

    def statement(self) -> str:
        """One sentence, true as written."""
        worst = self.worst
        if self.holds and worst is not None:
            return (
                f"every capture in this bundle was time-stamped within "
                f"{_minutes(self.minutes)} of its capture (worst case {duration(worst.gap)}, "
                f"{worst.name})"
            )
        unstamped = [f for f in self.files if f.stamped_at is None]
        if not self.files:
            return "no captures to bound"
        if unstamped:
            count = sum(f.captures for f in unstamped)
            return (
                f"NOT every capture is bounded by trusted time: {count} capture(s) in "
                f"{len(unstamped)} file(s) have no trusted time-stamp"
            )
        if self.contradictions:
            return "capture dates contradict their time-stamps (see the file lines)"
        assert worst is not None
        return (
            f"captures were time-stamped up to {duration(worst.gap)} after capture "
            f"({worst.name}): NOT within {_minutes(self.minutes)}"
        )


def compute(
    captures: Iterable[tuple[str, datetime]],
    stamped_at: Mapping[str, datetime],
    minutes: float,
) -> TimeBound:
    """``captures``: (source WARC name, WARC-Date) per captured record in the bundle;
    ``stamped_at``: trusted token time per source WARC name."""
    spans: dict[str, tuple[datetime, datetime, int]] = {}
    for name, when in captures:
        when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # store: naive UTC
        oldest, newest, count = spans.get(name, (when, when, 0))
        spans[name] = (min(oldest, when), max(newest, when), count + 1)
    files = tuple(
        FileGap(name, count, oldest, newest, stamped_at.get(name))
        for name, (oldest, newest, count) in sorted(spans.items())
    )
    return TimeBound(files, minutes)


def duration(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = delta.total_seconds()
    if abs(seconds) < 120:
        return f"{seconds:.3f} s"
    return f"{seconds / 60:.1f} min"


def _minutes(minutes: float) -> str:
    if minutes >= 1 and float(minutes).is_integer():
        return f"{int(minutes)} minute{'s' if minutes != 1 else ''}"
    return f"{minutes * 60:g} seconds"


def _at(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
