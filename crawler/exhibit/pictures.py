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
BLUR_RADIUS = 24
BOX_PAD = 4


@dataclass
class Picture:
    png: bytes
    source: str
    """``screenshot`` (taken by the crawl) or ``rendered`` (from the archive, now)."""
    record: CaptureRow
    """The record the picture is, or was rendered from."""
    blurred: int
    """How many photo regions were blurred."""


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


class PageRenderer:
    """pywb over the bundle's WARC files, and a guarded headless Chromium."""

    def __init__(self, server: Wayback, page_factory: Any) -> None:
        self.server = server
        self._new_page = page_factory

    def render(self, url: str, fetched_at: str, width: int) -> tuple[bytes, list[dict]]:
        """Full-page PNG of the archived ``url`` as pywb replays it, and its photo boxes."""
        page = self._new_page(width)
        try:
            page.goto(self.server.url(url, _timestamp(fetched_at), "mp_"), wait_until="load",
                      timeout=60_000)  # fmt: skip
            boxes = [b for img in page.locator("img").all() if (b := img.bounding_box())]
            png = page.screenshot(full_page=True, type="png")
        finally:
            page.context.close()  # one context per page: nothing carries over between pages
        return png, boxes


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
    """The advert's picture: its crawl-time screenshot, else a rendering of its proof."""
    if ad.screenshot is not None:
        _, png = case.record_body(ad.screenshot)
        width = Image.open(io.BytesIO(png)).width
        boxes: Sequence[dict] = []
        if blur:
            _, boxes = pages.render(ad.proof.url, ad.proof.fetched_at, width)
        return Picture(_blur(png, boxes), "screenshot", ad.screenshot, len(boxes))
    png, boxes = pages.render(ad.proof.url, ad.proof.fetched_at, RENDER_WIDTH)
    if not blur:
        boxes = []
    return Picture(_blur(png, boxes), "rendered", ad.proof, len(boxes))


def _blur(png: bytes, boxes: Sequence[dict]) -> bytes:
    """Blur the photo boxes, then trim the blank margins (the page prints larger)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for box in boxes:
        left = max(0, int(box["x"]) - BOX_PAD)
        top = max(0, int(box["y"]) - BOX_PAD)
        right = min(image.width, int(box["x"] + box["width"]) + BOX_PAD)
        bottom = min(image.height, int(box["y"] + box["height"]) + BOX_PAD)
        if right - left < 2 or bottom - top < 2:
            continue
        region = image.crop((left, top, right, bottom))
        # Pixelate then blur: no detail survives, whatever the radius does at the edges.
        small = region.resize((max(1, region.width // 24), max(1, region.height // 24)))
        region = small.resize(region.size).filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
        image.paste(region, (left, top))
        draw.rectangle((left, top, right - 1, bottom - 1), outline=(90, 90, 90), width=2)
    image = _trim(image)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _trim(image: Image.Image, margin: int = 16) -> Image.Image:
    """Cut the blank right and bottom margins a page leaves (never its content)."""
    background = Image.new("RGB", image.size, image.getpixel((image.width - 1, image.height - 1)))
    box = ImageChops.difference(image, background).getbbox()
    if box is None:
        return image
    right = min(image.width, box[2] + margin)
    bottom = min(image.height, box[3] + margin)
    return image.crop((0, 0, right, bottom))


def _timestamp(fetched_at: str) -> str:
    """captures.csv time → pywb's 14-digit timestamp (the capture closest to it replays)."""
    moment = datetime.fromisoformat(fetched_at.replace("Z", "+00:00"))
    return moment.strftime("%Y%m%d%H%M%S")
