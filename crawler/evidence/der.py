"""Just enough DER to build an RFC 3161 request and read a time-stamp token.

A TimeStampReq is five small fields and a token is read-only for us, so a
tiny TLV encoder/decoder beats a general ASN.1 dependency. Only definite
lengths (DER) are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
BOOLEAN = 0x01
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
GENERALIZED_TIME = 0x18


class DerError(ValueError):
    """Bytes that are not the DER we expect."""


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes
    raw: bytes
    """The whole element (tag, length and value), e.g. to hash signed attributes."""

    def children(self) -> list[Tlv]:
        return parse_all(self.value)

    def integer(self) -> int:
        if self.tag != INTEGER:
            raise DerError(f"expected INTEGER, found tag 0x{self.tag:02x}")
        return int.from_bytes(self.value, "big", signed=True)

    def oid(self) -> str:
        if self.tag != OID:
            raise DerError(f"expected OBJECT IDENTIFIER, found tag 0x{self.tag:02x}")
        return decode_oid(self.value)


def parse_one(data: bytes, pos: int = 0) -> tuple[Tlv, int]:
    """The element at ``pos`` and the position after it."""
    if pos + 2 > len(data):
        raise DerError("truncated DER")
    start = pos
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("high-tag-number form is not used here")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("DER element runs past the end")
    return Tlv(tag, data[pos:end], data[start:end]), end


def parse_all(data: bytes) -> list[Tlv]:
    out, pos = [], 0
    while pos < len(data):
        item, pos = parse_one(data, pos)
        out.append(item)
    return out


def parse(data: bytes) -> Tlv:
    item, end = parse_one(data)
    if end != len(data):
        raise DerError("trailing bytes after DER element")
    return item


def encode(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + value


def encode_integer(value: int) -> bytes:
    size = max(1, (value.bit_length() + 8) // 8)  # room for the sign bit
    return encode(INTEGER, value.to_bytes(size, "big", signed=True))


def encode_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return encode(OID, bytes(body))


def decode_oid(value: bytes) -> str:
    if not value:
        raise DerError("empty OID")
    first = value[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    acc = 0
    for byte in value[1:]:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(acc)
            acc = 0
    return ".".join(map(str, parts))


def sequence(*items: bytes) -> bytes:
    return encode(SEQUENCE, b"".join(items))


def generalized_time(tlv: Tlv) -> datetime:
    """``YYYYMMDDhhmmss[.fff]Z`` -> aware UTC datetime."""
    if tlv.tag != GENERALIZED_TIME:
        raise DerError(f"expected GeneralizedTime, found tag 0x{tlv.tag:02x}")
    text = tlv.value.decode("ascii")
    if not text.endswith("Z"):
        raise DerError(f"GeneralizedTime without Z: {text!r}")
    main, _, fraction = text[:-1].partition(".")
    dt = datetime.strptime(main, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    if fraction:
        dt = dt.replace(microsecond=int((fraction + "000000")[:6]))
    return dt
