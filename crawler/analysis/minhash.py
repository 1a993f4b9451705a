"""MinHash signatures of character shingles, computed for many texts at once.

The permutations, the hash scheme (``affine32``) and the LSH index are
datasketch's; only the shingle hashing is ours, vectorised with numpy over a
whole batch of texts (datasketch hashes one shingle per Python call, which
is the bottleneck at a million adverts). Signatures are therefore ordinary
datasketch ``LeanMinHash`` values: ``jaccard`` and ``MinHashLSH`` work on
them unchanged, and they are stable across processes (stored in the store
so a later ``analyze`` does not recompute them).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

# Defined with the configuration (reading it loads no datasketch); re-exported here.
from crawler.analysis.analysis_config import SIGNATURE_SCHEME as SCHEME
from crawler.analysis.analysis_config import SignatureParams

DEFAULT_PARAMS = SignatureParams()
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_BASE = np.uint64(0x100000001B3)
_F1 = np.uint32(0x85EBCA6B)
_F2 = np.uint32(0xC2B2AE35)


def _fmix32(hv: np.ndarray) -> np.ndarray:
    # MurmurHash3's finaliser, as datasketch applies it to every input hash.
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * _F1
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * _F2
    return hv ^ (hv >> np.uint32(16))


class Signer:
    """Turns normalised texts into MinHash signature rows (uint32, ``num_perm`` wide)."""

    def __init__(self, params: SignatureParams = DEFAULT_PARAMS) -> None:
        self.params = params
        perm_a, perm_b = MinHash(
            num_perm=params.num_perm, seed=params.seed, scheme=SCHEME
        ).permutations
        self._a = np.asarray(perm_a, dtype=np.uint32)
        self._b = np.asarray(perm_b, dtype=np.uint32)

    def shingle_hashes(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Unique 32-bit hashes of each text's character k-grams: (hashes, start offset per text).

        A text shorter than k yields one shingle (itself); an empty text none.
        """
        k = self.params.shingle
        codes = [np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32) for t in texts]
        lengths = np.fromiter((len(c) for c in codes), dtype=np.int64, count=len(codes))
        if len(codes) == 0 or lengths.sum() == 0:
            return np.zeros(0, np.uint32), np.zeros(len(codes) + 1, np.int64)
        flat = np.concatenate(codes).astype(np.uint64)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        n = flat.size
        # Polynomial hash of every window of k code points, with uint64 wrap-around.
        acc = np.zeros(n, dtype=np.uint64)
        for j in range(k):
            shifted = np.zeros(n, dtype=np.uint64)
            shifted[: n - j] = flat[j:]
            acc = acc * _BASE + shifted + np.uint64(1)
        acc ^= acc >> np.uint64(33)
        acc *= _M1
        acc ^= acc >> np.uint64(33)
        acc *= _M2
        acc ^= acc >> np.uint64(33)
        doc = np.repeat(np.arange(len(codes), dtype=np.uint64), lengths)
        pos = np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)
        full = pos + k <= np.repeat(lengths, lengths)
        short = (pos == 0) & (np.repeat(lengths, lengths) < k)
        if short.any():  # a text shorter than k: one shingle of its whole length
            acc[short] = [_short_hash(texts[int(i)]) for i in doc[short]]
        keep = full | short
        keyed = (doc[keep] << np.uint64(32)) | (acc[keep] & np.uint64(0xFFFFFFFF))
        keyed.sort()
        if keyed.size > 1:
            keyed = keyed[np.concatenate(([True], keyed[1:] != keyed[:-1]))]
        owner = (keyed >> np.uint64(32)).astype(np.int64)
        offsets = np.searchsorted(owner, np.arange(len(codes) + 1), side="left")
        return (keyed & np.uint64(0xFFFFFFFF)).astype(np.uint32), offsets

    def signatures(self, texts: Sequence[str], batch: int = 256) -> np.ndarray:
        """One row of ``num_perm`` uint32 minima per text (all 0xFFFFFFFF for an empty text)."""
        rows = np.full((len(texts), self.params.num_perm), 0xFFFFFFFF, dtype=np.uint32)
        for lo in range(0, len(texts), batch):
            part = texts[lo : lo + batch]
            hashes, offsets = self.shingle_hashes(part)
            if hashes.size == 0:
                continue
            # datasketch affine32: fmix32(h) * a + b  (mod 2^32), minimum per permutation.
            permuted = self._a[:, None] * _fmix32(hashes)[None, :]
            permuted += self._b[:, None]
            nonempty = offsets[:-1] < offsets[1:]
            idx = np.flatnonzero(nonempty)
            mins = np.minimum.reduceat(permuted, offsets[idx], axis=1)
            rows[lo + idx] = mins.T
        return rows

    def lean(self, row: np.ndarray) -> LeanMinHash:
        """A datasketch LeanMinHash for one signature row."""
        return LeanMinHash(seed=self.params.seed, hashvalues=row, scheme=SCHEME)


def _short_hash(text: str) -> int:
    """The shingle hash of a whole text shorter than k (same mixing, plain Python ints)."""
    mask = (1 << 64) - 1
    acc = 0
    for ch in text:
        acc = (acc * int(_BASE) + ord(ch) + 1) & mask
    acc ^= acc >> 33
    acc = (acc * int(_M1)) & mask
    acc ^= acc >> 33
    acc = (acc * int(_M2)) & mask
    return acc ^ (acc >> 33)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The MinHash estimate of the Jaccard similarity of two signature rows."""
    return float(np.count_nonzero(a == b)) / a.size


class TextIndex:
    """A datasketch ``MinHashLSH`` over signature rows, keyed by integer ids.

    Candidates come from LSH band collisions and are then checked against the
    Jaccard threshold with the signatures themselves, so what is reported is
    an estimated Jaccard ≥ threshold, not just a shared band.
    """

    def __init__(self, signer: Signer, threshold: float) -> None:
        self.signer = signer
        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=signer.params.num_perm)
        self.rows: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, key: int, row: np.ndarray) -> None:
        if key in self.rows or _empty(row):
            return
        self.rows[key] = row
        self.lsh.insert(key, self.signer.lean(row), check_duplication=False)

    def candidates(self, row: np.ndarray) -> list[int]:
        if _empty(row):
            return []
        return self.lsh.query(self.signer.lean(row))

    def similar(self, key: int, row: np.ndarray) -> Iterator[tuple[int, float]]:
        """(other key, estimated Jaccard) for indexed texts at or above the threshold."""
        for other in self.candidates(row):
            if other == key:
                continue
            score = estimated_jaccard(row, self.rows[other])
            if score >= self.threshold:
                yield other, score


def _empty(row: np.ndarray) -> bool:
    return bool(row[0] == 0xFFFFFFFF and (row == 0xFFFFFFFF).all())


def signature_bytes(row: np.ndarray) -> bytes:
    return np.asarray(row, dtype="<u4").tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4").copy()
