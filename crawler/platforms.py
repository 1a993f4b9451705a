"""Load and validate declarative platform definitions (``spiders/definitions/*.toml``).

A definition is the whole of what technical staff write to add a platform, so
every mistake must come back as one line naming the file and the key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from crawler.resources import resource_dir
from crawler.saferegex import UnsafeRegex, compile_linear

SCHEMA_VERSION = 1
RENDER_MODES = ("static", "browser")
DEFINITIONS_DIR = resource_dir("spiders", "definitions")

PLATFORM_KEYS = {
    "name": True,
    "country": True,
    "language": True,
    "start_urls": True,
    "allowed_hosts": True,
    "description": False,
}
LISTING_KEYS = {"ad_links": True, "next_page": False, "render": False, "actions": False}
DETAIL_FIELDS = (
    "external_id",
    "title",
    "body",
    "name",
    "age",
    "location",
    "price",
    "posted",
    "poster_account",
    "images",
    "contacts",
)
DETAIL_REQUIRED = ("external_id", "title", "body")
FIELD_TABLE_KEYS = {"selector", "from", "re"}
# Always used with fullmatch: `$` would also match before a trailing newline.
NAME_RE = re.compile(r"[a-z][a-z0-9_]{1,62}")
# Browser actions (issue 6): what a page needs before it is read, e.g. an age
# gate to confirm or a "show number" button to press. One verb per action table.
ACTION_VERBS = ("click", "wait", "scroll", "cookies")
ACTION_OPTIONS = {"optional", "timeout"}
MAX_SCROLLS = 50
COOKIE_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class DefinitionError(ValueError):
    """A definition is invalid; the message is one line naming file and key."""


@dataclass(frozen=True)
class FieldSpec:
    """How one field is read: a selector (``css:``/``xpath:``) or the URL, then an optional regex."""

    selector: str | None = None
    source: str = "page"
    """``page`` (apply ``selector``) or ``url`` (apply ``regex`` to the page URL)."""
    regex: str | None = None

    @property
    def kind(self) -> str:
        if self.selector is None:
            return "url"
        return self.selector.split(":", 1)[0]

    @property
    def expression(self) -> str:
        return "" if self.selector is None else self.selector.split(":", 1)[1]


@dataclass(frozen=True)
class Action:
    """One step on a browser-rendered page before it is read (``[listing]``/``[detail] actions``).

    ``click`` and ``wait`` take a ``css:``/``xpath:`` selector, ``scroll`` a
    count, ``cookies`` name/value pairs set before the page loads. ``optional``
    skips an absent click target (checked once, without waiting) or a wait that
    times out; ``timeout`` (seconds) overrides the page timeout for this step.
    """

    verb: str
    selector: str | None = None
    times: int = 0
    cookies: tuple[tuple[str, str], ...] = ()
    optional: bool = False
    timeout: float | None = None

    def describe(self) -> str:
        """One line for logs and the page's metadata record."""
        if self.verb == "scroll":
            text = f"scroll {self.times}"
        elif self.verb == "cookies":
            text = "cookies " + ", ".join(name for name, _ in self.cookies)
        else:
            text = f"{self.verb} {self.selector}"
        return text + (" (optional)" if self.optional else "")


@dataclass(frozen=True)
class PlatformDefinition:
    """A validated platform definition."""

    name: str
    country: str
    language: str
    start_urls: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    ad_links: FieldSpec
    next_page: FieldSpec | None
    listing_render: str
    detail_render: str
    fields: dict[str, FieldSpec]
    path: Path | None = None
    description: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    listing_actions: tuple[Action, ...] = ()
    detail_actions: tuple[Action, ...] = ()

    @property
    def needs_browser(self) -> bool:
        return "browser" in (self.listing_render, self.detail_render)

    def render_for(self, role: str) -> str:
        """``static`` or ``browser`` for a ``listing`` or ``detail`` page."""
        return self.listing_render if role == "listing" else self.detail_render

    def actions_for(self, role: str) -> tuple[Action, ...]:
        """The browser actions of a ``listing`` or ``detail`` page."""
        return self.listing_actions if role == "listing" else self.detail_actions


def _where(path: Path | None, key: str) -> str:
    return f"{path or '<definition>'}: {key}"


