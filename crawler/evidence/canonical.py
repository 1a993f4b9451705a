"""RFC 8785 JSON Canonicalization Scheme (JCS).

Hashes over JSON only mean something if everyone serialises the same value to
the same bytes. JCS fixes that: no whitespace, object keys sorted by their
UTF-16 code units, strings with the minimal escapes, numbers as ECMAScript's
``Number.prototype.toString`` writes them. Any JCS implementation in any
language reproduces these bytes, so a court's expert can recompute our hashes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

MAX_SAFE_INTEGER = 2**53
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


class CanonicalError(ValueError):
    """A value JSON (or I-JSON, which JCS requires) cannot represent exactly."""


def canonical_json(value: Any) -> str:
    """The JCS text of ``value`` (dicts, lists/tuples, str, int, float, bool, None)."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def canonical_bytes(value: Any) -> bytes:
    """The JCS serialisation as UTF-8: the bytes that get hashed."""
    return canonical_json(value).encode("utf-8")


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(escape_string(value))
    elif isinstance(value, int):
        out.append(format_integer(value))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, Mapping):
        _write_object(value, out)
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise CanonicalError(f"cannot canonicalise {type(value).__name__}")


def _write_object(value: Mapping[Any, Any], out: list[str]) -> None:
    for key in value:
        if not isinstance(key, str):
            raise CanonicalError(f"object keys must be strings, not {type(key).__name__}")
    out.append("{")
    for i, key in enumerate(sorted(value, key=_utf16_key)):
        if i:
            out.append(",")
        out.append(escape_string(key))
        out.append(":")
        _write(value[key], out)
    out.append("}")


def _utf16_key(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as the sequence of code units.
    return key.encode("utf-16-be", "surrogatepass")


def escape_string(text: str) -> str:
    """A JSON string literal with only the escapes JCS allows (RFC 8785 §3.2.2.2)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise CanonicalError(f"lone surrogate U+{code:04X} is not valid I-JSON")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def format_integer(value: int) -> str:
    """An integer, which must survive the trip through an IEEE double unchanged."""
    if abs(value) > MAX_SAFE_INTEGER:
        raise CanonicalError(f"integer {value} is outside the exact range of I-JSON numbers")
    return str(value)


def format_number(value: float) -> str:
    """ECMAScript Number.prototype.toString (ECMA-262 Number::toString), as JCS requires."""
    if math.isnan(value) or math.isinf(value):
        raise CanonicalError(f"{value} is not a JSON number")
    if value == 0:
        return "0"  # also for -0
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digit string that round-trips, as ECMAScript requires.
    digits, exponent = _shortest_digits(abs(value))
    k = len(digits)
    n = exponent + k  # the decimal point sits after n digits
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body


def _shortest_digits(value: float) -> tuple[str, int]:
    """(significant digits without leading/trailing zeros, exponent) with value = digits × 10^exp."""
    text = repr(value)
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    exponent -= len(fraction)
    stripped = digits.lstrip("0")
    trailing = len(stripped) - len(stripped.rstrip("0"))
    stripped = stripped.rstrip("0")
    return stripped, exponent + trailing
