"""A picture of each advert's page as captured, photos blurred unless asked otherwise.

Where the crawl took a screenshot (browser-rendered platforms), that screenshot
is the picture: the bytes of its ``urn:screenshot:`` record in the bundle.
Otherwise the archived response is replayed from the bundle's own WARC records
by pywb and rendered in headless Chromium with JavaScript off, labelled as
rendered at export time.

Chromium may reach nothing but that pywb: its resolver maps every name to
NOTFOUND except 127.0.0.1, and every request goes to a proxy port where
nothing listens, except those to pywb's own address and port (``<-loopback>``
removes Chromium's implicit loopback bypass). This holds in the browser's
network stack, whatever the page asks for; ``page.route`` is not relied on.

Photos are blurred where the page lays out its ``<img>`` elements: measured on
the pywb rendering (for a crawl-time screenshot, on a rendering of the same
page at the screenshot's width), then blurred in the picture itself.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFilter
from playwright.sync_api import sync_playwright

from crawler.browser.launch import find_browser
from crawler.evidence.replay import Wayback, wayback
from crawler.exhibit.case import Advert, CaptureRow, Case

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
    problem: str = ""
    """Why there is no picture, when there is none."""


def blocked_proxy() -> socket.socket:
    """A bound, never-listening loopback port: a proxy that refuses every connection."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def guard_args(replay_port: int, dead_proxy_port: int) -> list[str]:
    """Chromium flags that let it reach pywb on ``replay_port`` and nothing else."""
    return [
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--proxy-server=http://127.0.0.1:{dead_proxy_port}",
        f"--proxy-bypass-list=<-loopback>;127.0.0.1:{replay_port}",
        "--disable-background-networking",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
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


class PageRenderer:
    """pywb over the bundle's WARC files, and a guarded headless Chromium."""

    def __init__(self, server: Wayback, page_factory: Any) -> None:
        self.server = server
        self._new_page = page_factory

    def render(self, url: str, fetched_at: str, width: int) -> Rendering:
        """PNG of the archived ``url`` as pywb replays it (at most ``MAX_HEIGHT`` tall, ``width``
        wide), and the boxes of everything on it that can show a photo.

        The main frame may load the cited capture once (after pywb's redirect to its exact
        time-stamp); any later navigation, a meta refresh or a ``Refresh:`` header, is
        aborted, so the picture is always of the record it is captioned with.
        """
        page = self._new_page(width)
        documents = 0

        def main_navigation(request: Any) -> bool:
            return bool(request.is_navigation_request() and request.frame == page.main_frame)

        def navigation(route: Any, request: Any) -> None:
            if main_navigation(request) and (documents or _target(request.url) != url):
                route.abort()
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
        return Rendering(png, boxes, full_height > MAX_HEIGHT or full_width > width)


@contextmanager
def renderer(case: Case, workdir: Path, pywb_bin: Path | None = None,
             browser: str | None = None) -> Iterator[PageRenderer]:  # fmt: skip
    """Serve the bundle's WARC files with pywb and open the guarded browser."""
    warc_dir = workdir / "warc"
    warc_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in case.warcs.items():
        path = warc_dir / name
        path.write_bytes(data)
        paths.append(path)
    dead = blocked_proxy()
    try:
        with wayback(paths, workdir / "pywb", pywb_bin) as server, sync_playwright() as pw:
            launched = pw.chromium.launch(
                executable_path=find_browser(browser),
                args=guard_args(server.port, dead.getsockname()[1]),
            )
            try:

                def new_page(width: int) -> Any:
                    context = launched.new_context(
                        java_script_enabled=False,
                        viewport={"width": width, "height": 900},
                        service_workers="block",
                    )
                    return context.new_page()

                yield PageRenderer(server, new_page)
            finally:
                launched.close()
    finally:
        dead.close()


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
    if not blur:
        return Picture(_finish(image, [], False), source, record, 0, unblurred=True, cut=cut)
    boxes = rendering.boxes if rendering else []
    whole = not boxes and bool(ad.image_urls)
    return Picture(_finish(image, boxes, whole), source, record, len(boxes), whole, cut=cut)


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
