"""Search adverts by photo: the uploaded image's pHash against every stored image's.

The upload is hashed exactly as the crawl hashes advert images
(:func:`crawler.analysis.phash.image_facts`: the same 64-bit pHash, the same
decompression-bomb guard), and looked up in the same multi-index the analysis
uses to link adverts by image (:class:`crawler.analysis.phash.PhashIndex`).
The upload itself is never stored: only its SHA-256 and pHash go into the
audit trail.

The index of stored pHashes is kept in memory, one per server, and extended
when new images appear (images never change their hash).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.analysis.phash import ImageDecodeError, PhashIndex, image_facts
from crawler.store.models import AdImage, Image


class PhotoError(ValueError):
    """An upload that cannot be searched by; the message is one line for the searcher."""


@dataclass(frozen=True)
class Photo:
    """What is kept of an upload: its digest and perceptual hash, never its bytes."""

    sha256: str
    phash: str
    width: int
    height: int


def hash_photo(data: bytes, max_bytes: int) -> Photo:
    """The facts of an uploaded image, or :class:`PhotoError` saying why not."""
    if not data:
        raise PhotoError("no photo was uploaded")
    if len(data) > max_bytes:
        raise PhotoError(f"the photo is larger than {max_bytes // (1024 * 1024)} MiB")
    try:
        phash, width, height = image_facts(data)
    except ImageDecodeError as exc:
        raise PhotoError(
            f"the upload is not an image that can be read (JPEG, PNG, GIF, WebP...): {exc}"
        ) from None
    return Photo(hashlib.sha256(data).hexdigest(), phash, width, height)


def check_phash(value: str) -> str:
    """A pHash as given in a result page's link: 16 hex digits, lower-case."""
    value = value.strip().lower()
    if len(value) != 16 or any(c not in "0123456789abcdef" for c in value):
        raise PhotoError("a photo search needs a pHash of 16 hexadecimal digits")
    return value


class PhotoIndex:
    """Every stored image's pHash in a :class:`PhashIndex`, extended as images arrive."""

    def __init__(self, max_distance: int) -> None:
        self.max_distance = max_distance
        self._index = PhashIndex(max_distance)
        self._seen = 0  # highest image id indexed
        self._lock = threading.Lock()

    def _catch_up(self, session: Session) -> None:
        newest = session.scalar(select(func.max(Image.id))) or 0
        if newest <= self._seen:
            return
        with self._lock:
            rows = session.execute(
                select(Image.id, Image.phash)
                .where(Image.id > self._seen, Image.phash.is_not(None))
                .order_by(Image.id)
            ).all()
            for image_id, phash in rows:
                self._index.add(image_id, phash)
            self._seen = max(self._seen, newest)

    def near(self, session: Session, phash: str) -> dict[int, int]:
        """Adverts with an image within the distance of ``phash``: advert id -> nearest distance."""
        self._catch_up(session)
        with self._lock:
            images = {int(k): d for k, d in self._index.near(phash).items()}  # type: ignore[call-overload]
        if not images:
            return {}
        found: dict[int, int] = {}
        for ad_id, image_id in session.execute(
            select(AdImage.ad_id, AdImage.image_id).where(AdImage.image_id.in_(sorted(images)))
        ):
            distance = images[image_id]
            found[ad_id] = min(distance, found.get(ad_id, distance))
        return found
