"""One-line errors for this package's (and crawler.scale's) commands.

``crawler.cli.main`` prints the errors it knows as ``adarchive: error: …``
(exit status 2). When the CLI runs as ``python -m crawler.cli`` its
``UserError`` is ``__main__.UserError``, not the ``crawler.cli.UserError`` a
feature module can import, so the commands here report their own mistakes the
same way instead of relying on the CLI's list.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

EXIT_USER_ERROR = 2


class CommandError(ValueError):
    """A mistake in a command's arguments; the message is one line."""


def user_facing(func: Callable[[Any], int]) -> Callable[[Any], int]:
    """Print ScheduleError / WatchError / ScaleError / CommandError as one line, exit 2."""

    @functools.wraps(func)
    def wrapper(args: Any) -> int:
        from crawler.cli import UserError
        from crawler.extract.argument import IdentifierError
        from crawler.scale.config import ScaleError
        from crawler.schedule.intervals import ScheduleError
        from crawler.schedule.watchlist import WatchError

        try:
            return func(args)
        except (
            ScheduleError,
            WatchError,
            ScaleError,
            CommandError,
            UserError,
            IdentifierError,
        ) as exc:
            print(f"adarchive: error: {exc}", file=sys.stderr)
            return EXIT_USER_ERROR

    return wrapper
