"""SHA-256 digests in the two spellings the project uses.

The store keeps lower-case hex (what ``sha256sum`` prints); WARC headers carry
``sha256:<BASE32>`` as warcio writes them. Both name the same 32 bytes, and
these helpers convert between them so either side can be checked independently.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from pathlib import Path

PREFIX = "sha256:"
_CHUNK = 1024 * 1024


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=64)
def hex_to_warc(hex_digest: str) -> str:
    """``<hex>`` -> ``sha256:<BASE32>`` (the WARC header form warcio writes).

    Cached: a metadata record's block and payload digests are the same, and
    every GET's request payload is the empty string's."""
    raw = bytes.fromhex(hex_digest)
    if len(raw) != 32:
        raise ValueError(f"not a SHA-256 digest: {hex_digest!r}")
    return PREFIX + base64.b32encode(raw).decode("ascii")


def warc_to_hex(warc_digest: str) -> str:
    """``sha256:<BASE32>`` (or ``sha256:<hex>``) -> lower-case hex.

    Other tools write SHA-256 WARC digests in hex, so both encodings are read.
    """
    algorithm, sep, value = warc_digest.strip().partition(":")
    if not sep or algorithm.lower() not in ("sha256", "sha-256"):
        raise ValueError(f"not a SHA-256 WARC digest: {warc_digest!r}")
    if len(value) == 64:
        raw = bytes.fromhex(value)
    else:
        raw = base64.b32decode(value.upper() + "=" * (-len(value) % 8))
    if len(raw) != 32:
        raise ValueError(f"not a SHA-256 WARC digest: {warc_digest!r}")
    return raw.hex()


def secret_digest(value: bytes | str) -> str:
    """What a request record shows instead of a secret: ``sha256:<hex>`` of the value.

    Hex (not base32) so an investigator can recompute it with ``sha256sum``.
    """
    data = value.encode("latin-1") if isinstance(value, str) else value
    return PREFIX + sha256_hex(data)


def file_sha256(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