def _parse_field(path: Path | None, key: str, value: Any) -> FieldSpec:
    if isinstance(value, str):
        return FieldSpec(selector=_check_selector(path, key, value))
    if isinstance(value, dict):
        unknown = set(value) - FIELD_TABLE_KEYS
        if unknown:
            raise DefinitionError(
                f"{_where(path, key)}: unknown key {sorted(unknown)[0]!r} "
                f"(allowed: selector, from, re)"
            )
        regex = value.get("re")
        if regex is not None:
            if not isinstance(regex, str):
                raise DefinitionError(f"{_where(path, key + '.re')}: must be a string")
            try:  # run on RE2, never on a backtracking engine (crawler/saferegex.py)
                compiled = compile_linear(regex)
            except UnsafeRegex as exc:
                raise DefinitionError(f"{_where(path, key + '.re')}: {exc}") from None
            if compiled.groups > 1:
                raise DefinitionError(
                    f"{_where(path, key + '.re')}: at most one capture group allowed"
                )
        source = value.get("from", "page")
        if source not in ("page", "url"):
            raise DefinitionError(f"{_where(path, key + '.from')}: must be 'page' or 'url'")
        if source == "url":
            if "selector" in value:
                raise DefinitionError(f"{_where(path, key)}: 'from = \"url\"' takes no selector")
            if regex is None:
                raise DefinitionError(f"{_where(path, key)}: 'from = \"url\"' needs 're'")
            return FieldSpec(selector=None, source="url", regex=regex)
        if "selector" not in value:
            raise DefinitionError(f"{_where(path, key)}: missing 'selector'")
        selector = _check_selector(path, key + ".selector", value["selector"])
        return FieldSpec(selector=selector, regex=regex)
    raise DefinitionError(f"{_where(path, key)}: must be a selector string or a table")


def _check_selector(path: Path | None, key: str, value: Any) -> str:
    from parsel import Selector
    from parsel.csstranslator import HTMLTranslator

    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(f"{_where(path, key)}: must be a non-empty selector string")
    prefix, sep, expr = value.partition(":")
    if not sep or prefix not in ("css", "xpath") or not expr.strip():
        raise DefinitionError(
            f"{_where(path, key)}: selector must start with 'css:' or 'xpath:' (got {value!r})"
        )
    try:
        if prefix == "css":
            HTMLTranslator().css_to_xpath(expr)
        else:
            Selector(text="<html></html>").xpath(expr)
    except Exception as exc:  # parsel/cssselect raise several types
        raise DefinitionError(f"{_where(path, key)}: invalid {prefix} selector: {exc}") from None
    return value


def _check_url(path: Path | None, key: str, url: Any) -> str:
    if not isinstance(url, str):
        raise DefinitionError(f"{_where(path, key)}: must be a URL string")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DefinitionError(f"{_where(path, key)}: bad URL {url!r} (need http(s)://host/...)")
    return url


def _table(path: Path | None, data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name)
    if table is None:
        raise DefinitionError(f"{_where(path, name)}: missing table [{name}]")
    if not isinstance(table, dict):
        raise DefinitionError(f"{_where(path, name)}: must be a table [{name}]")
    return table


def _check_keys(path: Path | None, table: dict[str, Any], section: str, allowed: Iterable[str]):
    allowed = set(allowed)
    for key in table:
        if key not in allowed:
            raise DefinitionError(
                f"{_where(path, f'{section}.{key}')}: unknown key (allowed: {', '.join(sorted(allowed))})"
            )


def _render(path: Path | None, table: dict[str, Any], section: str) -> str:
    value = table.get("render", "static")
    if value not in RENDER_MODES:
        raise DefinitionError(
            f"{_where(path, section + '.render')}: unknown render {value!r} (use 'static' or 'browser')"
        )
    return value


def _parse_actions(path: Path | None, table: dict[str, Any], section: str) -> tuple[Action, ...]:
    """Validate ``<section>.actions``: a list of one-verb tables, browser rendering only."""
    key = section + ".actions"
    value = table.get("actions")
    if value is None:
        return ()
    if table.get("render", "static") != "browser":
        raise DefinitionError(f'{_where(path, key)}: actions need {section}.render = "browser"')
    if not isinstance(value, list):
        raise DefinitionError(
            f'{_where(path, key)}: must be a list of tables like {{ click = "css:…" }}'
        )
    actions = tuple(_parse_action(path, f"{key}[{i}]", item) for i, item in enumerate(value))
    seen_other = False
    for i, action in enumerate(actions):
        if action.verb != "cookies":
            seen_other = True
        elif seen_other:
            raise DefinitionError(
                f"{_where(path, f'{key}[{i}]')}: cookies must come before click/wait/scroll "
                "(they are set before the page loads)"
            )
    return actions


