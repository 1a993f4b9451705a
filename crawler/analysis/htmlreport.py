"""`adarchive report`: one self-contained HTML file for analysts.

Self-contained: inline CSS and SVG, pictures as ``data:`` thumbnails, no
JavaScript at all and a Content-Security-Policy that forbids scripts and
remote loads, so nothing in the file can call out or run. Everything captured
is escaped (adverts are written by adversaries). Pictures are blurred; the
reader reveals them per view (a checkbox, not remembered). Images on the
known-hash list are never rendered.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections import Counter
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.analysis import svg
from crawler.analysis.analysis_config import DATA_DIR, AnalysisConfig
from crawler.analysis.network_detail import list_networks, network_detail
from crawler.analysis.riskmap import RiskMap, build_risk_map
from crawler.analysis.warcread import read_payload
from crawler.store.models import Ad, AdIndicator, AnalysisRun, Image, Link, Network

CALIBRATION_FILE = DATA_DIR / "indicator_calibration.json"
THUMB = 160
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header,main{max-width:1100px;margin:0 auto;padding:12px 20px}
header{border-bottom:1px solid #ddd;background:#fff}
h1{font-size:22px;margin:6px 0} h2{margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;background:#fff} td,th{border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#f0f0f0} .num{text-align:right} .muted{color:#777} .warn{background:#fff4e5;border:1px solid #f0c36d;padding:8px}
svg text{font-size:11px;fill:#333} svg text.edge{fill:#a33;font-size:10px}
.thumb{display:inline-block;position:relative;overflow:hidden;margin:4px;border:1px solid #ccc;background:#eee;vertical-align:top}
.thumb img{display:block;width:120px;filter:blur(14px)}
.thumb label{font-size:11px;padding:2px 4px}
.thumb input:checked ~ img,#reveal-all:checked ~ main .thumb img{filter:none}
.withheld{display:inline-block;width:120px;padding:8px;font-size:11px;background:#333;color:#fff;margin:4px}
.net{background:#fff;border:1px solid #ddd;padding:6px 12px;margin:14px 0}
code,.mono{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.ref{display:block;font:10px/1.3 ui-monospace,monospace;color:#666;word-break:break-all}
.thumb .ref{width:120px}
@media print{
 body{background:#fff;font-family:"Noto Sans","Noto Sans CJK JP","Noto Sans CJK KR","Noto Sans Thai",sans-serif;font-size:10pt}
 header,main{max-width:none;padding:0}
 .net{break-before:page;border:none;padding:0}
 table{width:100%} td,th{font-size:8pt;padding:2px 3px}
 .thumb img,.thumb .ref{width:80px}
 tr,.thumb,svg{break-inside:avoid}
 h2,h3,h4{break-after:avoid}
 .thumb input,.thumb label,#reveal-all,label[for=reveal-all]{display:none}
 a{color:#000;text-decoration:none}
 a[href]::after{content:""}
}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _table(header: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _thumbnail(data: bytes) -> str | None:
    """A small JPEG re-encoding as a data: URI (drops metadata and any non-image payload)."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data)) as img:
            if img.width * img.height > 40_000_000:
                return None
            img = img.convert("RGB")
            img.thumbnail((THUMB, THUMB))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=70)
    except Exception:  # hostile or truncated bytes: no picture, not a crash
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class ReportBuilder:
    def __init__(
        self,
        session: Session,
        config: AnalysisConfig,
        data_root: Path | None = None,
        truth: dict[str, Any] | None = None,
        replay_prefix: str | None = None,
        max_networks: int = 20,
        max_images: int = 300,
        out_dir: Path | None = None,
    ) -> None:
        self.session = session
        self.config = config
        self.data_root = data_root
        self.truth = truth
        self.replay_prefix = replay_prefix
        self.max_networks = max_networks
        self.images_left = max_images
        self.shown = 0
        self.strong = config.strong_default
        self.out_dir = out_dir

    # -- pieces

    def capture_link(self, ref: dict[str, Any] | None, text: str = "capture") -> str:
        if not ref:
            return "<span class=muted>no capture</span>"
        title = f"{ref['warc_file']} @ {ref['offset']} · {ref['record_id']} · payload sha256 {ref['payload_sha256']}"
        # The reference is printed, not only a tooltip: a printed report keeps its proof.
        printed = f'<span class="ref">{_e(title)}</span>'
        if self.replay_prefix:
            stamp = ref["fetched_at"][:19].replace("-", "").replace(":", "").replace("T", "")
            href = f"{self.replay_prefix.rstrip('/')}/{stamp}/{ref['url']}"
        elif ref.get("warc_file"):
            href = str(ref["warc_file"])
            if self.data_root is not None and self.out_dir is not None:
                # relative to where the report is written, so the link opens the WARC file
                href = Path(os.path.relpath(self.data_root / href, self.out_dir)).as_posix()
        else:
            return f'<span title="{_e(title)}">{_e(text)} #{_e(ref["capture_id"])}</span>{printed}'
        return f'<a href="{_e(href)}" title="{_e(title)}" rel="noreferrer noopener">{_e(text)} #{_e(ref["capture_id"])}</a>{printed}'

    def picture(self, image: dict[str, Any]) -> str:
        if image["flagged"]:
            return '<span class="withheld">image withheld: matches the known-hash list</span>'
        ref = image.get("capture")
        if self.images_left <= 0 or not ref or self.data_root is None or ref.get("offset") is None:
            return f'<span class="withheld">image not shown (sha256 {_e(image["sha256"][:12])}…)</span>'
        data = read_payload(self.data_root, ref["warc_file"], ref["offset"])
        uri = _thumbnail(data) if data else None
        if uri is None:
            return f'<span class="withheld">image unreadable (sha256 {_e(image["sha256"][:12])}…)</span>'
        self.images_left -= 1
        self.shown += 1
        box = f"reveal-{self.shown}"
        return (
            f'<span class="thumb"><input type="checkbox" id="{box}" autocomplete="off">'
            f'<label for="{box}">reveal</label>'
            f'<img alt="advert image (blurred)" src="{uri}" '
            f'title="sha256 {_e(image["sha256"])} · phash {_e(image["phash"])}">'
            f'<span class="ref">sha256 {_e(image["sha256"])} · phash {_e(image["phash"])}</span></span>'
        )

    def false_positive_rates(self) -> tuple[dict[str, float], str]:
        if self.truth is not None:
            from crawler.analysis.scoring import indicator_false_positive_rates

            fp = indicator_false_positive_rates(self.session, self.truth)
            return (
                fp["rates"],
                f"measured now against truth.json (seed {fp['seed']}, {fp['independent_ads']} independent adverts)",
            )
        if CALIBRATION_FILE.exists():
            cal = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
            return cal.get("rates", {}), _e(cal.get("note", "recorded calibration"))
        return {}, "not measured"

    # -- sections

    def summary(self, risk: RiskMap) -> str:
        s = self.session
        run = s.scalar(
            select(AnalysisRun)
            .where(AnalysisRun.status == "finished")
            .order_by(AnalysisRun.id.desc())
            .limit(1)
        )
        ads = s.scalar(select(func.count(Ad.id))) or 0
        nets = s.scalar(select(func.count(Network.id)).where(Network.strong == self.strong)) or 0
        links = s.scalar(select(func.count(Link.id))) or 0
        flagged = s.scalar(select(func.count(Image.id)).where(Image.flagged.is_(True))) or 0
        view = (
            "strong links only (shared identifiers and images)"
            if self.strong
            else "all links (including near-duplicate text)"
        )
        when = run.finished_at.isoformat() if run and run.finished_at else "never"
        return (
            '<p class="warn"><b>Leads, not verdicts.</b> Every link and indicator below says why it was '
            "raised and which capture shows it; all of it is for human review.</p>"
            + _table(
                [
                    "adverts",
                    "platforms",
                    "networks",
                    "stored links",
                    "flagged images",
                    "network view",
                    "last analysis",
                ],
                [
                    [
                        _e(ads),
                        _e(len(risk.platforms)),
                        _e(nets),
                        _e(links),
                        _e(flagged),
                        _e(view),
                        _e(when),
                    ]
                ],
            )
        )

    def platform_section(self, risk: RiskMap) -> str:
        indicators = [r for r in self.config.indicators.values() if r.enabled]
        rows = []
        for p in sorted(risk.platforms.values(), key=lambda p: -p.risk_score):
            rows.append(
                [
                    _e(p.name),
                    _e(p.ads),
                    _e(p.identifiers),
                    f"{p.network_share * 100:.0f}%",
                    _e(p.risk_score),
                ]
            )
        names = sorted(risk.platforms)
        prevalence = {
            (p.name, r.id): p.indicator_share(r.id)
            for p in risk.platforms.values()
            for r in indicators
        }
        cross = risk.cross_links()
        link_rows = [
            [_e(a), _e(b), _e(risk.shared_identifiers.get((a, b), 0)), _e(risk.shared_images.get((a, b), 0)),
             _e(risk.text_links.get((a, b), 0))]
            for (a, b) in sorted(cross)
        ]  # fmt: skip
        heat = {}
        for (a, b), n in risk.shared_identifiers.items():
            heat[(a, b)] = heat[(b, a)] = n
        return (
            "<h2>Platform risk map</h2>"
            + _table(
                [
                    "platform",
                    "adverts",
                    "identifiers",
                    "adverts in networks",
                    "mean indicator weight",
                ],
                rows,
                {1, 2, 3, 4},
            )
            + "<h3>Platform link map</h3><p class=muted>Circle size: adverts. Line width: shared identifiers + shared images + near-duplicate text links.</p>"
            + svg.link_map(
                {p.name: p.ads for p in risk.platforms.values()}, cross, "Platform link map"
            )
            + _table(
                ["platform", "platform", "shared identifiers", "shared images", "text links"],
                link_rows,
                {2, 3, 4},
            )
            + "<h3>Shared identifiers, platform × platform</h3>"
            + svg.heatmap(names, names, heat, "Shared identifiers between platforms")
            + "<h3>Indicator prevalence per platform</h3><p class=muted>Share of each platform's adverts on which the indicator fired.</p>"
            + svg.heatmap(
                names, [r.id for r in indicators], prevalence, "Indicator prevalence", percent=True
            )
        )

    def indicator_section(self) -> str:
        rates, note = self.false_positive_rates()
        counts = dict(
            self.session.execute(
                select(AdIndicator.indicator, func.count()).group_by(AdIndicator.indicator)
            ).all()
        )
        rows = []
        for r in self.config.indicators.values():
            fp = rates.get(r.id)
            rows.append([
                f"<b>{_e(r.title)}</b><br><code>{_e(r.id)}</code><br><span class=muted>{_e(r.description)}</span>",
                _e(r.source), _e(r.weight), "on" if r.enabled else "off", _e(counts.get(r.id, 0)),
                "–" if not r.enabled else f"{(fp or 0) * 100:.1f}%",
            ])  # fmt: skip
        return (
            "<h2>Risk indicators</h2>"
            f"<p class=muted>False-positive rate: share of the fixture web's independent advertisers "
            f"(no planted network) on which the rule fires — {note}.</p>"
            + _table(
                ["indicator", "source", "weight", "enabled", "adverts", "false-positive rate"],
                rows,
                {2, 4, 5},
            )
        )

    def distribution_section(self, risk: RiskMap) -> str:
        sizes = Counter(
            self.session.scalars(select(Network.size).where(Network.strong == self.strong))
        )
        crawl_rows = [
            [
                _e(c["platform"]),
                _e(c["started_at"].isoformat() if c["started_at"] else ""),
                _e(c["ads"]),
                _e(c["new_ads"]),
            ]
            for c in risk.crawls
        ]
        return (
            "<h2>Network size distribution</h2>"
            + svg.histogram(dict(sizes), "Network sizes", "adverts per network")
            + "<h2>Timeline</h2><p class=muted>Adverts by the day they were first captured, per platform; crawls below (trend across recrawls).</p>"
            + svg.timeline(risk.first_seen, "Adverts first seen per day")
            + _table(
                ["platform", "crawl started (UTC)", "adverts seen", "new adverts"],
                crawl_rows,
                {2, 3},
            )
        )

    def network_section(self) -> str:
        networks = list_networks(self.session, self.strong, self.max_networks)
        if not networks:
            return "<h2>Top networks</h2><p class=muted>No networks (run <code>adarchive analyze</code>).</p>"
        parts = [f"<h2>Top networks</h2><p class=muted>The {len(networks)} highest-scoring networks "
                 "(sum of indicator weights of their adverts, then size).</p>"]  # fmt: skip
        for net in networks:
            d = network_detail(self.session, net.label)
            ad_rows = []
            pictures: dict[int, list[str]] = {}
            for image in d["images"]:
                pictures.setdefault(image["ad"], []).append(self.picture(image))
            for ad in d["ads"]:
                inds = ", ".join(sorted({i["indicator"] for i in ad["indicators"]}))
                ad_rows.append([
                    _e(ad["id"]), _e(ad["platform"]), _e(ad["external_id"]), _e(ad["name"]), _e(ad["age"]),
                    _e(ad["location"]), _e(ad["title"]), f"<span class=mono>{_e(ad['url'])}</span>",
                    self.capture_link(ad["capture"]), _e(inds), "".join(pictures.get(ad["id"], [])),
                ])  # fmt: skip
            link_rows = [
                [_e(link["a"]), _e(link["b"]), _e(link["kind"]), _e(link["weight"]), _e(link["reason"]),
                 self.capture_link(link["capture_a"]) + " " + self.capture_link(link["capture_b"])]
                for link in d["links"]
            ]  # fmt: skip
            ident_rows = [
                [_e(i["kind"]), f"<span class=mono>{_e(i['value'])}</span>", _e(i["ads"])]
                for i in d["identifiers"][:30]
            ]
            parts.append(
                f'<div class="net" id="{_e(d["label"])}"><h3>Network {_e(d["label"])} — {_e(d["size"])} adverts on '
                f"{_e(d['platforms'])} platform(s), score {_e(d['score'])}</h3>"
                + _table(
                    [
                        "ad",
                        "platform",
                        "external id",
                        "name",
                        "age",
                        "location",
                        "title",
                        "URL (not a link)",
                        "proof",
                        "indicators",
                        "images (blurred)",
                    ],
                    ad_rows,
                )  # fmt: skip
                + "<h4>Why these adverts are linked (a spanning set of links)</h4>"
                + _table(["ad", "ad", "kind", "weight", "reason", "captures"], link_rows)
                + "<h4>Identifiers</h4>"
                + _table(["kind", "value", "adverts"], ident_rows, {2})
                + "</div>"
            )
        return "".join(parts)

    def render(self) -> str:
        risk = build_risk_map(self.session, strong=self.strong)
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = (
            self.summary(risk) + self.platform_section(risk) + self.distribution_section(risk)
            + self.indicator_section() + self.network_section()
        )  # fmt: skip
        return (
            "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="referrer" content="no-referrer">'
            "<title>adarchive report</title>"
            f"<style>{CSS}</style></head><body>"
            '<input type="checkbox" id="reveal-all" autocomplete="off">'
            '<label for="reveal-all"> reveal all images in this view (not remembered)</label>'
            f"<header><h1>adarchive — platform risk report</h1><p class=muted>Generated {_e(generated)}. "
            "Images are blurred; reveal them one by one or for this view only.</p></header>"
            f"<main>{body}</main></body></html>\n"
        )


def render_report(session: Session, config: AnalysisConfig, **kwargs: Any) -> str:
    return ReportBuilder(session, config, **kwargs).render()
