"""CDXJ index lines for the exported WARC files (``indexes/index.cdx``).

ReplayWeb.page looks captures up by SURT key and 14-digit timestamp, then
reads ``filename``/``offset``/``length`` straight out of the ZIP entry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit


def surt(url: str) -> str:
    """Sort-friendly URL key: ``org,example)/path?a=1&b=2`` (lower-cased, query sorted)."""
    if url.startswith("urn:"):
        return url
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().strip(".")
    if host.startswith("www."):
        host = host[4:]
    # IPv4 addresses are reversed like names: pywb's and wabac.js's keys both do so.
    key = ",".join(reversed(host.split(".")))
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    if port and port != default:
        key += f":{port}"
    # pywb's keys (the surt library) drop a trailing slash: /profile/x/ is keyed /profile/x.
    path = parts.path.rstrip("/") or "/"
    query = ""
    if parts.query:
        query = "?" + urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return f"{key}){path}{query}".lower()


def cdx_timestamp(dt: datetime) -> str:
    """17 digits (milliseconds), as wabac.js reads them: two captures of one URL within a
    second (a browser page before and after its age gate) stay distinct in replay."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y%m%d%H%M%S") + f"{dt.microsecond // 1000:03d}"


def cdxj_line(
    *,
    url: str,
    fetched_at: datetime,
    mime: str | None,
    status: int | None,
    payload_sha256: str | None,
    filename: str,
    offset: int,
    length: int,
    record_id: str,
    kind: str,
) -> str:
    fields: dict[str, object] = {
        "url": url,
        "mime": (mime or "").split(";")[0].strip() or "unk",
        "filename": filename,
        "offset": str(offset),
        "length": str(length),
        "recordId": record_id,
    }
    if status is not None:
        fields["status"] = str(status)
    if payload_sha256:
        fields["digest"] = "sha256:" + payload_sha256
    if kind == "revisit":
        fields["mime"] = "warc/revisit"
    elif kind == "resource":
        fields["status"] = fields.get("status", "200")
    return f"{surt(url)} {cdx_timestamp(fetched_at)} {json.dumps(fields, sort_keys=True)}"
