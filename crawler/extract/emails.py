"""E-mail addresses, including "anna [at] example [dot] com" and "собака"/"точка" forms."""

from __future__ import annotations

import re

from crawler.extract.identifier import Identifier

_LOCAL = r"[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_])?"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_WORD_AT = r"(?:at|собака|собачка|эт)"
_WORD_DOT = r"(?:dot|точка|тчк)"
_OPEN = r"[\[\(\{<]"
_CLOSE = r"[\]\)\}>]"
_AT = (
    rf"(?:\s{{0,2}}[@＠]\s{{0,2}}"
    rf"|\s{{0,2}}{_OPEN}\s{{0,2}}(?:{_WORD_AT}|@)\s{{0,2}}{_CLOSE}\s{{0,2}}"
    rf"|\s{{1,3}}{_WORD_AT}\s{{1,3}})"
)
_DOT = (
    rf"(?:[.．]"
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
        labels = [p for p in _DOT_SPLIT_RE.split(m.group("domain")) if p]
        spelled = (
            at not in ("@", "＠")
            or m.group("domain").count(".") + m.group("domain").count("．") != len(labels) - 1
        )
        if spelled and labels[-1].lower() not in _WORD_TLDS:
            continue
        value = f"{m.group('local')}@{'.'.join(labels)}".lower()
        found.append(Identifier("email", value, m.group(), m.start(), m.end()))
    return found


_SPELLED_RE = re.compile(rf"{_OPEN}\s{{0,2}}(?:{_WORD_AT}|@)|\s{_WORD_AT}\s", re.IGNORECASE)


def _maybe_spelled(text: str) -> bool:
    return _SPELLED_RE.search(text) is not None
