"""Signed, expiring replay links: who may replay which advert until when.

The replay origin cannot see the workbench's session (it is another host, so
the browser sends it no workbench cookie): what it serves is authorised by
the link itself. A token is ``base64url(claims) "." base64url(HMAC-SHA256)``
over the exact claim bytes; the claims name the advert, the user the link was
issued to and its expiry (Unix seconds), plus a random nonce so that two links
never coincide. Any change to a byte, a key the server does not hold, or a
time past the expiry makes :func:`verify` refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

MAX_TOKEN = 1024
"""Longer tokens are refused before any decoding (a user name is at most 64 characters)."""


class BadToken(ValueError):
    """A token that is malformed, forged, altered or expired; the message says which."""


@dataclass(frozen=True)
class Claims:
    ad_id: int
    user: str
    expires: int
    """Unix seconds."""
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, ad_id: int, user: str, expires: int) -> str:
    claims = {"ad": ad_id, "exp": expires, "n": secrets.token_urlsafe(9), "u": user}
    body = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8")
    mac = hmac.new(key, body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def verify(key: bytes, token: str, now: float) -> Claims:
    """The token's claims if ``key`` signed exactly these bytes and ``now`` is before expiry."""
    if len(token) > MAX_TOKEN or token.count(".") != 1:
        raise BadToken("malformed link")
    body_text, mac_text = token.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except ValueError:
        raise BadToken("malformed link") from None
    expected = hmac.new(key, body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise BadToken("signature does not match (forged or altered link)")
    try:
        claims = json.loads(body)
        result = Claims(int(claims["ad"]), str(claims["u"]), int(claims["exp"]), str(claims["n"]))
    except (ValueError, KeyError, TypeError):
        raise BadToken("malformed link") from None
    if now >= result.expires:
        raise BadToken("link expired")
    return result
