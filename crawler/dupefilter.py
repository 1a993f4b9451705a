"""Scrapy's duplicate filter, remembering each request in 16 bytes (issue 21).

Scrapy's ``RFPDupeFilter`` keeps every request fingerprint of a crawl as a
``bytes`` object in a set, about 100 bytes a request that a long crawl never
gets back. :class:`CompactDupeFilter` filters exactly the same requests
(same fingerprinter, same ``JOBDIR`` file ``requests.seen`` for pausing and
resuming) but keeps a 16-byte digest of each fingerprint in a
:class:`~crawler.keyset.KeySet`: 32 to 64 bytes a request, no object each.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.dupefilters import RFPDupeFilter

from crawler.keyset import KeySet, digest_key

if TYPE_CHECKING:
    from scrapy import Request

_SIZE_BYTES = 2  # requests.seen: each fingerprint as a 2-byte big-endian length, then its bytes


def read_fingerprints(data: bytes) -> list[bytes]:
    """The fingerprints in a ``requests.seen`` file (Scrapy's format); a torn last one is left out."""
    found, at = [], 0
    while at + _SIZE_BYTES <= len(data):
        size = int.from_bytes(data[at : at + _SIZE_BYTES], "big")
        at += _SIZE_BYTES
        if at + size > len(data):
            break
        found.append(data[at : at + size])
        at += size
    return found


class CompactDupeFilter(RFPDupeFilter):
    def __init__(self, path: str | None = None, debug: bool = False, **kwargs: Any) -> None:
        super().__init__(None, debug, **kwargs)
        self.seen = KeySet()
        if path:
            # Open for the whole crawl (every new fingerprint is appended), closed by close().
            self.file = Path(path, "requests.seen").open("a+b")  # noqa: SIM115
            self.file.seek(0)
            self.seen.update(digest_key(fp) for fp in read_fingerprints(self.file.read()))

    def request_seen(self, request: Request) -> bool:
        fp = self.fingerprinter.fingerprint(request)
        if not self.seen.add(digest_key(fp)):
            return True
        if self.file:
            self.file.write(len(fp).to_bytes(_SIZE_BYTES, "big") + fp)
        return False
