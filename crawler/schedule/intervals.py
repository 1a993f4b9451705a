"""When a schedule is next due: ``--every 6h`` intervals and ``--cron`` expressions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


class ScheduleError(ValueError):
    """A schedule the user wrote cannot be used; the message is one line."""


def parse_every(text: str) -> float:
    """``90s``, ``15m``, ``6h``, ``1d``, ``1h30m`` (or plain seconds) -> seconds."""
    value = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", value):
        seconds = float(value)
    else:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ScheduleError(
                f"--every expects a duration like 6h, 30m, 1d or 1h30m (got {text!r})"
            )
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ScheduleError(f"--every must be longer than zero (got {text!r})")
    return seconds


def check_cron(expression: str) -> str:
    """The expression if croniter accepts it (five fields, UTC), else a ScheduleError."""
    from croniter import croniter

    if not croniter.is_valid(expression):
        raise ScheduleError(f'not a cron expression: {expression!r} (e.g. "0 */6 * * *")')
    return expression


def next_after(
    after: datetime, every_seconds: float | None = None, cron: str | None = None
) -> datetime:
    """The first due time strictly after ``after`` (UTC)."""
    after = after if after.tzinfo else after.replace(tzinfo=UTC)
    if cron:
        from croniter import croniter

        value = croniter(cron, after.astimezone(UTC)).get_next(datetime)
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if every_seconds:
        return after + timedelta(seconds=every_seconds)
    raise ScheduleError("a schedule needs --every or --cron")


def describe(every_seconds: float | None, cron: str | None) -> str:
    """``every 6h`` / ``cron 0 */6 * * *`` for tables."""
    if cron:
        return f"cron {cron}"
    if every_seconds is None:
        return "-"
    return "every " + format_seconds(every_seconds)


def format_seconds(seconds: float) -> str:
    """``6h``, ``1h30m``, ``45s``, ``2.5s``: the shortest exact form."""
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:g}s"
    rest = int(round(seconds))
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"
