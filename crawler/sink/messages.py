"""The evidence sink's typed messages: what the crawl hands over, and what it gets back.

The same dataclasses are built by the crawl for both sinks (crawler/sink/evidence_sink.py);
the writer-process sink pickles them onto its pipe, one frame each
(:func:`encode_frame`), and the evidence writer (crawler/sink/evidence_writer.py)
dispatches them by type. Nothing here imports Scrapy's request or response
classes: an exchange is carried as the few facts the WARC records are built from.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

HEADER = struct.Struct(">I")
# Request meta the metadata record reads (crawler/archive/records.py).
RECORDED_META = ("adarchive_referer", "referer", "download_latency", "redirect_urls", "depth")
# The few settings read on the writer's side (TSA, known hashes, GC threshold, test hook).
WRITER_SETTINGS = (
    "ADARCHIVE_GC_THRESHOLD",
    "ADARCHIVE_TSA_URL",
    "ADARCHIVE_WARC_MAX_AGE_MINUTES",
    "ADARCHIVE_KNOWN_HASHES",
    "ADARCHIVE_KNOWN_PHASH_DISTANCE",
    "ADARCHIVE_EVIDENCE_WRITER_DELAY",
)


class WireHeaders:
    """An exchange's headers as they travelled: Scrapy's ``Headers.items()`` pairs (title-cased
    name, list of values), read as :func:`crawler.archive.records.build_exchange` reads Scrapy's
    ``Headers``: ``items()``, and ``get(name)`` of the last value in any letter case.

    Not Scrapy's class itself: importing it loads all of Scrapy (0.2 s of CPU) in every
    evidence writer process, which never needs anything else of it.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Any) -> None:
        self._items: list[tuple[bytes, list[bytes]]] = [(k, list(v)) for k, v in items]

    def items(self) -> list[tuple[bytes, list[bytes]]]:
        return list(self._items)

    def get(self, name: bytes | str, default: bytes | None = None) -> bytes | None:
        key = (name.encode("utf-8") if isinstance(name, str) else bytes(name)).title()
        for stored, values in self._items:
            if stored.title() == key:
                return values[-1] if values else None
        return default


class EvidenceWriterGone(RuntimeError):
    """The evidence writer process exited: what it was sent may not be on disk."""


@dataclass(frozen=True)
class PendingCapture:
    """What the crawl knows of a response capture the evidence writer is making."""

    record_id: str
    fetched_at: datetime
    url: str
    kind: str = "response"


@dataclass(frozen=True)
class WriterConfig:
    """Everything the evidence writer needs to record one crawler's evidence."""

    db_url: str
    data_root: str
    commit_every: int
    crawl_id: int | None
    platform: str
    platform_id: int | None
    warc_dir: str
    warc_prefix: str
    warc_max_size: int
    warcinfo: dict[str, Any]
    revisits: bool
    host: str
    pid: int
    """The crawl's host name and process id, for WARC file names (not the writer's)."""
    settings: dict[str, Any]
    """The values of :data:`WRITER_SETTINGS` in the crawl."""


@dataclass(eq=False)
class SentRequest:
    """What :func:`crawler.archive.records.build_exchange` reads of the request sent
    (a Scrapy request's constructor would re-check and re-escape the URL each time)."""

    method: str
    url: str
    headers: Any
    body: bytes
    meta: dict[str, Any]

    @classmethod
    def of(cls, request: Request) -> SentRequest:
        meta = request.meta
        recorded = {key: meta[key] for key in RECORDED_META if key in meta}
        return cls(
            request.method, request.url, list(request.headers.items()), request.body, recorded
        )

    def rebuilt(self) -> SentRequest:
        """With readable headers again (they travel as a plain list)."""
        return SentRequest(self.method, self.url, WireHeaders(self.headers), self.body, self.meta)


@dataclass(eq=False)
class ReceivedResponse:
    """What :func:`crawler.archive.records.build_exchange` reads of the response received."""

    url: str
    status: int
    headers: Any
    body: bytes
    ip_address: Any
    protocol: str | None
    flags: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, response: Response) -> ReceivedResponse:
        ip = response.ip_address
        return cls(
            response.url,
            response.status,
            list(response.headers.items()),
            response.body,
            str(ip) if ip is not None else None,
            response.protocol,
            list(response.flags),
        )

    def rebuilt(self) -> ReceivedResponse:
        ip = ip_address(self.ip_address) if self.ip_address else None
        return ReceivedResponse(
            self.url,
            self.status,
            WireHeaders(self.headers),
            self.body,
            ip,
            self.protocol,
            self.flags,
        )


@dataclass
class Exchange:
    """One request and its response as received, with pre-assigned record ids."""

    record_ids: tuple[str, str, str]
    """Response, request and metadata record ids (the response's is the capture's name)."""
    fetched_at: datetime
    request: SentRequest
    response: ReceivedResponse


@dataclass
class Advert:
    """One advert's fields (the item as a dict), naming its proof by capture."""

    fields: dict[str, Any]
    extract_identifiers: bool = False
    """Read the identifiers where it is stored (the extraction helper was not there)."""


@dataclass
class ImageFetched:
    """An advert's image as received, for the image and ad_image rows."""

    platform: str | None
    external_id: str | None
    url: str
    data: bytes
    capture: int | str | None
    """The image's own capture: a row id (in process) or a WARC record id (writer)."""
    parent: int | str | None
    """The advert page's capture: a row id or a record id."""


@dataclass
class OpenSink:
    """With ``answer``, answered with the key once the writer is ready for it."""

    key: int
    config: WriterConfig
    answer: bool = False


@dataclass
class CloseSink:
    """Answered with :class:`ChannelCounts` once the channel's evidence is committed."""

    key: int


@dataclass
class ChannelCounts:
    """What the writer tells the crawl at close: its crawler stats and advert counts."""

    stats: dict[str, int] = field(default_factory=dict)
    ads: dict[str, int] = field(default_factory=dict)


Message = OpenSink | CloseSink | Exchange | Advert | ImageFetched


def encode_frame(key: int, message: Any) -> bytes:
    """One length-prefixed frame: the channel's key and the message."""
    data = pickle.dumps((key, message), protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def encode_reply(reply: Any) -> bytes:
    data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data
