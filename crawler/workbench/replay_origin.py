"""The replay origin: ReplayWeb.page and one advert's archive, behind signed links.

A second ASGI application, served on its own listener and host name (see
:class:`ReplayConfig`), so that an archived page, whose scripts run in this
origin, can never read the workbench's cookies or call its pages. It serves
only three things:

- ``/r/<token>``: checks the link and sends the browser to ReplayWeb.page with
  the advert's archive as its source and the advert's page as the one shown;
- ``/a/<token>/advert.wacz``: the advert's archive (built on first use, see
  :mod:`crawler.evidence.replayarchive`), by HTTP Range requests as
  ReplayWeb.page reads it;
- ReplayWeb.page's static files (the build named by ``ADARCHIVE_REPLAYWEBPAGE_DIR``).

A forged, altered or expired link answers 403. Every open, every archive
fetch and every refusal is an event of the workbench's audit trail.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crawler.configuration import setting
from crawler.evidence.evidence_errors import ExportError
from crawler.evidence.replayarchive import advert_page, write_replay_archive
from crawler.workbench import audit
from crawler.workbench.replaytoken import BadToken, Claims, sign, verify

# `make tools` puts ReplayWeb.page here, next to the package in a source checkout.
CHECKOUT_BUILD = Path(__file__).resolve().parents[2] / ".tools" / "replaywebpage"
BUILD_FILES = ("index.html", "sw.js", "ui.js")
INSTALL = (
    "run `make tools` in the source checkout, or unpack ReplayWeb.page's published "
    "package (`npm pack replaywebpage@2.4.6`, then `tar xzf` it) and set "
    "ADARCHIVE_REPLAYWEBPAGE_DIR to that folder"
)
ARCHIVE_NAME = "advert.wacz"
MIN_SECRET = 32
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    # Only ReplayWeb.page frames its own replay frames; nobody frames it.
    (b"content-security-policy", b"frame-ancestors 'self'"),
]


class ReplayConfigError(ValueError):
    """A replay setting that cannot work; one line naming it."""


@dataclass
class ReplayConfig:
    """Where the replay origin listens, how browsers reach it, how its links are signed."""

    host: str
    port: int
    public_url: str
    build_dir: Path
    ttl: int
    key: bytes = field(repr=False)

    @classmethod
    def from_settings(cls, host: str | None = None, port: int | None = None) -> ReplayConfig:
        host = host or str(setting("ADARCHIVE_WORKBENCH_REPLAY_HOST"))
        port = int(setting("ADARCHIVE_WORKBENCH_REPLAY_PORT")) if port is None else port
        configured = setting("ADARCHIVE_REPLAYWEBPAGE_DIR")
        build = Path(configured) if configured else CHECKOUT_BUILD
        secret = setting("ADARCHIVE_WORKBENCH_REPLAY_SECRET")
        if secret is not None and len(secret) < MIN_SECRET:
            raise ReplayConfigError(
                f"ADARCHIVE_WORKBENCH_REPLAY_SECRET: at least {MIN_SECRET} characters, please"
            )
        key = secret.encode("utf-8") if secret else secrets.token_bytes(32)
        if not 0 < port < 65536:
            raise ReplayConfigError(f"replay port {port}: a port number from 1 to 65535")
        ttl = int(setting("ADARCHIVE_WORKBENCH_REPLAY_TTL"))
        if ttl <= 0:
            raise ReplayConfigError("ADARCHIVE_WORKBENCH_REPLAY_TTL: a number of seconds above 0")
        public = setting("ADARCHIVE_WORKBENCH_REPLAY_URL") or f"http://{_netloc(host, port)}"
        return cls(host, port, str(public).rstrip("/"), build.resolve(), ttl, key)

    def missing_build(self) -> str | None:
        """Why replay cannot be shown (ReplayWeb.page is not installed), or None."""
        absent = [name for name in BUILD_FILES if not (self.build_dir / name).is_file()]
        if not absent:
            return None
        return f"ReplayWeb.page's static build is not at {self.build_dir}: {INSTALL}."

    def issue(self, ad_id: int, user: str, now: float) -> tuple[str, Claims]:
        """A signed link for ``user`` to replay advert ``ad_id``, and what it says."""
        token = sign(self.key, ad_id, user, int(now) + self.ttl)
        return f"{self.public_url}/r/{token}", verify(self.key, token, now)


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Archives:
    """Archives built for live links, one file per link, deleted once the link expired."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="adarchive-replay-"))
        self.lock = threading.Lock()
        self.building: dict[str, threading.Lock] = {}
        self.expiry: dict[str, int] = {}

    def path(self, token: str) -> Path:
        return self.root / (hashlib.sha256(token.encode()).hexdigest()[:40] + ".wacz")

    def get(self, token: str, claims: Claims, factory: sessionmaker[Session],
            data_root: Path) -> Path:  # fmt: skip
        self.sweep(time.time())
        path = self.path(token)
        with self.lock:
            lock = self.building.setdefault(path.name, threading.Lock())
        with lock:
            if not path.exists():
                with factory() as db:
                    write_replay_archive(db, claims.ad_id, data_root, path)
                with self.lock:
                    self.expiry[path.name] = claims.expires
        return path

    def sweep(self, now: float) -> None:
        with self.lock:
            gone = [name for name, until in self.expiry.items() if until <= now]
            for name in gone:
                (self.root / name).unlink(missing_ok=True)
                del self.expiry[name]
                self.building.pop(name, None)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _refused(request: Request, reason: str) -> HTMLResponse:
    state = request.app.state
    address = request.client.host if request.client else "unknown"
    with state.factory() as db:
        audit.append(db, f"address:{address}", "replay.refused", "replay",
                     {"reason": reason, "path": request.url.path[:80]})  # fmt: skip
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Replay refused</title>"
        f"<h1>Replay refused</h1><p>This replay link cannot be used: {reason}. "
        "Open the advert in the workbench and ask for a new replay.</p></html>"
    )
    return HTMLResponse(body, status_code=403)


