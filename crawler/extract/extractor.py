"""Run every extractor over one text and merge their findings."""

from __future__ import annotations

from crawler.extract.cues import CueIndex
from crawler.extract.emails import find_emails
from crawler.extract.handles import find_handles, find_links
from crawler.extract.identifier import Identifier
from crawler.extract.markets import bare_at_messenger
from crawler.extract.normalize import normalize
from crawler.extract.phones import find_phones
from crawler.extract.spans import SpanSet


def extract_identifiers(
    text: str, region: str | None = None, *, language: str | None = None
) -> list[Identifier]:
    """All contact identifiers of ``text``, sorted by offset.

    ``region`` (ISO 3166 alpha-2, e.g. the platform's country) is the default
    country for numbers written without an international prefix, and with
    ``language`` (the platform's, ISO 639-1) says which market the text is
    from: how bare national numbers and bare ``@name``s are read there
    (``markets``).
    """
    if not text:
        return []
    region = region.strip().upper() or None if region else None
    cues = CueIndex(text, region)
    links = find_links(text, region)
    emails = find_emails(text)
    linked = SpanSet((i.start, i.end) for i in (*links, *emails))
    if links or emails:
        cues.drop_inside(linked)
    handles = find_handles(text, cues, linked, bare_at_messenger(region, language))
    claimed = SpanSet((i.start, i.end) for i in (*links, *emails, *handles))
    phones = find_phones(text, normalize(text), region, cues, claimed)
    seen: set[tuple[str, str, int]] = set()
    out: list[Identifier] = []
    for ident in sorted((*links, *emails, *handles, *phones), key=lambda i: (i.start, i.end)):
        key = (ident.kind, ident.value, ident.start)
        if key not in seen:
            seen.add(key)
            out.append(ident)
    return out
