"""``adarchive settings``: every setting's effective value and where it came from.

Secrets never reach the terminal: a setting named like a secret (passphrase,
password, token, key, secret) shows ``***`` when set, and any URL in any value
(proxies, Redis, store, TSA, webhooks; inside lists and tables too) shows
its user name and password, and the values of query parameters that look like
credentials, as ``***``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crawler.configuration import ConfigError, load_settings, specs

MASK = "***"
SECRET_NAME = re.compile(r"PASSPHRASE|PASSWORD|PASSWD|TOKEN|SECRET|(?:^|_)KEY(?:$|_)|CREDENTIAL")
SECRET_QUERY = re.compile(r"token|key|secret|pass|sig|auth|credential", re.IGNORECASE)
WEBHOOK = re.compile(r"hook|/bot\d", re.IGNORECASE)
URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s,;\"'<>]+")


def mask(name: str, value: Any) -> Any:
    """``value`` with every secret in it replaced by ``***``."""
    if value in (None, "", [], {}):
        return value
    if SECRET_NAME.search(name):
        return MASK
    return _mask_value(value)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), value)
    if isinstance(value, Mapping):
        return {
            k: (MASK if SECRET_NAME.search(str(k).upper()) and v else _mask_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    return value


def mask_url(url: str) -> str:
    """A URL with its user:password and credential-like query values as ``***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return MASK  # not parseable: show nothing of it rather than a secret
    netloc = parts.netloc
    if parts.username is not None or parts.password is not None:
        where = (host or "") + (f":{port}" if port else "")
        netloc = f"{MASK}:{MASK}@{where}" if parts.password is not None else f"{MASK}@{where}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if SECRET_QUERY.search(k) else v) for k, v in pairs], safe="*")
    path = parts.path
    if WEBHOOK.search(f"{host or ''}{path}") and path.strip("/"):
        # Chat webhooks carry their credential in the path (/services/T000/B000/XXXX).
        first = path.strip("/").split("/")[0]
        path = f"/{first}/{MASK}" if "/" in path.strip("/") else f"/{MASK}"
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def rows(names: Sequence[str], overrides: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per setting: name, masked value, source (default, file path, environment, -s)."""
    defined = specs()
    unknown = [n for n in names if n not in defined]
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a defined setting (see crawler/settings.py)")
    _, config = load_settings(overrides)
    selected = list(names) or [n for n in defined if n.startswith("ADARCHIVE_")]
    return [
        {
            "name": name,
            "value": mask(name, config.values[name]),
            "source": config.sources[name],
            "doc": defined[name].doc,
        }
        for name in selected
    ]


def print_settings(
    names: Sequence[str], overrides: Mapping[str, Any], as_json: bool = False, doc: bool = False
) -> int:
    table = rows(names, overrides)
    if as_json:
        for row in table:
            out = {k: v for k, v in row.items() if doc or k != "doc"}
            print(json.dumps(out, ensure_ascii=False, default=str))
        return 0
    shown = [(r["name"], _show(r["value"]), r["source"]) for r in table]
    widths = [max(len(row[i]) for row in [("setting", "value", "source"), *shown]) for i in (0, 1)]
    print(f"{'setting':<{widths[0]}}  {'value':<{widths[1]}}  source")
    print(f"{'-' * widths[0]}  {'-' * widths[1]}  ------")
    for (name, value, source), row in zip(shown, table, strict=True):
        print(f"{name:<{widths[0]}}  {value:<{widths[1]}}  {source}".rstrip())
        if doc and row["doc"]:
            print(f"    {row['doc']}")
    return 0


def _show(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)
