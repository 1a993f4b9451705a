"""Names of custody events and of their subjects, shared by writers and verifiers.

The events of a crawl are written by :mod:`crawler.evidence.custody_listener`.
"""

from __future__ import annotations

CRAWL_STARTED = "crawl.started"
CRAWL_FINISHED = "crawl.finished"
WARC_CLOSED = "warc.closed"
WARC_TIMESTAMPED = "warc.timestamped"
WARC_TIMESTAMP_FAILED = "warc.timestamp_failed"
EXPORT_CREATED = "export.created"
EXPORT_WRITTEN = "export.written"
VERIFY_RUN = "verify.run"


def crawl_subject(crawl_id: int) -> str:
    return f"crawl:{crawl_id}"


def warc_subject(relative_path: str) -> str:
    return f"warc:{relative_path}"