def _parse_action(path: Path | None, key: str, item: Any) -> Action:
    if not isinstance(item, dict):
        raise DefinitionError(f'{_where(path, key)}: must be a table like {{ click = "css:…" }}')
    verbs = [name for name in item if name in ACTION_VERBS]
    unknown = sorted(set(item) - set(ACTION_VERBS) - ACTION_OPTIONS)
    if unknown:
        raise DefinitionError(
            f"{_where(path, f'{key}.{unknown[0]}')}: unknown key "
            f"(allowed: {', '.join(ACTION_VERBS)}, optional, timeout)"
        )
    if len(verbs) != 1:
        raise DefinitionError(
            f"{_where(path, key)}: needs exactly one of {', '.join(ACTION_VERBS)} (got {len(verbs)})"
        )
    verb = verbs[0]
    value = item[verb]
    optional = item.get("optional", False)
    if not isinstance(optional, bool):
        raise DefinitionError(f"{_where(path, key + '.optional')}: must be true or false")
    timeout = item.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600
    ):
        raise DefinitionError(f"{_where(path, key + '.timeout')}: must be seconds in (0, 600]")
    if verb in ("click", "wait"):
        selector = _check_selector(path, f"{key}.{verb}", value)
        if "::" in selector:
            raise DefinitionError(
                f"{_where(path, f'{key}.{verb}')}: selects elements only (no ::text / ::attr)"
            )
        return Action(verb, selector=selector, optional=optional, timeout=timeout)
    if verb == "scroll":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SCROLLS:
            raise DefinitionError(
                f"{_where(path, key + '.scroll')}: must be a count from 1 to {MAX_SCROLLS}"
            )
        return Action("scroll", times=value, optional=optional, timeout=timeout)
    if not isinstance(value, dict) or not value:
        raise DefinitionError(
            f'{_where(path, key + ".cookies")}: must be a table of name = "value" pairs'
        )
    for name, cookie in value.items():
        if not COOKIE_NAME_RE.fullmatch(name):
            raise DefinitionError(f"{_where(path, f'{key}.cookies.{name}')}: bad cookie name")
        if not isinstance(cookie, str) or any(c in cookie for c in ';,"\\\r\n'):
            raise DefinitionError(
                f'{_where(path, f"{key}.cookies.{name}")}: value must be a string without ; , " \\'
            )
    return Action("cookies", cookies=tuple(value.items()), optional=optional, timeout=timeout)


def parse_definition(data: dict[str, Any], path: Path | None = None) -> PlatformDefinition:
    """Validate a parsed TOML document and build the definition (one validator per table)."""
    _check_keys(path, data, "<top>", ("schema_version", "platform", "listing", "detail"))
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DefinitionError(
            f"{_where(path, 'schema_version')}: must be {SCHEMA_VERSION} (got {version!r})"
        )
    platform = _platform_table(path, data)
    listing, ad_links, next_page = _listing_table(path, data)
    detail, fields = _detail_table(path, data)
    return PlatformDefinition(
        name=platform.name,
        country=platform.country,
        language=platform.language,
        start_urls=platform.start_urls,
        allowed_hosts=platform.allowed_hosts,
        ad_links=ad_links,
        next_page=next_page,
        listing_render=_render(path, listing, "listing"),
        detail_render=_render(path, detail, "detail"),
        fields=fields,
        path=path,
        description=platform.description,
        raw=data,
        listing_actions=_parse_actions(path, listing, "listing"),
        detail_actions=_parse_actions(path, detail, "detail"),
    )


class _PlatformTable(NamedTuple):
    """The checked ``[platform]`` table."""

    name: str
    country: str
    language: str
    start_urls: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    description: str


