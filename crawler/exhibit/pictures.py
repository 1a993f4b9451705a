"""A picture of each advert's page as captured, photos blurred unless asked otherwise.

Where the crawl took a screenshot (browser-rendered platforms), that screenshot
is the picture: the bytes of its ``urn:screenshot:`` record in the bundle.
Otherwise the archived response is replayed from the bundle's own WARC records
by pywb and rendered in headless Chromium with JavaScript off, labelled as
rendered at export time.

Chromium may reach nothing but that pywb. Its only way out is the crawl's own
egress proxy (crawler.browser.proxy, the browser guard), here with a policy
that allows exactly pywb's loopback address and port: every other connection
(any host, any port, link-local, a redirect hop) is refused by the proxy and
counted in the caption. Chromium's resolver maps every name to NOTFOUND
except 127.0.0.1, and Playwright's proxy option removes the implicit loopback
bypass. This holds in the browser's network stack, whatever the page asks
for; ``page.route`` is used only to stop a page navigating away.

Photos are blurred where the page lays out its ``<img>`` elements: measured on
the pywb rendering (for a crawl-time screenshot, on a rendering of the same
page at the screenshot's width), then blurred in the picture itself.
"""

from __future__ import annotations

import asyncio
import io
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFilter
from playwright.sync_api import sync_playwright

from crawler.browser.features import with_quiet_features
from crawler.browser.launch import find_browser
from crawler.browser.proxy import EgressProxy, ProxyPolicy
from crawler.evidence.pywb_replay import Wayback, wayback
from crawler.exhibit.case import Advert, CaptureRow, Case
from crawler.guard.address import parse_allow_list

RENDER_WIDTH = 960
MAX_HEIGHT = 4000
"""Pixels: a taller page is pictured to this height, and the picture says so."""
MAX_SCREENSHOT_PIXELS = 40_000_000
BLUR_RADIUS = 24
BOX_PAD = 4


@dataclass
class Picture:
    png: bytes | None
    source: str
    """``screenshot`` (taken by the crawl) or ``rendered`` (from the archive, now)."""
    record: CaptureRow
    """The record the picture is, or was rendered from."""
    blurred: int
    """How many photo regions were blurred (0 with ``whole`` or unblurred)."""
    whole: bool = False
    """The whole picture is blurred: its photos could not be located."""
    unblurred: bool = False
    cut: bool = False
    refused: int = 0
    """Connections the replayed page tried beyond the replay server, refused by the guard."""
    problem: str = ""
    """Why there is no picture, when there is none."""


