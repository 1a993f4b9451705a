"""E-mail addresses, also spelled or spaced out.

"anna [at] example [dot] com", "anna собака mail точка ru", "anna @ naver . com",
"anna アット gmail ドット com": words or spaces for "@" and "." are accepted
only before a top-level domain expected in adverts (prose has "at" and "dot").
"""

from __future__ import annotations

import re

from crawler.extract.identifier import Identifier

_LOCAL = r"[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_])?"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_WORD_AT = r"(?:at|собака|собачка|эт|アットマーク|アット|골뱅이|แอท)"
_WORD_DOT = r"(?:dot|точка|тчк|ドット|닷|ดอท)"
_OPEN = r"[\[\(\{<]"
_CLOSE = r"[\]\)\}>]"
_AT = (
    rf"(?:\s{{0,2}}[@＠]\s{{0,2}}"
    rf"|\s{{0,2}}{_OPEN}\s{{0,2}}(?:{_WORD_AT}|@)\s{{0,2}}{_CLOSE}\s{{0,2}}"
    rf"|\s{{1,3}}{_WORD_AT}\s{{1,3}})"
)
_DOT = (
    rf"(?:[ \t]{{0,2}}[.．,][ \t]{{0,2}}"
    rf"|\s{{0,2}}{_OPEN}\s{{0,2}}(?:{_WORD_DOT}|\.)\s{{0,2}}{_CLOSE}\s{{0,2}}"
    rf"|\s{{1,3}}{_WORD_DOT}\s{{1,3}})"
)
_TLD = r"[A-Za-z]{2,24}"
_EMAIL_RE = re.compile(
    rf"(?<![\w.%+\-@])(?P<local>{_LOCAL})(?P<at>{_AT})"
    rf"(?P<domain>{_LABEL}(?:{_DOT}{_LABEL}){{0,5}}{_DOT}{_TLD})(?![\w\-]|[.．][A-Za-z0-9])",
    re.IGNORECASE,
)
_DOT_SPLIT_RE = re.compile(_DOT, re.IGNORECASE)

# Spelled-out "at"/"dot" also occur in prose ("meet at noon dot"): accept them
# only before a top-level domain we expect in this region's ads.
_WORD_TLDS = frozenset(
    [
        "com",
        "net",
        "org",
        "info",
        "biz",
        "io",
        "me",
        "co",
        "ru",
        "kz",
        "kg",
        "uz",
        "jp",
        "kr",
        "th",
        "uk",
        "ph",
        "cn",
        "tw",
        "hk",
        "ua",
        "by",
        "am",
        "az",
        "ge",
        "tj",
        "tm",
        "de",
        "fr",
        "es",
        "it",
        "nl",
        "pl",
        "tr",
        "in",
        "id",
        "my",
        "vn",
        "sg",
        "au",
        "ca",
        "us",
        "eu",
        "mail",
        "email",
    ]
)


def find_emails(text: str) -> list[Identifier]:
    """All e-mail addresses in ``text``, lower-cased."""
    found: list[Identifier] = []
    if "@" not in text and "＠" not in text and not _maybe_spelled(text):
        return found
    for m in _EMAIL_RE.finditer(text):
        at = m.group("at").strip()
        domain = m.group("domain")
        # Label spans of the domain. Words or spaces for "@" and "." count only before
        # a top-level domain we expect, and a spaced or spelled dot may have run on
        # into the next sentence ("…(dot)com. Available"): cut back to that TLD.
        dots = list(_DOT_SPLIT_RE.finditer(domain))
        starts = [0, *[d.end() for d in dots]]
        ends = [*[d.start() for d in dots], len(domain)]
        n = len(ends)
        plain_at = at in ("@", "＠")
        # Labels joined by plain dots from the start ("anna@example.xyz" of
        # "anna@example.xyz, ok"): an address whatever its TLD.
        k = next((x for x, d in enumerate(dots) if d.group() not in (".", "．")), len(dots))
        if not (plain_at and k == len(dots)):
            t = n
            while t > 1 and domain[starts[t - 1] : ends[t - 1]].lower() not in _WORD_TLDS:
                t -= 1
            if plain_at and k >= 1 and t - 1 <= k:
                n = k + 1
            elif t >= 2:
                n = t
            else:
                continue
        labels = [domain[starts[k] : ends[k]] for k in range(n)]
        end = m.start("domain") + ends[n - 1]
        value = f"{m.group('local')}@{'.'.join(labels)}".lower()
        found.append(Identifier("email", value, text[m.start() : end], m.start(), end))
    return found


_SPELLED_RE = re.compile(rf"{_OPEN}\s{{0,2}}(?:{_WORD_AT}|@)|\s{_WORD_AT}\s", re.IGNORECASE)


def _maybe_spelled(text: str) -> bool:
    return _SPELLED_RE.search(text) is not None
