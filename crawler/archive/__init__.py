"""WARC capture: raw bytes as received, SHA-256 digests, rotating files, capture rows.

``writer`` writes records and files, ``records`` turns a Scrapy exchange into
records, ``archive_middleware`` ties both to the crawl and the store,
``digests`` converts between the hex (store) and base32 (WARC header) digest spellings.
"""

from __future__ import annotations

from crawler.archive.digests import hex_to_warc, secret_digest, warc_to_hex
from crawler.archive.writer import (
    ClosedWarc,
    RecordSpec,
    RotatingWarcWriter,
    WrittenRecord,
)

__all__ = [
    "ClosedWarc",
    "RecordSpec",
    "RotatingWarcWriter",
    "WrittenRecord",
    "hex_to_warc",
    "secret_digest",
    "warc_to_hex",
]
