"""Messenger handles and off-platform links.

Links are classified by host: ``t.me``/``telegram.me`` give a Telegram handle,
``wa.me`` and ``api.whatsapp.com/send?phone=`` a phone on WhatsApp,
``line.me/ti/p/~id`` a LINE ID, ``open.kakao.com/o/…`` a KakaoTalk open chat;
every other link is a ``url``. Handles written in text (``@anna_k``,
``LINE: anna.k``, ``카톡 anna22``, ``微信：anna2024``) count only next to a cue
that names their messenger: an ``@name`` alone may be any social network.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from crawler.extract.cues import CueIndex
from crawler.extract.identifier import Identifier
from crawler.extract.phones import parse_e164
from crawler.extract.spans import SpanSet

_URL_CHARS = r"[^\s<>\"'`{}|\\^\[\]\u2013\u2014\u00ab\u00bb\u201c\u201d\u2018\u2019\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]"
_URL_RE = re.compile(
    r"(?:(?<![\w.+\-])https?://"
    r"|(?<![\w./@\-])(?:www\.|(?:t\.me|telegram\.(?:me|dog)|wa\.me|(?:api\.|web\.)?whatsapp\.com"
    r"|line\.me|lin\.ee|(?:open|pf|qr)\.kakao\.com)/))"
    rf"{_URL_CHARS}{{1,2048}}",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?…»\"'”’)"
_TG_HANDLE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_TG_RESERVED = frozenset({"joinchat", "addstickers", "addemoji", "share", "proxy", "socks", "iv"})
_LINE_PATH_RE = re.compile(r"/(?:r/)?ti/p/(~|@|%40)?([A-Za-z0-9._\-]{2,32})/?$", re.IGNORECASE)
_DIGITS_RE = re.compile(r"\+?[0-9]{7,15}")

_AT_HANDLE_RE = re.compile(r"(?<![\w.@/＠])[@＠]([A-Za-z][A-Za-z0-9_.]{2,31})(?![\w@＠])")
_ID_AFTER_CUE_RE = re.compile(
    r"[ \t]{0,2}[:：=\-]?[ \t]{0,2}(@?)([A-Za-z0-9][A-Za-z0-9._\-]{2,31})"
)
_STOPWORDS = frozenset(
    [
        "id",
        "me",
        "only",
        "available",
        "add",
        "and",
        "or",
        "please",
        "pls",
        "plz",
        "text",
        "call",
        "my",
        "is",
        "the",
        "same",
        "number",
        "here",
        "us",
        "now",
        "chat",
        "account",
        "name",
        "app",
        "ok",
        "okay",
        "free",
        "dm",
        "message",
        "msg",
        "contact",
        "whatsapp",
        "telegram",
        "line",
        "kakao",
        "wechat",
        "viber",
        "talk",
        "kakaotalk",
        "open",
        "official",
        "also",
        "too",
        "via",
        "on",
        "to",
        "at",
        "for",
        "with",
        "tel",
        "phone",
    ]
)
_HANDLE_CUES = ("telegram", "line", "kakao", "wechat", "other")


def _strip_trailing(url: str) -> str:
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def find_links(text: str, region: str | None) -> list[Identifier]:
    """Links: messenger links become their kinds, the rest ``url``."""
    found: list[Identifier] = []
    if "." not in text:
        return found
    for m in _URL_RE.finditer(text):
        raw = _strip_trailing(m.group())
        ident = classify_link(raw, m.start(), region)
        if ident is not None:
            found.append(ident)
    return found


# A messenger link's host → the reader of its path (and query). A reader returns
# (kind, value, via) or None when the link does not name an account; every
# other link is kept as a URL identifier.
_Found = tuple[str, str, str | None] | None
_LinkReader = Callable[[str, list[str], SplitResult, str | None], _Found]


def _telegram_link(bare: str, segs: list[str], parts: SplitResult, region: str | None) -> _Found:
    if segs and segs[0] == "s":
        segs = segs[1:]
    if segs and _TG_HANDLE_RE.fullmatch(segs[0]) and segs[0].lower() not in _TG_RESERVED:
        return "telegram", segs[0].lower(), None
    return None


def _whatsapp_number(number: str, region: str | None) -> _Found:
    number = unquote(number).strip()
    if _DIGITS_RE.fullmatch(number):
        parsed = parse_e164(number.lstrip("+"), True, region)
        if parsed is not None:
            return "phone", parsed[0], "whatsapp"
    return None


def _wa_me_link(bare: str, segs: list[str], parts: SplitResult, region: str | None) -> _Found:
    return _whatsapp_number(segs[0] if segs else "", region)


def _whatsapp_send_link(
    bare: str, segs: list[str], parts: SplitResult, region: str | None
) -> _Found:
    if not parts.path.startswith("/send"):
        return None
    return _whatsapp_number((parse_qs(parts.query).get("phone") or [""])[0], region)


def _line_link(bare: str, segs: list[str], parts: SplitResult, region: str | None) -> _Found:
    lm = _LINE_PATH_RE.search(parts.path)
    if lm:
        return "line", ("@" if lm.group(1) in ("@", "%40") else "") + lm.group(2).lower(), None
    return None


def _kakao_link(bare: str, segs: list[str], parts: SplitResult, region: str | None) -> _Found:
    if not segs:
        return None
    code = "/".join(segs[:2]) if segs[0] == "o" and len(segs) > 1 else segs[0]
    return "kakao", f"{bare}/{code}", None


_LINK_HOSTS: dict[str, _LinkReader] = {
    "t.me": _telegram_link,
    "telegram.me": _telegram_link,
    "telegram.dog": _telegram_link,
    "wa.me": _wa_me_link,
    "line.me": _line_link,
    "open.kakao.com": _kakao_link,
    "pf.kakao.com": _kakao_link,
}


def _link_reader(bare: str) -> _LinkReader | None:
    """The reader for a host; ``*.whatsapp.com`` (api., web., chat.) reads ``/send?phone=``."""
    reader = _LINK_HOSTS.get(bare)
    if reader is None and bare.endswith("whatsapp.com"):
        return _whatsapp_send_link
    return reader


def classify_link(raw: str, start: int, region: str | None = None) -> Identifier | None:
    """Turn one link (as written, at ``start``) into an identifier: an account where its
    host is a messenger's (the table above), else the URL itself."""
    end = start + len(raw)
    url = (
        raw if "://" in raw else ("http://" if raw.lower().startswith("www.") else "https://") + raw
    )
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    if "." not in host or len(host) < 4:
        return None
    bare = host.removeprefix("www.")
    reader = _link_reader(bare)
    if reader is not None:
        found = reader(bare, [s for s in parts.path.split("/") if s], parts, region)
        if found is not None:
            kind, value, channel = found
            return Identifier(kind, value, raw, start, end, channel)
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path if parts.path != "/" else ""
    query = f"?{parts.query}" if parts.query else ""
    return Identifier("url", f"{parts.scheme.lower()}://{netloc}{path}{query}", raw, start, end)


