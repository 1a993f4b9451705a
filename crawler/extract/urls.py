"""The page's own address as an extraction source.

Some boards put the advertiser's number in the advert's address and nowhere
else: ``/ad/columbia/803-555-0199/…``, ``909-555-0142.example.com``,
``/personals/amy-415-555-0132-8812``. The address is read as text in which
``/ ? & = # _ + - ~``, host dots and percent escapes are spaces (same length,
so offsets are offsets into the URL), and only phone numbers written in groups
count: an undivided run of digits in an address is what sites use for advert
ids, and ten-digit ids look exactly like North American numbers.
"""

from __future__ import annotations

import re
import string
from urllib.parse import urlsplit

from crawler.extract.extractor import extract_identifiers
from crawler.extract.identifier import Identifier

# Punctuation that separates an address's words; letters become "x", so that
# path words ("ad", "id", "tel") are never read as cues: an address has structure,
# not labels. A letter glued to digits still keeps them from being a number.
_PATH_SPACES = str.maketrans(
    {**{c: " " for c in "/?&=#_+;,-~"}, **{c: "x" for c in string.ascii_letters}}
)
_ESCAPE_RE = re.compile(r"%[0-9A-Fa-f]{2}")
_GROUPED_RE = re.compile(r"[0-9]\D+[0-9]")


def url_as_text(url: str) -> str:
    """``url`` with its punctuation turned into spaces; same length as ``url``."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    text = _ESCAPE_RE.sub(lambda m: " " * len(m.group()), url)
    scheme = text.find("://")
    head = scheme + 3 if 0 <= scheme < 12 else 0
    host_at = text.lower().find(host, head) if host else -1
    out = " " * head + text[head:]
    if host_at >= 0:
        out = (
            out[:host_at]
            + out[host_at : host_at + len(host)].replace(".", " ")
            + out[host_at + len(host) :]
        )
    return out.translate(_PATH_SPACES)


def extract_from_url(
    url: str, region: str | None = None, language: str | None = None
) -> list[Identifier]:
    """Phone numbers written in the address ``url`` (match and offsets in ``url``)."""
    if not url or not any(c.isdigit() for c in url):
        return []
    text = url_as_text(url)
    out = []
    for ident in extract_identifiers(text, region, language=language):
        if ident.kind != "phone" or not _GROUPED_RE.search(ident.match):
            continue
        out.append(
            Identifier(
                ident.kind,
                ident.value,
                url[ident.start : ident.end],
                ident.start,
                ident.end,
                ident.channel,
            )
        )
    return out
