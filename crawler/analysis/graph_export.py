"""`adarchive export-graph`: the advert graph for Gephi, Maltego or i2-style tools.

Nodes are adverts (with platform, names, network labels) and, optionally,
identifiers; edges are the stored links (a spanning set with reasons) and
advert → identifier "uses" edges. Flagged images (known-hash list) are left
out unless ``include_flagged`` is set.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.store.models import (
    Ad,
    AdIdentifier,
    AdImage,
    AdNetwork,
    Identifier,
    Image,
    Link,
    Network,
    Platform,
)

FORMATS = ("graphml", "csv", "json")


def _xml_text(value: Any) -> str:
    # Control characters are not allowed in XML 1.0: adverts may contain them.
    text = "" if value is None else str(value)
    return "".join(ch if ch in "\t\n\r" or ord(ch) >= 0x20 else " " for ch in text)


def build_graph(session: Session, include_identifiers: bool = True,
                include_flagged: bool = False) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    labels: dict[int, list[str]] = defaultdict(list)
    for ad, label in session.execute(
        select(AdNetwork.ad_id, Network.label).join(Network, Network.id == AdNetwork.network_id)
    ):
        labels[ad].append(label)
    nodes: list[dict[str, Any]] = []
    for ad_id, platform, ext, name, location, url in session.execute(
        select(Ad.id, Platform.name, Ad.external_id, Ad.name, Ad.location, Ad.url).join(
            Platform, Platform.id == Ad.platform_id
        )
    ):
        nodes.append({"id": f"ad:{ad_id}", "type": "advert", "label": f"{platform}:{ext}",
                      "platform": platform, "name": name, "location": location, "url": url,
                      "networks": " ".join(sorted(labels.get(ad_id, [])))})  # fmt: skip
    edges: list[dict[str, Any]] = [
        {"source": f"ad:{a}", "target": f"ad:{b}", "type": kind, "weight": weight, "reason": reason,
         "capture_a": ca, "capture_b": cb}
        for a, b, kind, weight, reason, ca, cb in session.execute(
            select(Link.ad_a, Link.ad_b, Link.kind, Link.weight, Link.reason, Link.capture_a, Link.capture_b)
        )
    ]  # fmt: skip
    if include_identifiers:
        seen: set[int] = set()
        for ad_id, ident, kind, value, capture in session.execute(
            select(AdIdentifier.ad_id, Identifier.id, Identifier.kind, Identifier.value,
                   AdIdentifier.capture_id).join(Identifier, Identifier.id == AdIdentifier.identifier_id)
        ):  # fmt: skip
            if ident not in seen:
                seen.add(ident)
                nodes.append({"id": f"identifier:{ident}", "type": kind, "label": value})
            edges.append({"source": f"ad:{ad_id}", "target": f"identifier:{ident}", "type": "uses",
                          "weight": 1.0, "reason": f"{kind} on advert", "capture_a": capture,
                          "capture_b": None})  # fmt: skip
    flagged = set(session.scalars(select(Image.id).where(Image.flagged.is_(True))))
    withheld = 0
    for ad_id, image_id, sha, capture in session.execute(
        select(AdImage.ad_id, Image.id, Image.sha256, AdImage.capture_id).join(
            Image, Image.id == AdImage.image_id
        )
    ):
        if image_id in flagged and not include_flagged:
            withheld += 1
            continue
        node = f"image:{image_id}"
        if not any(n["id"] == node for n in nodes[-1:]):
            nodes.append(
                {"id": node, "type": "image", "label": sha, "flagged": image_id in flagged}
            )
        edges.append({"source": f"ad:{ad_id}", "target": node, "type": "shows", "weight": 1.0,
                      "reason": "image on advert", "capture_a": capture, "capture_b": None})  # fmt: skip
    unique: dict[str, dict[str, Any]] = {n["id"]: n for n in nodes}
    return {
        "nodes": list(unique.values()),
        "edges": edges,
        "withheld_flagged_images": [{"count": withheld}],
    }


def to_json(graph: dict[str, Any]) -> str:
    return json.dumps(graph, ensure_ascii=False, indent=1, default=str)


def to_csv(graph: dict[str, Any]) -> str:
    """One edge list (Gephi's "edges table" import) with node labels inlined."""
    labels = {n["id"]: n.get("label", "") for n in graph["nodes"]}
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["Source", "Target", "Type", "Weight", "Reason", "SourceLabel", "TargetLabel",
                     "CaptureA", "CaptureB"])  # fmt: skip
    for e in graph["edges"]:
        writer.writerow([e["source"], e["target"], e["type"], e["weight"], e["reason"],
                         labels.get(e["source"], ""), labels.get(e["target"], ""),
                         e.get("capture_a") or "", e.get("capture_b") or ""])  # fmt: skip
    return buf.getvalue()


NODE_KEYS = ("type", "label", "platform", "name", "location", "url", "networks", "flagged")
EDGE_KEYS = ("type", "weight", "reason", "capture_a", "capture_b")


def to_graphml(graph: dict[str, Any]) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">']  # fmt: skip
    for k in NODE_KEYS:
        out.append(f'<key id="n_{k}" for="node" attr.name="{k}" attr.type="string"/>')
    for k in EDGE_KEYS:
        kind = "double" if k == "weight" else "string"
        out.append(f'<key id="e_{k}" for="edge" attr.name="{k}" attr.type="{kind}"/>')
    out.append('<graph id="adarchive" edgedefault="undirected">')
    for n in graph["nodes"]:
        data = "".join(
            f'<data key="n_{k}">{xml_escape(_xml_text(n[k]))}</data>'
            for k in NODE_KEYS
            if n.get(k) is not None
        )
        out.append(f"<node id={quoteattr(_xml_text(n['id']))}>{data}</node>")
    for i, e in enumerate(graph["edges"]):
        data = "".join(
            f'<data key="e_{k}">{xml_escape(_xml_text(e[k]))}</data>'
            for k in EDGE_KEYS
            if e.get(k) is not None
        )
        out.append(
            f'<edge id="e{i}" source={quoteattr(_xml_text(e["source"]))} '
            f"target={quoteattr(_xml_text(e['target']))}>{data}</edge>"
        )
    out.append("</graph></graphml>")
    return "\n".join(out) + "\n"


def export_graph(session: Session, fmt: str, **kwargs: Any) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    graph = build_graph(session, **kwargs)
    return {"graphml": to_graphml, "csv": to_csv, "json": to_json}[fmt](graph)
