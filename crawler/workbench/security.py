"""HTTP hardening that applies to every response and request of the workbench.

Security headers (a strict Content-Security-Policy: no script at all, styles
and images from this origin only), a cap on request bodies, and a refusal of
state-changing requests that a browser marks as coming from another site.
Per-form CSRF tokens are checked by :mod:`crawler.workbench.web`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cache-control", b"no-store"),
]
MAX_BODY = 1024 * 1024
"""Largest request body accepted (forms are small; an upload route names its own limit)."""
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class SecurityMiddleware:
    """Adds the headers, refuses oversized bodies (413) and cross-site writes (403)."""

    def __init__(
        self, app: ASGIApp, max_body: int = MAX_BODY, limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.limits = limits or {}
        """Larger limits for named paths (an upload route), checked the same way."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        if scope["method"] not in SAFE_METHODS:
            site = headers.get(b"sec-fetch-site", b"").decode("latin-1")
            if site and site not in ("same-origin", "none"):
                await _plain(send_with_headers, 403, "cross-site request refused")
                return
        limit = self.limits.get(scope["path"], self.max_body)
        too_large = f"request body too large (at most {limit // 1024} KiB)"
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _plain(send_with_headers, 413, too_large)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            await _plain(send_with_headers, 413, too_large)


class BodyTooLarge(Exception):
    """A streamed body passed the limit."""


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],  # fmt: skip
        }
    )
    await send({"type": "http.response.body", "body": body})