class ReplayGuard:
    """The browser guard's egress proxy, allowing only pywb, on an event loop of its own
    (the sync Playwright API used here runs its own loop)."""

    def __init__(self, replay_port: int) -> None:
        policy = ProxyPolicy(
            allowed_hosts=("127.0.0.1",),
            ports=frozenset({replay_port}),
            allow=parse_allow_list("127.0.0.1"),
        )
        self.proxy = EgressProxy(policy)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(30)

    def refused(self) -> int:
        return len(self.proxy.refusals)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def blocked_proxy() -> socket.socket:
    """A bound, never-listening loopback port: a proxy that refuses every connection."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


# Chromium resolves no name itself and sends no UDP outside the proxy (the spelling
# Chromium 156 obeys: see crawler/browser/proxy.py's notes).
CHROMIUM_ARGS = [
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--disable-background-networking",
]


def guard_args(replay_port: int, dead_proxy_port: int) -> list[str]:
    """Chromium flags for a page that needs no network at all (the PDF printer): every
    request goes to a port where nothing listens."""
    return [
        *CHROMIUM_ARGS,
        f"--proxy-server=http://127.0.0.1:{dead_proxy_port}",
        f"--proxy-bypass-list=<-loopback>;127.0.0.1:{replay_port}",
    ]


# Everything that can draw a picture: images, media, embeds, frames (a frame is blurred
# whole), canvases, form image buttons, and any element painted with a CSS image.
PHOTO_BOXES = """() => {
  const tags = new Set(["img", "svg", "object", "embed", "video", "canvas", "iframe",
                        "frame", "picture", "image"]);
  const out = [];
  for (const el of document.querySelectorAll("*")) {
    const tag = el.tagName.toLowerCase();
    const css = getComputedStyle(el);
    const painted = [css.backgroundImage, css.listStyleImage, css.borderImageSource,
                     css.content, css.maskImage].some(v => v && v.includes("url("));
    const photo = tags.has(tag) || (tag === "input" && el.type === "image") || painted;
    if (!photo) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 4 || r.height < 4) continue;
    out.push({x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height});
  }
  return out;
}"""
PAGE_SIZE = "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"


class PictureError(RuntimeError):
    """The archived page could not be pictured faithfully (it navigates away, …)."""


@dataclass
class Rendering:
    png: bytes
    boxes: list[dict]
    cut: bool
    """The page was taller or wider than the picture: the rest is not shown."""
    refused: int = 0
    """Connections the page tried that the browser guard refused."""


class PageRenderer:
    """pywb over the bundle's WARC files, and a guarded headless Chromium."""

    def __init__(self, server: Wayback, page_factory: Any, guard: ReplayGuard) -> None:
        self.server = server
        self._new_page = page_factory
        self.guard = guard

    def render(self, url: str, fetched_at: str, width: int) -> Rendering:
        """PNG of the archived ``url`` as pywb replays it (at most ``MAX_HEIGHT`` tall, ``width``
        wide), and the boxes of everything on it that can show a photo.

        The main frame may load the cited capture once (after pywb's redirect to its exact
        time-stamp); any later navigation, a meta refresh or a ``Refresh:`` header, is
        answered "204 No Content" (the page stays), so the picture is always of the record it is captioned with.
        """
        page = self._new_page(width)
        documents = 0
        refused_before = self.guard.refused()

        def main_navigation(request: Any) -> bool:
            return bool(request.is_navigation_request() and request.frame == page.main_frame)

        def navigation(route: Any, request: Any) -> None:
            if main_navigation(request) and (documents or _target(request.url) != url):
                # A 204 to a navigation leaves the current document in place (HTML's
                # rule), where an abort would replace it with an error page.
                route.fulfill(status=204)
            else:
                route.continue_()

        def arrived(response: Any) -> None:
            nonlocal documents
            redirect = 300 <= response.status < 400
            if main_navigation(response.request) and not redirect:
                documents += 1

        try:
            page.route("**/*", navigation)
            page.on("response", arrived)
            page.goto(self.server.url(url, _timestamp(fetched_at), "mp_"), wait_until="load",
                      timeout=60_000)  # fmt: skip
            if _target(page.url) != url:
                raise PictureError(f"the replayed page left {url} for {_target(page.url)}")
            full_width, full_height = page.evaluate(PAGE_SIZE)
            boxes = page.evaluate(PHOTO_BOXES)
            height = min(full_height, MAX_HEIGHT)
            png = page.screenshot(
                full_page=True, type="png", clip={"x": 0, "y": 0, "width": width, "height": height}
            )
        finally:
            page.context.close()  # one context per page: nothing carries over between pages
        refused = self.guard.refused() - refused_before
        return Rendering(png, boxes, full_height > MAX_HEIGHT or full_width > width, refused)


@contextmanager
def renderer(case: Case, workdir: Path, pywb_bin: Path | None = None,
             browser: str | None = None) -> Iterator[PageRenderer]:  # fmt: skip
    """Serve the bundle's WARC files with pywb and open the guarded browser."""
    warc_dir = workdir / "warc"
    warc_dir.mkdir(parents=True, exist_ok=True)
    paths = case.copy_warcs(warc_dir)
    with wayback(paths, workdir / "pywb", pywb_bin) as server:
        guard = ReplayGuard(server.port)
        try:
            with sync_playwright() as pw:
                launched = pw.chromium.launch(
                    executable_path=find_browser(browser),
                    args=with_quiet_features(CHROMIUM_ARGS),
                    proxy={"server": guard.url},
                )
                try:

                    def new_page(width: int) -> Any:
                        context = launched.new_context(
                            java_script_enabled=False,
                            viewport={"width": width, "height": 900},
                            service_workers="block",
                        )
                        return context.new_page()

                    yield PageRenderer(server, new_page, guard)
                finally:
                    launched.close()
        finally:
            guard.close()


