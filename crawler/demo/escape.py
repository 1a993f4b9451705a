"""Escape-hatch pages of the hostile board (``/escape/…`` on 127.0.0.16).

Static pages that try every way out of the crawler an advert's author has
without a browser: image URLs with non-HTTP schemes (``file:``, ``ftp:``,
``data:``, ``s3:``, ``gopher:``, ``javascript:``), a protocol-relative image on
127.0.0.1, links with such schemes, an identifier far longer than any column
used to hold (``t.me/`` repeated), an advert with tens of thousands of
``<img>``, and an endless ``next`` chain with a fresh session id on every
page. The targets on 127.0.0.1 are a :class:`crawler.demo.canary.Canary`'s
ports, set by whoever starts the canary (:attr:`EscapePages.canary`); tests
assert that it records nothing.

Routes:

* ``/escape/`` — the listing (adverts below, scheme links, the endless chain);
* ``/escape/ad/schemes`` — an advert whose first images are refused by scheme,
  then two good images;
* ``/escape/ad/long-id`` — an advert whose text yields an identifier longer
  than 512 characters;
* ``/escape/ad/many-images`` — an advert with :data:`MANY_IMAGES` ``<img>``;
* ``/escape/go/canary`` — redirects to ``http://127.0.0.1`` (the canary's HTTP port),
  whatever scheme the page itself was served over;
* ``/escape/go/link-local`` and ``/escape/go/link-local-v6`` — redirect to
  ``169.254.169.254`` and ``[fe80::1]``: nothing listens there, the guard must
  refuse them by address class without sending a packet;
* ``/escape/img/<n>.png`` — a small picture;
* ``/escape/flood`` — a listing of :data:`FLOOD_LINKS` advert links: parsing it keeps
  the crawl's thread busy for many seconds (what a stop signal must cut through);
* ``/escape/page/<n>?sid=<random>`` — an endless pagination trap.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Protocol

from crawler.demo.canary import LINK_LOCAL_V4, LINK_LOCAL_V6
from crawler.demo.generated_pictures import original

if TYPE_CHECKING:
    from crawler.demo.canary import Canary

PREFIX = "/escape/"
MANY_IMAGES = 50_000
FLOOD_LINKS = 300_000
LONG_HANDLE_REPEAT = 120  # "t.me/" * 120: 600 characters
GOOD_IMAGES = ("/escape/img/1.png", "/escape/img/2.png")
NO_CANARY_PORT = 9  # discard: nothing listens, nothing is recorded
REDIRECTS = ("canary", "link-local", "link-local-v6")
"""``/escape/go/<name>``: redirects off the platform, each refused by the address guard."""


class _Handler(Protocol):
    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = ...,
        headers: dict[str, str] | None = ...,
    ) -> None: ...


def _page(title: str, inner: str) -> bytes:
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body>{inner}</body></html>"
    ).encode()


def long_handle() -> str:
    """The advert text that yields an over-long identifier (as the attacker wrote it)."""
    return "https://t.me/" + "t.me/" * LONG_HANDLE_REPEAT + "x"


class EscapePages:
    """Serves ``/escape/…``; :attr:`canary` names the 127.0.0.1 ports the pages aim at."""

    def __init__(self) -> None:
        self.canary: Canary | None = None
        self._flood: bytes | None = None

    def _ports(self) -> tuple[int, int]:
        """(HTTP port, raw TCP port) of the canary, or the discard port without one."""
        canary = self.canary
        if canary is None:
            return NO_CANARY_PORT, NO_CANARY_PORT
        return canary.http_port, canary.tcp_ports[0]

    def bad_image_urls(self) -> list[str]:
        """Image URLs no crawler may fetch, in the order the advert lists them."""
        http, tcp = self._ports()
        return [
            "javascript:alert(document.domain)",
            "file:///proc/self/environ",
            "file:///dev/zero",
            f"ftp://127.0.0.1:{tcp}/x",
            "data:image/png;base64,iVBORw0KGgo=",
            "s3://internal-bucket/secret.png",
            f"gopher://127.0.0.1:{tcp}/_x",
            f"//127.0.0.1:{http}/escape-proto-relative.png",
        ]

    def redirect_targets(self) -> dict[str, str]:
        """Where each ``/escape/go/<name>`` redirects: the canary and link-local addresses."""
        http, _tcp = self._ports()
        return {
            "canary": f"http://127.0.0.1:{http}/escape-redirect",
            "link-local": f"http://{LINK_LOCAL_V4}:{http}/latest/meta-data/",
            "link-local-v6": f"http://[{LINK_LOCAL_V6}]:{http}/latest/meta-data/",
        }

    def route(self, h: _Handler, path: str) -> None:
        if path == PREFIX:
            h._send(200, self._listing())
        elif path == PREFIX + "ad/schemes":
            images = [*self.bad_image_urls(), *GOOD_IMAGES]
            h._send(200, self._advert("schemes", "Scheme tricks", images))
        elif path == PREFIX + "ad/long-id":
            h._send(200, self._advert("long-id", "Long handle", [], extra=long_handle()))
        elif path == PREFIX + "ad/many-images":
            images = [
                f"/escape/img/{n % 7}.png" if n < 7 else f"/i/{n}" for n in range(MANY_IMAGES)
            ]
            h._send(200, self._advert("many-images", "Gallery", images))
        elif path.startswith(PREFIX + "go/") and path[len(PREFIX) + 3 :] in REDIRECTS:
            target = self.redirect_targets()[path[len(PREFIX) + 3 :]]
            h._send(302, b"", headers={"Location": target})
        elif path.startswith(PREFIX + "img/") and path.endswith(".png"):
            picture = original(f"escape-{path.rsplit('/', 1)[1]}", png=True)
            h._send(200, picture.data, picture.content_type)
        elif path == PREFIX + "flood":
            h._send(200, self.flood())
        elif path.startswith(PREFIX + "page/"):
            h._send(200, self._endless(path))
        else:
            h._send(404, _page("not found", "<p>not found</p>"))

    def _listing(self) -> bytes:
        http, tcp = self._ports()
        links = [
            f'<a class="ad" href="/escape/ad/{a}">{a}</a>'
            for a in ("schemes", "long-id", "many-images")
        ]
        links += [f'<a class="ad" href="/escape/go/{r}">{r}</a>' for r in REDIRECTS]
        links += [
            '<a class="ad" href="javascript:void(0)">js</a>',
            '<a class="ad" href="file:///etc/passwd">file</a>',
            f'<a class="ad" href="ftp://127.0.0.1:{tcp}/listing">ftp</a>',
            f'<a class="next" href="gopher://127.0.0.1:{http}/_next">gopher</a>',
        ]
        return _page("Escape board", " ".join(links))

    def _advert(self, ad_id: str, title: str, images: list[str], extra: str = "") -> bytes:
        imgs = "".join(f'<img src="{src}">' for src in images)
        return _page(
            title,
            f'<h1 class="title">{title}</h1><p>by <span class="name">Ada Quill</span></p>'
            f'<div class="body">Advert {ad_id}. {extra}</div>'
            f'<div class="contacts">Call +44 7700 100199 {extra}</div>'
            f'<div class="gallery">{imgs}</div>',
        )

    def flood(self) -> bytes:
        """Built once: about 13 MB of advert links."""
        if self._flood is None:
            links = "".join(
                f'<a class="ad" href="/escape/ad/f{n}">f</a>' for n in range(FLOOD_LINKS)
            )
            self._flood = _page("Flood", links)
        return self._flood

    def _endless(self, path: str) -> bytes:
        try:
            page = int(path.rsplit("/", 1)[1] or 1)
        except ValueError:
            page = 1
        sid = secrets.token_hex(8)
        return _page(
            f"page {page}",
            f'<a class="next" href="/escape/page/{page + 1}?sid={sid}">next</a>',
        )


def serve(pages: EscapePages, handler: Any, path: str) -> bool:
    """Route ``path`` if it is an escape page; False when it is not one."""
    if not path.startswith(PREFIX):
        return False
    pages.route(handler, path)
    return True
