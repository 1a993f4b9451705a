"""Perceptual hashes of advert images and a fast "within Hamming distance d" index.

A 64-bit pHash (imagehash) survives re-encoding, resizing and slight crops;
two pictures are "the same photo" when their hashes differ in at most ``d``
bits. The index splits each hash into four 16-bit chunks: by the pigeonhole
principle two hashes within ``d`` bits agree on some chunk up to ``d // 4``
bits, so only those chunk neighbours are compared, not every pair.
"""

from __future__ import annotations

import io
import itertools
import warnings
from collections import defaultdict
from collections.abc import Iterator

CHUNKS = 4
CHUNK_BITS = 16
# Decompression bombs: a tiny file that decodes to gigapixels. Adverts never need this.
MAX_PIXELS = 40_000_000


class ImageDecodeError(ValueError):
    """The bytes are not an image we can hash (or are too large to decode safely)."""


def image_facts(data: bytes) -> tuple[str, int, int]:
    """(pHash as 16 hex digits, width, height) of encoded image bytes."""
    import imagehash
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise ImageDecodeError(f"image of {width}x{height} pixels is too large")
                img.load()
                return str(imagehash.phash(img)), width, height
    except ImageDecodeError:
        raise
    except Exception as exc:  # PIL raises many types for hostile bytes
        raise ImageDecodeError(f"cannot decode image: {exc}".splitlines()[0]) from None


def hamming(a: str | int, b: str | int) -> int:
    """Bits in which two 64-bit hashes (hex strings or ints) differ."""
    x = int(a, 16) if isinstance(a, str) else a
    y = int(b, 16) if isinstance(b, str) else b
    return (x ^ y).bit_count()


def _chunks(value: int) -> list[int]:
    mask = (1 << CHUNK_BITS) - 1
    return [(value >> (CHUNK_BITS * i)) & mask for i in range(CHUNKS)]


def _neighbours(chunk: int, radius: int) -> Iterator[int]:
    yield chunk
    for r in range(1, radius + 1):
        for bits in itertools.combinations(range(CHUNK_BITS), r):
            flipped = chunk
            for bit in bits:
                flipped ^= 1 << bit
            yield flipped


class PhashIndex:
    """Multi-index over 64-bit pHashes, keyed by any hashable id."""

    def __init__(self, max_distance: int) -> None:
        if not 0 <= max_distance <= 32:
            raise ValueError("pHash max distance must be between 0 and 32 bits")
        self.max_distance = max_distance
        self.radius = max_distance // CHUNKS
        self.tables: list[defaultdict[int, list[tuple[object, int]]]] = [
            defaultdict(list) for _ in range(CHUNKS)
        ]
        self.size = 0

    def add(self, key: object, phash: str) -> None:
        value = int(phash, 16)
        for table, chunk in zip(self.tables, _chunks(value), strict=True):
            table[chunk].append((key, value))
        self.size += 1

    def near(self, phash: str) -> dict[object, int]:
        """Indexed keys within ``max_distance`` bits of ``phash``, with their distance."""
        value = int(phash, 16)
        found: dict[object, int] = {}
        for table, chunk in zip(self.tables, _chunks(value), strict=True):
            for probe in _neighbours(chunk, self.radius):
                for key, other in table.get(probe, ()):
                    if key in found:
                        continue
                    distance = (value ^ other).bit_count()
                    if distance <= self.max_distance:
                        found[key] = distance
        return found