def _claims(request: Request) -> Claims | str:
    try:
        return verify(request.app.state.config.key, request.path_params["token"], time.time())
    except BadToken as exc:
        return str(exc)


def open_replay(request: Request) -> Response:
    """Check the link, then hand the browser to ReplayWeb.page on the advert's page."""
    claims = _claims(request)
    if isinstance(claims, str):
        return _refused(request, claims)
    state = request.app.state
    with state.factory() as db:
        page = advert_page(db, claims.ad_id)
        audit.append(db, claims.user, "replay.open", f"ad:{claims.ad_id}",
                     {"nonce": claims.nonce, "expires": claims.expires})  # fmt: skip
    if page is None:
        return HTMLResponse("<!doctype html><p>This advert names no archived page.</p>", 404)
    source = quote(f"/a/{request.path_params['token']}/{ARCHIVE_NAME}", safe="")
    target = quote(page.url, safe="")
    return RedirectResponse(
        f"/index.html?source={source}#view=replay&url={target}&ts={page.timestamp}",
        status_code=303,
    )


def archive(request: Request) -> Response:
    """The advert's archive, whole or by one byte range; each fetch audited."""
    claims = _claims(request)
    if isinstance(claims, str):
        return _refused(request, claims)
    state = request.app.state
    token = request.path_params["token"]
    wanted = request.headers.get("range", "")
    try:
        path = state.archives.get(token, claims, state.factory, state.data_root)
    except ExportError as exc:
        with state.factory() as db:
            audit.append(db, claims.user, "replay.failed", f"ad:{claims.ad_id}",
                         {"error": str(exc)[:300]})  # fmt: skip
        return Response(f"cannot build the replay archive: {exc}", 500, media_type="text/plain")
    response = _ranged(path, wanted, request.method == "HEAD")
    with state.factory() as db:
        audit.append(db, claims.user, "replay.fetch", f"ad:{claims.ad_id}", {
            "nonce": claims.nonce, "method": request.method, "range": wanted[:40],
            "status": response.status_code,
        })  # fmt: skip
    return response


def _ranged(path: Path, wanted: str, head: bool) -> Response:
    size = path.stat().st_size
    start, end, status = 0, size - 1, 200
    match = _RANGE.match(wanted.strip())
    if match and (match[1] or match[2]):
        if match[1]:
            start = int(match[1])
            end = min(int(match[2]), size - 1) if match[2] else size - 1
        else:
            start = max(0, size - int(match[2]))
        if start >= size or start > end:
            return Response(b"", 416, headers={"content-range": f"bytes */{size}"})
        status = 206
    headers = {
        "accept-ranges": "bytes",
        "content-length": str(end - start + 1),
        "cross-origin-resource-policy": "same-origin",
    }
    if status == 206:
        headers["content-range"] = f"bytes {start}-{end}/{size}"
    body = b""
    if not head:
        with path.open("rb") as fh:
            fh.seek(start)
            body = fh.read(end - start + 1)
    response = Response(body, status, headers=headers, media_type="application/wacz")
    if head:  # Response would count the empty body; the length is the range's
        response.headers["content-length"] = str(end - start + 1)
    return response


class ReplayHeaders:
    """Headers every answer of the replay origin carries (never the signed link in a referrer)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in HEADERS if k not in present
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_replay_app(
    factory: sessionmaker[Session], data_root: Path, config: ReplayConfig
) -> Starlette:
    """The replay origin's application (served by ``adarchive serve`` on its own listener)."""
    routes = [
        Route("/r/{token}", open_replay),
        Route("/a/{token}/" + ARCHIVE_NAME, archive, methods=["GET", "HEAD"]),
        Mount("/", StaticFiles(directory=str(config.build_dir), html=True, check_dir=False)),
    ]
    archives = _Archives()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            archives.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.factory = factory
    app.state.data_root = data_root
    app.state.config = config
    app.state.archives = archives
    app.add_middleware(ReplayHeaders)
    return app
