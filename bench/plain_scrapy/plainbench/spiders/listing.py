"""What a Scrapy user would write for these boards: follow listings to adverts, yield fields.

It reads the same platform definitions (spiders/definitions/*.toml) for its
start URLs and CSS/XPath selectors, with parsel alone: no adarchive code, no
WARC, no store. Element fields give their text nodes joined, as a hand-written
spider would (``::text``), rather than adarchive's cleaned text.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import scrapy

DEFINITIONS = Path(__file__).resolve().parents[4] / "spiders" / "definitions"
FIELDS = ("title", "body", "name", "age", "location", "price", "posted", "contacts", "images")


def select(sel: Any, spec: str) -> Any:
    kind, _, expr = spec.partition(":")
    return sel.xpath(expr) if kind == "xpath" else sel.css(expr)


def values(sel: Any, spec: Any, url: str) -> list[str]:
    if isinstance(spec, dict):
        if spec.get("from") == "url":
            found = re.search(spec["re"], url)
            return [found.group(1)] if found else []
        texts = values(sel, spec["selector"], url)
        out = []
        for text in texts:
            found = re.search(spec["re"], text) if "re" in spec else None
            out.append(found.group(1) if found else text)
        return out
    expr = spec.partition(":")[2]
    picked = select(sel, spec)
    if "::" in expr or "/@" in expr or "text()" in expr:
        return [v.strip() for v in picked.getall() if v.strip()]
    return [
        " ".join(t.strip() for t in node.css("::text").getall() if t.strip()) for node in picked
    ]


class ListingSpider(scrapy.Spider):
    """``-a platforms=a,b -a start_urls='{"a": "http://…"}' [-a images=10]``

    With ``images=N`` it also fetches up to N images of each advert (every one, as the
    adarchive images pipeline does, even when two adverts share a picture) and keeps
    each one's SHA-256: the peer of the full stack with its images pipeline.
    """

    name = "listing"

    def __init__(
        self, platforms: str = "", start_urls: str = "{}", images: str = "0", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.images = int(images)
        self.starts = json.loads(start_urls)
        self.defs = {}
        for name in platforms.split(","):
            with (DEFINITIONS / f"{name}.toml").open("rb") as fh:
                self.defs[name] = tomllib.load(fh)

    async def start(self):
        for name in self.defs:
            yield scrapy.Request(self.starts[name], callback=self.parse, cb_kwargs={"name": name})

    def parse(self, response: Any, name: str) -> Any:
        listing = self.defs[name]["listing"]
        for href in values(response, listing["ad_links"], response.url):
            yield response.follow(href, self.parse_ad, cb_kwargs={"name": name})
        for href in values(response, listing["next_page"], response.url)[:1]:
            yield response.follow(href, self.parse, cb_kwargs={"name": name})

    def parse_ad(self, response: Any, name: str) -> Any:
        detail = self.defs[name]["detail"]
        item = {"platform": name, "url": response.url}
        ids = values(response, detail["external_id"], response.url)
        item["external_id"] = ids[0] if ids else None
        for field in FIELDS:
            if field in detail:
                found = values(response, detail[field], response.url)
                item[field] = found if field in ("images", "contacts") else " ".join(found)
        yield item
        for src in list(dict.fromkeys(item.get("images") or []))[: self.images]:
            yield response.follow(src, self.parse_image, dont_filter=True)

    def parse_image(self, response: Any) -> Any:
        yield {"image": response.url, "sha256": hashlib.sha256(response.body).hexdigest()}
