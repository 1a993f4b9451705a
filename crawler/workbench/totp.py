"""RFC 6238 time-based one-time passwords: the six-digit codes of authenticator apps.

A few lines of :mod:`hmac` instead of a dependency: HOTP (RFC 4226) over the
number of 30-second steps since the Unix epoch, HMAC-SHA-1, six digits, which
is what every authenticator app reads from an ``otpauth://`` URI. A code of
the step before or after the current one is accepted too (clocks drift); the
caller refuses a step already used (:mod:`crawler.workbench.secondfactor`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

STEP = 30
"""Seconds a code lives (RFC 6238's default, what authenticator apps assume)."""
DIGITS = 6
DRIFT_STEPS = 1
"""Codes of this many steps before and after now are accepted (clock drift)."""
ISSUER = "adarchive"
SECRET_BYTES = 20
"""160 bits: RFC 4226's recommended key length for HMAC-SHA-1."""


class TotpError(ValueError):
    """A secret that is not base32, or a code that is not digits; one line."""


def new_secret() -> str:
    """A fresh random secret, base32 without padding (as authenticator apps take it)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    text = secret.strip().replace(" ", "").upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (ValueError, binascii.Error) as exc:
        raise TotpError(f"not a base32 secret: {exc}") from None


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226: the code for ``counter`` (dynamic truncation of the HMAC)."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def step_at(when: float) -> int:
    return int(when // STEP)


def code_at(secret: str, when: float | None = None) -> str:
    """The code an authenticator app shows at ``when`` (default: now)."""
    return hotp(_key(secret), step_at(time.time() if when is None else when))


def matching_step(secret: str, code: str, when: float | None = None) -> int | None:
    """The time step whose code ``code`` is (now, or one step either side), else None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    key = _key(secret)
    now = step_at(time.time() if when is None else when)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        # Compare every candidate, so the time taken does not say which one matched.
        if hmac.compare_digest(hotp(key, step), code):
            found = step
    return found


def provisioning_uri(secret: str, account: str, issuer: str = ISSUER) -> str:
    """``otpauth://totp/ISSUER:ACCOUNT?secret=…``: what an app reads (typed, or as a QR code)."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1",
                       "digits": DIGITS, "period": STEP})  # fmt: skip
    return f"otpauth://totp/{label}?{query}"
