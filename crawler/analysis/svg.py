"""Small inline SVG charts for the self-contained report (no JavaScript, no CDN).

Every label goes through :func:`html.escape`: platform names, identifiers and
place names can come from captured pages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


def _svg(width: int, height: int, body: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>{body}</svg>'
    )


def histogram(counts: dict[int, int], title: str, xlabel: str) -> str:
    """Vertical bars over integer x values (e.g. network sizes)."""
    if not counts:
        return f"<p class=muted>{escape(title)}: no data.</p>"
    xs = sorted(counts)
    width, height, pad = 640, 220, 40
    bw = max(8, min(48, (width - 2 * pad) // max(1, len(xs)) - 4))
    top = max(counts.values())
    parts = [
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - 10}" y2="{height - pad}" stroke="#666"/>'
    ]
    for i, x in enumerate(xs):
        h = (height - 2 * pad) * counts[x] / top
        left = pad + 6 + i * (bw + 4)
        parts.append(
            f'<rect x="{left}" y="{height - pad - h:.1f}" width="{bw}" height="{h:.1f}" fill="{PALETTE[1]}"/>'
            f'<text x="{left + bw / 2}" y="{height - pad + 14}" text-anchor="middle">{x}</text>'
            f'<text x="{left + bw / 2}" y="{height - pad - h - 4:.1f}" text-anchor="middle">{counts[x]}</text>'
        )
    parts.append(
        f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle">{escape(xlabel)}</text>'
    )
    return _svg(width, height, "".join(parts), title)


def heatmap(rows: Sequence[str], cols: Sequence[str], values: dict[tuple[str, str], float],
            title: str, percent: bool = False) -> str:  # fmt: skip
    """A grid of cells shaded by value, with the value written in each cell."""
    if not rows or not cols:
        return f"<p class=muted>{escape(title)}: no data.</p>"
    cell, left, top_pad = 46, 170, 150
    width, height = left + cell * len(cols) + 10, top_pad + cell * len(rows) + 10
    top = max(values.values(), default=0) or 1
    parts = []
    for j, c in enumerate(cols):
        x = left + j * cell + cell / 2
        parts.append(
            f'<text transform="translate({x:.0f},{top_pad - 6}) rotate(-45)">{escape(str(c))}</text>'
        )
    for i, r in enumerate(rows):
        y = top_pad + i * cell
        parts.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4}" text-anchor="end">{escape(str(r))}</text>'
        )
        for j, c in enumerate(cols):
            v = values.get((r, c), 0)
            shade = 0.08 + 0.92 * (v / top) if v else 0.0
            text = f"{v * 100:.0f}%" if percent else _fmt(v)
            parts.append(
                f'<rect x="{left + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="{PALETTE[2]}" fill-opacity="{shade:.2f}" stroke="#ddd"/>'
                f'<text x="{left + j * cell + cell / 2 - 1}" y="{y + cell / 2 + 4}" text-anchor="middle">{escape(text)}</text>'
            )
    return _svg(width, height, "".join(parts), title)


def link_map(
    nodes: dict[str, float],
    edges: dict[tuple[str, str], float],
    title: str,
    node_values: bool = True,
) -> str:
    """Platforms on a circle (size: adverts), joined by lines (width: shared links);
    ``node_values=False`` labels nodes by name alone (e.g. adverts in an exhibit)."""
    if not nodes:
        return f"<p class=muted>{escape(title)}: no data.</p>"
    size, radius = 460, 170
    names = sorted(nodes)
    pos = {}
    for i, n in enumerate(names):
        angle = 2 * math.pi * i / len(names) - math.pi / 2
        pos[n] = (size / 2 + radius * math.cos(angle), size / 2 + radius * math.sin(angle))
    top_edge = max(edges.values(), default=1) or 1
    top_node = max(nodes.values()) or 1
    parts = []
    for (a, b), w in sorted(edges.items()):
        if a in pos and b in pos and w > 0:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            parts.append(
                f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="{PALETTE[2]}" '
                f'stroke-opacity="0.6" stroke-width="{1 + 9 * w / top_edge:.1f}"><title>{escape(a)} – '
                f"{escape(b)}: {_fmt(w)}</title></line>"
                f'<text x="{(x1 + x2) / 2:.0f}" y="{(y1 + y2) / 2:.0f}" class="edge">{_fmt(w)}</text>'
            )
    for n in names:
        x, y = pos[n]
        r = 8 + 22 * math.sqrt(nodes[n] / top_node)
        parts.append(
            f'<circle cx="{x:.0f}" cy="{y:.0f}" r="{r:.0f}" fill="{PALETTE[0]}" fill-opacity="0.85"/>'
            f'<text x="{x:.0f}" y="{y + r + 14:.0f}" text-anchor="middle">{escape(n)}'
            f"{f' ({_fmt(nodes[n])})' if node_values else ''}</text>"
        )
    return _svg(size, size + 20, "".join(parts), title)


def timeline(series: dict[str, dict[str, int]], title: str) -> str:
    """Stacked daily bars: date → count per series (e.g. adverts first seen per platform)."""
    dates = sorted({d for s in series.values() for d in s})
    if not dates:
        return f"<p class=muted>{escape(title)}: no data.</p>"
    width, height, pad = 700, 240, 40
    bw = max(3, min(30, (width - 2 * pad) // len(dates) - 2))
    totals = [sum(s.get(d, 0) for s in series.values()) for d in dates]
    top = max(totals) or 1
    parts = []
    names = sorted(series)
    for i, d in enumerate(dates):
        x, y = pad + i * (bw + 2), height - pad
        for k, name in enumerate(names):
            v = series[name].get(d, 0)
            if not v:
                continue
            h = (height - 2 * pad) * v / top
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bw}" height="{h:.1f}" fill="{PALETTE[k % len(PALETTE)]}">'
                f"<title>{escape(d)} {escape(name)}: {v}</title></rect>"
            )
    parts.append(f'<text x="{pad}" y="{height - pad + 16}">{escape(dates[0])}</text>')
    parts.append(
        f'<text x="{width - pad}" y="{height - pad + 16}" text-anchor="end">{escape(dates[-1])}</text>'
    )
    for k, name in enumerate(names):
        parts.append(
            f'<rect x="{pad + k * 130}" y="6" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>'
            f'<text x="{pad + k * 130 + 14}" y="15">{escape(name)}</text>'
        )
    return _svg(width, height, "".join(parts), title)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
