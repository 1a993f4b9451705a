"""One syntax for an identifier given on the command line, normalised as extraction does.

Every command that takes an identifier (``watch add``, ``export --identifier``,
``identifiers --identifier``) accepts ``KIND:VALUE`` or a bare value the
extractor recognises (with ``--region`` for national phone numbers). The
value goes through :func:`crawler.extract.extract_identifiers`, so
``phone:07592846614 --region GB`` is stored and matched as ``+447592846614``
exactly as an advert writing it would be; what the extractor does not accept
(``phone:abc``) is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.extract import KINDS, extract_identifiers

HANDLE_KINDS = ("telegram", "line", "kakao", "wechat")
# Prefixes that name a kind by another word (a WhatsApp number is a phone).
ALIASES = {"whatsapp": "phone", "tel": "phone", "mailto": "email"}


class IdentifierError(ValueError):
    """An identifier argument that cannot be understood; the message is one line."""


@dataclass(frozen=True)
class IdentifierArg:
    """A parsed identifier: kind and normalised value, as the store keeps them."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def check_kind(kind: str | None) -> str | None:
    """``kind`` lower-cased if it is a known kind; an unknown kind is an error."""
    if kind is None:
        return None
    if kind.lower() not in KINDS:
        raise IdentifierError(f"unknown identifier kind {kind!r} (one of {', '.join(KINDS)})")
    return kind.lower()


def split_kind(text: str) -> tuple[str | None, str]:
    """``KIND:VALUE`` -> (kind, value); anything else -> (None, text)."""
    prefix, sep, rest = text.strip().partition(":")
    word = prefix.strip().lower()
    if sep and word.isalpha() and not rest.startswith("//"):
        return ALIASES.get(word, word), rest.strip()  # an unknown word is refused as a kind
    return None, text.strip()


def parse_identifier(
    text: str, region: str | None = None, kind: str | None = None
) -> IdentifierArg:
    """Parse ``KIND:VALUE`` or a bare recognisable value into a normalised identifier."""
    given_kind, raw = split_kind(text)
    kind = check_kind(given_kind or kind)
    if not raw:
        raise IdentifierError(f"empty identifier in {text!r}")
    if kind == "url":
        if not raw.lower().startswith(("http://", "https://")):
            raise IdentifierError(f"url:{raw} is not an http(s) URL")
        return IdentifierArg("url", raw)
    probes = [raw]
    if kind in HANDLE_KINDS:
        probes = [f"{kind}: {raw}"] + ([] if raw.startswith("@") else [f"{kind}: @{raw}"])
    for probe in probes:
        found = {
            (i.kind, i.value)
            for i in extract_identifiers(probe, region)
            if kind is None or i.kind == kind
        }
        if len(found) == 1:
            return IdentifierArg(*found.pop())
        if len(found) > 1:
            raise IdentifierError(f"{text!r} holds several identifiers: give one at a time")
    raise IdentifierError(_why_not(text, raw, kind, region))


def _why_not(text: str, raw: str, kind: str | None, region: str | None) -> str:
    digits = sum(c.isdigit() for c in raw)
    if kind in (None, "phone") and digits >= 6 and not raw.lstrip().startswith("+") and not region:
        return (
            f"{text!r} is not a phone number in international form: give --region CC "
            "(e.g. --region GB) or write it with +country code"
        )
    if kind == "phone":
        where = f" for region {region}" if region else ""
        return f"{text!r} is not a valid phone number{where}"
    if kind is not None:
        return f"{text!r} is not a valid {kind} identifier"
    return (
        f"no identifier recognised in {text!r}: give KIND:VALUE "
        f"(kinds: {', '.join(KINDS)}), e.g. phone:+447700900123 or telegram:some_name"
    )
