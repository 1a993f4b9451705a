"""Time-bound WARC files: with a TSA, no file holds a capture longer than N minutes.

Both sinks close and time-stamp a file once its oldest capture nears
``ADARCHIVE_WARC_MAX_AGE_MINUTES``, even when no record arrives (an idle crawl):
the in-process sink through a reactor timer, the evidence writer between
messages and whenever its input pauses. Every capture's time is then bounded
by a trusted token within N minutes (docs/evidence.md).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.archive.writer import RotatingWarcWriter

logger = logging.getLogger(__name__)


def warc_max_age(settings: Any) -> float | None:
    """Seconds a WARC file may hold a capture before it is closed and time-stamped.

    Only with a TSA configured: without one, closing early would bound nothing.
    """
    from crawler.evidence.anchor import tsa_urls

    if not tsa_urls(settings.get("ADARCHIVE_TSA_URL")):
        return None
    minutes = settings.getfloat("ADARCHIVE_WARC_MAX_AGE_MINUTES")
    if not minutes > 0:
        raise ValueError(f"ADARCHIVE_WARC_MAX_AGE_MINUTES must be more than 0 (got {minutes})")
    return minutes * 60


def start_rotation_timer(writer: RotatingWarcWriter) -> Any:
    """A reactor timer that closes ``writer``'s file once it is due, even if no record
    arrives (an idle crawl); returns the running LoopingCall, or None if not needed."""
    interval = writer.check_interval
    if interval is None:
        return None
    from twisted.internet import task

    timer = task.LoopingCall(writer.close_if_due)
    timer.start(interval, now=False).addErrback(
        lambda failure: logger.error("WARC rotation timer stopped: %s", failure.value)
    )
    return timer


__all__ = ["start_rotation_timer", "warc_max_age"]
