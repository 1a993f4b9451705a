"""The exhibit as one HTML document (Jinja2, autoescaped), ready to print to PDF.

Every page-derived value passes through autoescaping; the only markup built in
code is the ``<mark>`` around an identifier, around escaped text. Pictures are
embedded as ``data:`` URIs, so printing needs no network at all.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from crawler import __version__
from crawler.analysis.analysis_config import AnalysisConfig
from crawler.analysis.svg import link_map
from crawler.exhibit.case import Case, Mark
from crawler.exhibit.pictures import Picture

FIELD_LABELS = {
    "title": "Title",
    "name": "Name",
    "age": "Age",
    "location": "Location",
    "price": "Price",
    "posted": "Posted",
    "body": "Text",
}


@dataclass(frozen=True)
class Examiner:
    name: str
    unit: str
    os_user: str


# The recorded settings that say how hard the crawler pressed on a site.
PACE_SETTINGS = (
    "DOWNLOAD_DELAY", "RANDOMIZE_DOWNLOAD_DELAY", "CONCURRENT_REQUESTS_PER_DOMAIN",
    "CONCURRENT_REQUESTS_PER_IP", "AUTOTHROTTLE_ENABLED", "ADARCHIVE_ROBOTS_CRAWL_DELAY",
    "ROBOTSTXT_OBEY",
)  # fmt: skip

# Characters that reorder or hide what a reader sees (bidi overrides, isolates, marks)
# and other controls: shown as ⟨U+XXXX⟩, never obeyed.
INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def visible_controls(value: Any) -> Any:
    """Jinja's ``finalize``: page-derived text with its control characters made visible."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return INVISIBLE.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", value)
    return value


def highlight(text: str, marks: Sequence[Mark]) -> Markup:
    """``text`` escaped, with each identifier's span wrapped in ``<mark>``."""
    out: list[str] = []
    at = 0
    for mark in sorted(marks, key=lambda m: (m.start, -m.end)):
        if mark.start < at or mark.end > len(text) or text[mark.start : mark.end] != mark.match:
            continue  # overlapping, or offsets that do not fit this text: list it, no mark
        out.append(escape(visible_controls(text[at : mark.start])))
        out.append(Markup("<mark>{}</mark>").format(visible_controls(text[mark.start : mark.end])))
        at = mark.end
    out.append(escape(visible_controls(text[at:])))
    return Markup("").join(out)


def network_graph(network: dict[str, Any]) -> Markup:
    """The network's adverts on a circle, joined by their links (kind on each line)."""
    names = {
        ad["id"]: f"[{ad['id']}] {ad['platform']}:{ad['external_id']}" for ad in network["ads"]
    }
    nodes = {label: 1.0 for label in names.values()}
    edges = {
        (names[link["a"]], names[link["b"]]): float(link["weight"])
        for link in network["links"]
        if link["a"] in names and link["b"] in names
    }
    return Markup(link_map(nodes, edges, f"network {network['label']}", node_values=False))


def render(
    case: Case,
    pictures: dict[str, Picture],
    examiner: Examiner,
    analysis: AnalysisConfig,
    made_at: datetime,
    unblurred: bool,
    timestamped: bool,
    checks: Sequence[str],
    signer: str,
    warnings: Sequence[str],
) -> str:
    env = Environment(
        loader=PackageLoader("crawler.exhibit", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=visible_controls,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["highlight"] = highlight
    env.filters["data_uri"] = lambda png: "data:image/png;base64," + base64.b64encode(png).decode()
    ads_by_id = {ad.ad_id: ad for ad in case.adverts}
    return env.get_template("exhibit.html.j2").render(
        case=case,
        adverts=case.adverts,
        pictures=pictures,
        networks=[
            {**net, "graph": network_graph(net), "members": ads_by_id} for net in case.networks
        ],
        examiner=examiner,
        indicators=sorted(analysis.indicators.values(), key=lambda r: r.id),
        made_at=made_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        software=f"adarchive {__version__}",
        field_labels=FIELD_LABELS,
        unblurred=unblurred,
        timestamped=timestamped,
        checks=checks,
        signer=signer,
        warnings=warnings,
        in_bundle=case.in_bundle,
        bundle_rows={row.capture_id: row for row in case.rows},
        short_time=_short_time,
        pace_settings=PACE_SETTINGS,
        reconstruction=sorted(
            {line for info in case.warcinfos for line in info.get("reconstruction", [])}
        ),
        marks_in=lambda ad, field: [m for m in ad.marks if m.field == field],
        when=_when,
    )


def _short_time(value: str) -> str:
    """captures.csv time to the second, for narrow table cells (the full time is in the CSV)."""
    return value[:19].replace("T", " ") + " UTC" if value else "–"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value.replace("T", " ").replace("Z", " UTC")
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")