def find_handles(
    text: str,
    cues: CueIndex,
    claimed: SpanSet,
    bare_at: str | None = None,
) -> list[Identifier]:
    """Handles next to a messenger cue: ``@name`` and IDs written after the cue.

    ``bare_at`` is the messenger a ``@name`` with no cue means in this market
    (``markets.bare_at_messenger``). Nothing inside ``claimed`` spans (links,
    e-mails) is read as a handle.
    """
    found: dict[int, Identifier] = {}
    if "@" in text or "＠" in text:
        for m in _AT_HANDLE_RE.finditer(text):
            kind = _nearest_handle_cue(cues, m.start(), m.end()) or bare_at
            ident = _make(text, kind, m.group(1), True, m.start(), m.start(1))
            if ident is not None and not claimed.overlaps(ident.start, ident.end):
                found[m.start()] = ident
    for cue in cues.cues:
        if cue.kind not in ("telegram", "line", "kakao", "wechat"):
            continue
        m = _ID_AFTER_CUE_RE.match(text, cue.end)
        if m is None:
            continue
        at = bool(m.group(1))
        start = m.start(1) if at else m.start(2)
        if start in found:
            continue
        weak = (
            not at and not _COLON_RE.search(m.group()) and not _USERNAME_LIKE_RE.search(m.group(2))
        )
        if cue.kind == "telegram" and weak:
            continue  # "Telegram anna" is too weak without "@", ":" or a username's digits
        if _GLUED_RE.match(text, m.end()):
            continue  # the start of an e-mail or a link, not an ID
        numeric = cue.kind == "line" and _numeric_line_id(text[cue.start : cue.end], m.group(2))
        ident = _make(text, cue.kind, m.group(2), at, start, m.start(2), numeric)
        if ident is not None and not claimed.overlaps(ident.start, ident.end):
            found[start] = ident
    return list(found.values())


_PHONE_IN_CUE_RE = re.compile(r"tel|phone|โทร|เบอร์|電話", re.IGNORECASE)


def _numeric_line_id(cue: str, name: str) -> bool:
    """Is an all-digit name after a LINE cue a LINE ID?

    Yes: people choose numeric LINE IDs, often their phone number, and what the
    advert offers is the ID to search in LINE. A number only counts as a phone
    when the cue says so ("LINE/Tel 081…" is read by the phone finder).
    """
    return name.isdigit() and not _PHONE_IN_CUE_RE.search(cue)


_COLON_RE = re.compile(r"[:：]")
_USERNAME_LIKE_RE = re.compile(r"[A-Za-z][0-9_]|_")  # "anna_k", "anna22": not a word
_GLUED_RE = re.compile(r"[@＠]|://|\.[A-Za-z]{2,}/")


def _nearest_handle_cue(cues: CueIndex, start: int, end: int) -> str | None:
    before = [c for c in cues.before(start, 40) if c.kind in _HANDLE_CUES]
    if before:
        return before[-1].kind
    after = [c for c in cues.after(end, 25) if c.kind in _HANDLE_CUES]
    return after[0].kind if after else None


def _make(
    text: str,
    kind: str | None,
    name: str,
    at: bool,
    start: int,
    name_start: int,
    numeric: bool = False,
) -> Identifier | None:
    """Validate a handle for its messenger; the match runs from ``start`` to the name's end.

    ``numeric`` allows a name of digits only (a LINE ID announced as one).
    """
    if kind is None or kind == "other":
        return None
    name = name.rstrip(".") if kind == "telegram" else name.rstrip(".-_")  # sentence punctuation
    low = name.lower()
    if low in _STOPWORDS or not (numeric or any(c.isalpha() for c in name)):
        return None
    if kind == "telegram":
        if not _TG_HANDLE_RE.fullmatch(name):
            return None
        value = low
    elif kind == "wechat":
        if not _WECHAT_RE.fullmatch(name):
            return None
        value = low
    elif len(name) > 20:
        return None
    else:  # line keeps the "@" of official accounts; kakao IDs have none
        value = ("@" if at and kind == "line" else "") + low
    end = name_start + len(name)
    return Identifier(kind, value, text[start:end], start, end)


_WECHAT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{5,19}")
