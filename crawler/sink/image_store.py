"""Images into the store: SHA-256 and pHash of each image's bytes, linked to its advert.

Each image gets a SHA-256 (exact reuse) and a 64-bit pHash (re-encoded /
resized copies); an image matching the agency's known-hash list
(``ADARCHIVE_KNOWN_HASHES``) is stored flagged, never shown. The images
pipeline fetches the images and hands their bytes to the sink.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crawler.analysis.knownhashes import KnownHashes
from crawler.analysis.phash import ImageDecodeError, image_facts
from crawler.store.models import Ad, AdImage, Capture, Image, Platform, value_sha256

if TYPE_CHECKING:
    from crawler.store.recorder import CrawlRecorder

logger = logging.getLogger(__name__)


def known_hashes(settings: Any) -> KnownHashes | None:
    """The agency's known-hash list (``ADARCHIVE_KNOWN_HASHES``), if one is set."""
    path = settings.get("ADARCHIVE_KNOWN_HASHES")
    if not path:
        return None
    distance = settings.get("ADARCHIVE_KNOWN_PHASH_DISTANCE")
    return KnownHashes.load(path, int(distance))


class ImageStore:
    """Hashes image bytes into ``image`` rows and points ``ad_image`` rows at them.

    Run by whichever sink stores the adverts (crawler/sink/evidence_sink.py): in the
    crawl's process or in the evidence writer process.
    """

    def __init__(self, recorder: CrawlRecorder, known: KnownHashes | None, stats: Any) -> None:
        self.recorder = recorder
        self.known = known
        self.stats = stats

    @classmethod
    def from_config(cls, recorder: CrawlRecorder, settings: dict, stats: Any) -> ImageStore:
        return cls(recorder, known_hashes(settings), stats)

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"adarchive/images/{key}")

    def ad_id_for(self, platform: str | None, external_id: str | None) -> int | None:
        session = self.recorder.session
        return session.scalar(
            select(Ad.id)
            .join(Platform, Platform.id == Ad.platform_id)
            .where(
                Platform.name == platform,
                Ad.external_id_sha256 == value_sha256(external_id or ""),
            )
        )

    def store_image(
        self, ad_id: int, url: str, data: bytes, capture_id: int | None, parent: int | None
    ) -> Image | None:
        """Hash the bytes, upsert the image, point the ad's image row at it."""
        session = self.recorder.session
        sha256 = hashlib.sha256(data).hexdigest()
        image = session.scalar(select(Image).where(Image.sha256 == sha256))
        if image is None:
            try:
                phash, width, height = image_facts(data)
            except ImageDecodeError as exc:
                self._inc("undecodable")
                logger.info("image %s not hashed: %s", url, exc)
                phash, width, height = None, None, None
            flagged = bool(self.known and self.known.match(sha256, phash))
            image = Image(sha256=sha256, phash=phash, width=width, height=height, flagged=flagged)
            session.add(image)
            session.flush()
            self._inc("stored")
            if flagged:
                self._inc("flagged")
        row = session.scalar(
            select(AdImage).where(AdImage.ad_id == ad_id, AdImage.url_sha256 == value_sha256(url))
        )
        if row is None:
            row = AdImage(ad_id=ad_id, url=url)
            session.add(row)
        row.image_id = image.id
        row.capture_id = capture_id
        if capture_id is not None and parent is not None:
            capture = session.get(Capture, capture_id)
            if capture is not None and capture.parent_capture_id is None:
                capture.parent_capture_id = parent
        session.flush()
        self.recorder.store.touch()
        return image