def _platform_table(path: Path | None, data: dict[str, Any]) -> _PlatformTable:
    """``[platform]``: who the site is and where the crawl may go."""
    platform = _table(path, data, "platform")
    _check_keys(path, platform, "platform", PLATFORM_KEYS)
    for key, required in PLATFORM_KEYS.items():
        if required and key not in platform:
            raise DefinitionError(f"{_where(path, 'platform.' + key)}: missing required key")
    name = platform["name"]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise DefinitionError(
            f"{_where(path, 'platform.name')}: must be lower-case letters, digits, '_' (got {name!r})"
        )
    country = platform["country"]
    if not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country):
        raise DefinitionError(
            f"{_where(path, 'platform.country')}: must be an ISO 3166 alpha-2 code like 'KZ'"
        )
    language = platform["language"]
    if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)*", language):
        raise DefinitionError(f"{_where(path, 'platform.language')}: must be a code like 'ru'")
    start_urls = platform["start_urls"]
    if not isinstance(start_urls, list) or not start_urls:
        raise DefinitionError(f"{_where(path, 'platform.start_urls')}: must be a non-empty list")
    urls = tuple(
        _check_url(path, f"platform.start_urls[{i}]", url) for i, url in enumerate(start_urls)
    )
    hosts = _allowed_hosts(path, platform["allowed_hosts"], urls)
    return _PlatformTable(
        name, country, language, urls, hosts, str(platform.get("description", ""))
    )


def _allowed_hosts(path: Path | None, hosts: Any, urls: tuple[str, ...]) -> tuple[str, ...]:
    """``platform.allowed_hosts``: bare host names that cover every start URL."""
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) for h in hosts):
        raise DefinitionError(
            f"{_where(path, 'platform.allowed_hosts')}: must be a non-empty list of host names"
        )
    for host in hosts:
        if ":" in host or "/" in host:
            raise DefinitionError(
                f"{_where(path, 'platform.allowed_hosts')}: {host!r} must be a bare host name (no port, no scheme)"
            )
    for url in urls:
        if not host_allowed(urlsplit(url).hostname or "", hosts):
            raise DefinitionError(
                f"{_where(path, 'platform.start_urls')}: {url!r} is not on an allowed host"
            )
    return tuple(h.lower() for h in hosts)


def _listing_table(
    path: Path | None, data: dict[str, Any]
) -> tuple[dict[str, Any], FieldSpec, FieldSpec | None]:
    """``[listing]``: the table, its advert links and its optional next-page link."""
    listing = _table(path, data, "listing")
    _check_keys(path, listing, "listing", LISTING_KEYS)
    if "ad_links" not in listing:
        raise DefinitionError(f"{_where(path, 'listing.ad_links')}: missing required selector")
    ad_links = _parse_field(path, "listing.ad_links", listing["ad_links"])
    next_page = (
        _parse_field(path, "listing.next_page", listing["next_page"])
        if "next_page" in listing
        else None
    )
    return listing, ad_links, next_page


def _detail_table(
    path: Path | None, data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, FieldSpec]]:
    """``[detail]``: the table and its field selectors (the required ones present)."""
    detail = _table(path, data, "detail")
    _check_keys(path, detail, "detail", (*DETAIL_FIELDS, "render", "actions"))
    for key in DETAIL_REQUIRED:
        if key not in detail:
            raise DefinitionError(f"{_where(path, 'detail.' + key)}: missing required selector")
    fields = {
        key: _parse_field(path, f"detail.{key}", detail[key])
        for key in DETAIL_FIELDS
        if key in detail
    }
    return detail, fields


def load_definition(path: str | Path) -> PlatformDefinition:
    """Read and validate one definition file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DefinitionError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{path}: invalid TOML: {exc}") from None
    return parse_definition(data, path)


def load_all(directory: str | Path | None = None) -> dict[str, PlatformDefinition]:
    """All definitions in a directory, keyed by platform name (names must be unique)."""
    directory = Path(directory) if directory else DEFINITIONS_DIR
    found: dict[str, PlatformDefinition] = {}
    for path in sorted(directory.glob("*.toml")):
        definition = load_definition(path)
        if definition.name in found:
            raise DefinitionError(
                f"{path}: platform.name: {definition.name!r} already defined in {found[definition.name].path}"
            )
        found[definition.name] = definition
    return found


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """True if ``host`` is one of the allowed hosts or a subdomain of one."""
    host = host.lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in allowed_hosts)