def picture_for(ad: Advert, case: Case, pages: PageRenderer, blur: bool) -> Picture:
    """The advert's picture: its crawl-time screenshot, else a rendering of its proof.

    Photos are blurred where the replayed page lays out anything that can show one;
    where it shows none although the advert has photos (they came by script, say),
    the whole picture is blurred rather than risk a sharp one.
    """
    if ad.screenshot is not None:
        source, record = "screenshot", ad.screenshot
    else:
        source, record = "rendered", ad.proof
    try:
        if source == "screenshot":
            _, png = case.record_body(record)
            image = _open(png)
            rendering = (
                pages.render(ad.proof.url, ad.proof.fetched_at, image.width) if blur else None
            )
            cut = image.height > MAX_HEIGHT
        else:
            rendering = pages.render(ad.proof.url, ad.proof.fetched_at, RENDER_WIDTH)
            image, cut = _open(rendering.png), rendering.cut
    except PictureError as exc:
        return Picture(None, source, record, 0, problem=str(exc))
    refused = rendering.refused if rendering else 0
    if not blur:
        return Picture(_finish(image, [], False), source, record, 0, unblurred=True, cut=cut,
                       refused=refused)  # fmt: skip
    boxes = rendering.boxes if rendering else []
    whole = not boxes and bool(ad.image_urls)
    return Picture(_finish(image, boxes, whole), source, record, len(boxes), whole, cut=cut,
                   refused=refused)  # fmt: skip


def _open(png: bytes) -> Image.Image:
    """Decode a picture, refusing one too large to reproduce (before decoding it)."""
    image = Image.open(io.BytesIO(png))
    if image.width * image.height > MAX_SCREENSHOT_PIXELS:
        raise PictureError(f"a {image.width}×{image.height} picture is too large to reproduce")
    return image.convert("RGB")


def _finish(image: Image.Image, boxes: Sequence[dict], whole: bool) -> bytes:
    """Blur the photo boxes (or everything), cut to ``MAX_HEIGHT``, trim blank margins."""
    image = image.crop((0, 0, image.width, min(image.height, MAX_HEIGHT)))
    if whole:
        image = _obscure(image)
    draw = ImageDraw.Draw(image)
    for box in boxes:
        left = max(0, int(box["x"]) - BOX_PAD)
        top = max(0, int(box["y"]) - BOX_PAD)
        right = min(image.width, int(box["x"] + box["width"]) + BOX_PAD)
        bottom = min(image.height, int(box["y"] + box["height"]) + BOX_PAD)
        if right - left < 2 or bottom - top < 2:
            continue
        image.paste(_obscure(image.crop((left, top, right, bottom))), (left, top))
        draw.rectangle((left, top, right - 1, bottom - 1), outline=(90, 90, 90), width=2)
    image = _trim(image)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _obscure(region: Image.Image) -> Image.Image:
    """Pixelate then blur: no detail survives, whatever the radius does at the edges."""
    small = region.resize((max(1, region.width // 24), max(1, region.height // 24)))
    return small.resize(region.size).filter(ImageFilter.GaussianBlur(BLUR_RADIUS))


def _trim(image: Image.Image, margin: int = 16) -> Image.Image:
    """Cut the blank right and bottom margins a page leaves (never its content)."""
    background = Image.new("RGB", image.size, image.getpixel((image.width - 1, image.height - 1)))
    box = ImageChops.difference(image, background).getbbox()
    if box is None:
        return image
    right = min(image.width, box[2] + margin)
    bottom = min(image.height, box[3] + margin)
    return image.crop((0, 0, right, bottom))


def _target(replay_url: str) -> str:
    """The archived address a pywb replay URL stands for."""
    return replay_url.split("mp_/", 1)[1] if "mp_/" in replay_url else replay_url


def _timestamp(fetched_at: str) -> str:
    """captures.csv time → pywb's 14-digit timestamp (the capture closest to it replays)."""
    moment = datetime.fromisoformat(fetched_at.replace("Z", "+00:00"))
    return moment.strftime("%Y%m%d%H%M%S")
