"""Small generated pictures for the fixture web, and their near-duplicate variants.

Each picture is abstract (gradient + shapes) and a few KB, so thousands fit in
memory. Variants (re-encoded, resized, slightly cropped) keep the look of the
original but change the bytes: what perceptual hashing must link and SHA-256
must not.
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 120, 160
VARIANT_KINDS = ("reencode", "resize", "crop")


@dataclass(frozen=True)
class Picture:
    """Encoded image bytes with their type and digest."""

    data: bytes
    content_type: str
    sha256: str

    @property
    def extension(self) -> str:
        return "png" if self.content_type == "image/png" else "jpg"


def _encode(img: Image.Image, fmt: str, quality: int = 80) -> Picture:
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, "PNG", optimize=False)
        ctype = "image/png"
    else:
        img.save(buf, "JPEG", quality=quality, optimize=False, progressive=False)
        ctype = "image/jpeg"
    data = buf.getvalue()
    return Picture(data, ctype, hashlib.sha256(data).hexdigest())


def draw(seed: str) -> Image.Image:
    """Draw the deterministic abstract picture named by ``seed``."""
    rng = random.Random(seed)
    top = tuple(rng.randrange(256) for _ in range(3))
    bottom = tuple(rng.randrange(256) for _ in range(3))
    img = Image.new("RGB", (WIDTH, HEIGHT))
    pen = ImageDraw.Draw(img)
    for y in range(HEIGHT):
        t = y / (HEIGHT - 1)
        pen.line(
            [(0, y), (WIDTH, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    for _ in range(rng.randint(3, 6)):
        x0, y0 = rng.randrange(WIDTH), rng.randrange(HEIGHT)
        x1, y1 = x0 + rng.randint(15, 60), y0 + rng.randint(15, 60)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            pen.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            pen.rectangle([x0, y0, x1, y1], fill=colour)
    return img


@lru_cache(maxsize=8192)
def original(seed: str, png: bool = False) -> Picture:
    """The original upload named by ``seed`` (JPEG unless ``png``)."""
    return _encode(draw(seed), "PNG" if png else "JPEG", quality=85)


def variant(seed: str, kind: str) -> Picture:
    """A near-duplicate of ``original(seed)``: same picture, different bytes."""
    img = draw(seed)
    if kind == "reencode":
        return _encode(img, "JPEG", quality=60)
    if kind == "resize":
        return _encode(
            img.resize((WIDTH * 3 // 4, HEIGHT * 3 // 4), Image.Resampling.LANCZOS), "JPEG"
        )
    if kind == "crop":
        return _encode(img.crop((4, 4, WIDTH - 4, HEIGHT - 6)), "JPEG", quality=85)
    raise ValueError(f"unknown variant kind {kind!r}")
