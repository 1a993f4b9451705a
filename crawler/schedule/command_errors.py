"""One-line errors for this package's (and crawler.scale's) commands.

``crawler.cli.entry.main`` prints the errors it knows as ``adarchive: error: …``
(exit status 2). The commands here report their own mistakes the same way, so
that the operations layer's error types (schedule, watchlist, scale) need not
be listed by the CLI above them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from crawler.errors import UserError

EXIT_USER_ERROR = 2


class CommandError(ValueError):
    """A mistake in a command's arguments; the message is one line."""


def user_facing(func: Callable[[Any], int]) -> Callable[[Any], int]:
    """Print ScheduleError / WatchError / ScaleError / CommandError as one line, exit 2."""

    @functools.wraps(func)
    def wrapper(args: Any) -> int:
        try:
            return func(args)
        except Exception as exc:
            if not isinstance(exc, _user_errors()):
                raise
            print(f"adarchive: error: {exc}", file=sys.stderr)
            return EXIT_USER_ERROR

    return wrapper


def _user_errors() -> tuple[type[Exception], ...]:
    # Imported once something went wrong, not before every command: the identifier
    # syntax's module loads the whole extractor (phonenumbers), 0.05 s of CPU, which
    # `status` or `schedule list` never need. A raised error's module is loaded already.
    from crawler.extract.argument import IdentifierError
    from crawler.scale.worker_settings import ScaleError
    from crawler.schedule.intervals import ScheduleError
    from crawler.schedule.watchlist import WatchError

    return (ScheduleError, WatchError, ScaleError, CommandError, UserError, IdentifierError)
