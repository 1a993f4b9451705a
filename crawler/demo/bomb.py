"""Decompression bombs for the hostile fixture platforms, built in well under a second.

Compressing a gigabyte of zeros with zlib took the hostile browser site
about 50 s on a busy two-core machine, inside the request that asked for it:
a page reading the bomb waited for the fixture, not for the crawler's
limits. Here one block of zeros is compressed once; after a full flush the
compressor has forgotten its history, so every further block compresses to
the same bytes and is repeated, not recomputed. The gzip trailer's CRC-32 of
the zeros is computed without reading them (the CRC of a zero byte is a
linear map, raised to the length's power by squaring).
"""

from __future__ import annotations

import struct
import zlib

BLOCK = 1 << 20
_POLY = 0xEDB88320  # CRC-32 (IEEE), bit-reflected, as gzip uses it
_GZIP_HEADER = b"\x1f\x8b\x08\x00" + bytes(4) + b"\x02\xff"  # deflate, no name, best, OS unknown


def _apply(matrix: list[int], vector: int) -> int:
    result, bit = 0, 0
    while vector:
        if vector & 1:
            result ^= matrix[bit]
        vector >>= 1
        bit += 1
    return result


def zeros_crc32(length: int) -> int:
    """The CRC-32 of ``length`` zero bytes (as ``zlib.crc32(bytes(length))``), without them."""
    # One zero bit shifts the register right, folding the polynomial in when a 1 falls out.
    operator = [_POLY, *(1 << (i - 1) for i in range(1, 32))]
    register, bits = 0xFFFFFFFF, 8 * length
    while bits:
        if bits & 1:
            register = _apply(operator, register)
        operator = [_apply(operator, column) for column in operator]
        bits >>= 1
    return register ^ 0xFFFFFFFF


def gzip_zeros(inflated: int) -> bytes:
    """A gzip body of ``inflated`` zero bytes (rounded down to whole MiB), about 1/1000 the size."""
    blocks = max(1, inflated // BLOCK)
    zeros = bytes(BLOCK)
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    repeated = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH) if blocks > 1 else b""
    body = first + repeated * (blocks - 1) + comp.flush(zlib.Z_FINISH)
    size = blocks * BLOCK
    return _GZIP_HEADER + body + struct.pack("<II", zeros_crc32(size), size & 0xFFFFFFFF)


__all__ = ["gzip_zeros", "zeros_crc32"]
