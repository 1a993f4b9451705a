"""Apply a definition's field specs to a page: the shared core of the spider and `platform check`.

Works on a parsel ``Selector`` (Scrapy responses are one), so a saved page can
be checked exactly as the crawler will read it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

from bs4 import BeautifulSoup
from parsel import Selector, SelectorList

from crawler.platforms import FieldSpec, PlatformDefinition
from crawler.saferegex import compile_linear

LIST_FIELDS = ("images", "contacts")
URL_FIELDS = ("images",)
BLOCK_TAGS = (
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
    "section", "article", "header", "footer", "ul", "ol", "table", "dd", "dt", "blockquote",
)  # fmt: skip


def clean_text(html: str) -> str:
    """Visible text of an HTML fragment, one line per block, whitespace tidied."""
    soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    text = soup.get_text()
    lines = [re.sub(r"[ \t\u00a0\u3000]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


SKIP_TAGS = frozenset(("script", "style", "noscript", "template"))
_BLOCKS = frozenset(BLOCK_TAGS)


def element_text(root: Any) -> str:
    """``clean_text`` of a parsed element, read from its tree without serializing and
    re-parsing it: the same text, at a fraction of the cost (issue 21: BeautifulSoup's
    re-parse of every field was a third of a crawl's event loop). Iterative: a hostile
    page's nesting depth cannot exhaust the stack."""
    parts: list[str] = []
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            parts.append(node)
            continue
        tag = node.tag
        if not isinstance(tag, str):  # comment or processing instruction: no text
            continue
        name = tag.lower()
        if name in SKIP_TAGS:
            continue
        if name == "br":
            parts.append("\n")
            continue
        block = name in _BLOCKS
        if block:
            parts.append("\n")
            stack.append("\n")
        if node.text:
            parts.append(node.text)
        for child in reversed(node):
            if child.tail:
                stack.append(child.tail)
            stack.append(child)
    return _tidy("".join(parts))


def _tidy(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


_SPACES = re.compile(r"[ \t\u00a0\u3000]+")


def _select(sel: Selector, spec: FieldSpec) -> SelectorList:
    if spec.kind == "css":
        return sel.css(spec.expression)
    return sel.xpath(spec.expression)


def _values(sel: Selector, spec: FieldSpec, url: str, with_links: bool = False) -> list[str]:
    """The strings a spec yields: element text (and link targets), or plain string results."""
    if spec.source == "url":
        values = [url]
    else:
        values = []
        for item in _select(sel, spec):
            root = item.root
            if isinstance(root, str):
                values.append(root.strip())
                continue
            values.append(element_text(root))
            if with_links:
                values.extend(
                    href.strip()
                    for href in item.xpath("descendant-or-self::a/@href").getall()
                    if href.strip() and not href.strip().startswith("#")
                )
    if spec.regex:
        pattern = compile_linear(spec.regex)  # linear time: a page cannot make it hang
        matched = []
        for value in values:
            for m in pattern.finditer(value):
                matched.append(m.group(1) if pattern.groups else m.group(0))
        values = matched
    return [v for v in values if v]


def extract_field(sel: Selector, spec: FieldSpec, url: str, name: str) -> str | list[str] | None:
    """One field's value: a list for list fields, else the joined text or None."""
    values = _values(sel, spec, url, with_links=(name == "contacts"))
    if name in URL_FIELDS:
        return list(dict.fromkeys(urljoin(url, v) for v in values))
    if name in LIST_FIELDS:
        return list(dict.fromkeys(values))
    if not values:
        return None
    return "\n".join(values)


def extract_fields(sel: Selector, definition: PlatformDefinition, url: str) -> dict:
    """Every detail field the definition names, read from one page."""
    return {name: extract_field(sel, spec, url, name) for name, spec in definition.fields.items()}


def extract_links(sel: Selector, spec: FieldSpec | None, url: str) -> list[str]:
    """Absolute URLs a listing selector yields, in page order, without repeats."""
    if spec is None:
        return []
    return list(dict.fromkeys(urljoin(url, v) for v in _values(sel, spec, url)))
