"""A set of 128-bit keys in two flat arrays: what a crawl remembers per URL, compactly.

A crawl remembers every request it has made (Scrapy's duplicate filter) and
every detail page it has queued (the spider), so these sets grow with the
crawl (issue 21). A Python set of digests costs about 100 bytes a key (a
``bytes`` object of 53 bytes and its share of the hash table); a set of URL
strings about twice that. :class:`KeySet` keeps each key as two unsigned
64-bit integers in open-addressed ``array('Q')`` tables (linear probing,
a quarter to half full): 32 to 64 bytes a key, with no object per key.

Keys are 16-byte digests (:func:`digest_key`). Two different URLs share a
key with probability about n²/2¹²⁹: for a billion URLs, 10⁻²¹.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable

_EMPTY = 0  # a slot whose two halves are both 0 is free; the all-zero key is kept aside
_MIN = 16


def digest_key(data: bytes | str) -> bytes:
    """A 16-byte key for a (canonical) URL or a request fingerprint of any length."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()


class KeySet:
    """A set of 16-byte keys (:func:`digest_key`)."""

    __slots__ = ("_hi", "_lo", "_mask", "_used", "_zero")

    def __init__(self) -> None:
        self._hi = array("Q", bytes(8 * _MIN))
        self._lo = array("Q", bytes(8 * _MIN))
        self._mask = _MIN - 1
        self._used = 0
        self._zero = False

    @staticmethod
    def _split(key: bytes) -> tuple[int, int]:
        if len(key) != 16:
            raise ValueError(f"a key has 16 bytes, not {len(key)}")
        return int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")

    def _slot(self, hi: int, lo: int) -> int:
        """The slot holding (hi, lo), or the free slot where it would go."""
        hs, ls, mask = self._hi, self._lo, self._mask
        i = hi & mask
        while True:
            h, low = hs[i], ls[i]
            if (h == hi and low == lo) or (h == _EMPTY and low == _EMPTY):
                return i
            i = (i + 1) & mask

    def __len__(self) -> int:
        return self._used + self._zero

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, bytes):
            return False
        hi, lo = self._split(key)
        if hi == _EMPTY and lo == _EMPTY:
            return self._zero
        i = self._slot(hi, lo)
        return self._hi[i] == hi and self._lo[i] == lo

    def add(self, key: bytes) -> bool:
        """Add ``key``; True if it was not in the set."""
        hi, lo = self._split(key)
        if hi == _EMPTY and lo == _EMPTY:
            new = not self._zero
            self._zero = True
            return new
        i = self._slot(hi, lo)
        if self._hi[i] == hi and self._lo[i] == lo:
            return False
        self._hi[i], self._lo[i] = hi, lo
        self._used += 1
        if 2 * self._used > self._mask + 1:
            self._grow()
        return True

    def update(self, keys: Iterable[bytes]) -> None:
        for key in keys:
            self.add(key)

    def discard(self, key: bytes) -> None:
        """Remove ``key`` if present (backward-shift deletion keeps probing chains whole)."""
        hi, lo = self._split(key)
        if hi == _EMPTY and lo == _EMPTY:
            self._zero = False
            return
        hs, ls, mask = self._hi, self._lo, self._mask
        i = self._slot(hi, lo)
        if hs[i] == _EMPTY and ls[i] == _EMPTY:
            return
        j = i
        while True:
            j = (j + 1) & mask
            if hs[j] == _EMPTY and ls[j] == _EMPTY:
                break
            home = hs[j] & mask
            # The key at j may move back to i only if its home is not within (i, j].
            if (i < home <= j) if i <= j else (home > i or home <= j):
                continue
            hs[i], ls[i] = hs[j], ls[j]
            i = j
        hs[i] = ls[i] = _EMPTY
        self._used -= 1

    def _grow(self) -> None:
        old_hi, old_lo = self._hi, self._lo
        size = 2 * (self._mask + 1)
        self._hi = array("Q", bytes(8 * size))
        self._lo = array("Q", bytes(8 * size))
        self._mask = size - 1
        for hi, lo in zip(old_hi, old_lo, strict=True):
            if hi != _EMPTY or lo != _EMPTY:
                i = self._slot(hi, lo)
                self._hi[i], self._lo[i] = hi, lo
