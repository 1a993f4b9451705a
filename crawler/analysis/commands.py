"""The analysis commands: ``analyze``, ``report``, ``network``, ``export-graph``.

``crawler.cli`` calls :func:`register`; these functions only parse, call the
library and print. Mistakes a user can fix raise one of :data:`USER_ERRORS`
(named in :data:`USER_ERROR_NAMES`), which ``main()`` prints as one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any


class AnalysisUserError(RuntimeError):
    """A mistake in the command line (missing file, store not analysed, …)."""


# What crawler.cli.entry prints as one line: named, so the CLI need not import numpy/datasketch.
USER_ERROR_NAMES: tuple[str, ...] = (
    "crawler.analysis.commands.AnalysisUserError",
    "crawler.analysis.analysis_config.ConfigError",
    "crawler.analysis.knownhashes.KnownHashError",
    "crawler.analysis.network_detail.UnknownNetwork",
)


def __getattr__(name: str) -> Any:
    # USER_ERRORS is resolved on first use: its modules import numpy/datasketch,
    # which every `adarchive` start-up (register()) would otherwise pay for.
    if name == "USER_ERRORS":
        from crawler.analysis.analysis_config import ConfigError
        from crawler.analysis.knownhashes import KnownHashError
        from crawler.analysis.network_detail import UnknownNetwork

        return (AnalysisUserError, ConfigError, KnownHashError, UnknownNetwork)
    raise AttributeError(name)


def _read_json(path: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AnalysisUserError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise AnalysisUserError(f"{path} is not JSON: {exc}") from None


def _factory(db: str | None, out: Path | None = None, write: bool = False) -> Any:
    from crawler.store.db import open_store, resolve_db_url

    url = resolve_db_url(db, out)
    factory = open_store(url, create=False)  # a missing store is an error, never created
    if write:
        factory.kw["bind"].dispose()
        factory = open_store(url, create=True)  # brings the schema up to date (analysis tables)
    return url, factory


def _require_analysis(factory: Any) -> None:
    from sqlalchemy import inspect

    if "network" not in set(inspect(factory.kw["bind"]).get_table_names()):
        raise AnalysisUserError(
            "this store has not been analysed yet: run `adarchive analyze` first"
        )


def cmd_analyze(args: argparse.Namespace) -> int:
    from crawler.analysis.analysis_config import load_config
    from crawler.analysis.analyze import analyze
    from crawler.analysis.knownhashes import KnownHashes

    config = load_config(args.config)
    known = None
    if args.known_hashes:
        known = KnownHashes.load(args.known_hashes, config.linking.known_phash_max_distance)
    _, factory = _factory(args.db, write=True)
    with factory() as session:
        stats = analyze(session, config, full=args.full, known=known)
        score = None
        if args.truth:
            from crawler.analysis.scoring import score_networks

            score = score_networks(session, _read_json(args.truth), config.default_networks)
    if args.json:
        print(json.dumps({"stats": stats, "score": score}, sort_keys=True, default=str))
        return 0
    added = ", ".join(f"{k} {v}" for k, v in sorted(stats["links_added"].items())) or "none"
    print(
        f"analysed {stats['ads']} adverts in {stats['seconds']}s ({'full' if stats['full'] else 'incremental'})"
    )
    print(
        f"  texts signed: {stats['texts_signed']}; links added: {added}; links stored: {stats['links_total']}"
    )
    print(f"  networks: {stats['strong_networks']} (strong links), {stats['networks']} (all links)")
    fired = ", ".join(f"{k} {v}" for k, v in sorted(stats["indicators"].items()) if v) or "none"
    print(f"  indicators: {fired}")
    if stats.get("flagged_images") is not None:
        print(f"  images matching the known-hash list: {stats['flagged_images']}")
    if score is not None:
        print_score(score)
    return 0


def print_score(score: dict[str, Any], out: Any = None) -> None:
    out = out or sys.stdout
    print(f"network recovery vs truth.json ({score['ads_scored']} of {score['ads_in_truth']} "
          f"adverts captured, {score['planted_networks']} planted networks):", file=out)  # fmt: skip
    for view in ("strong_links", "all_links"):
        s = score[view]
        mark = " (default)" if score.get("default") == view else ""
        print(f"  {view.replace('_', ' '):<13} pairwise precision {s['precision']:.3f}  recall "
              f"{s['recall']:.3f}  ({s['correct_pairs']}/{s['predicted_pairs']} predicted pairs, "
              f"{s['true_pairs']} true; {s['networks_found']} networks){mark}", file=out)  # fmt: skip


def cmd_report(args: argparse.Namespace) -> int:
    from crawler.analysis.analysis_config import load_config
    from crawler.analysis.htmlreport import render_report
    from crawler.store.db import sqlite_path

    out = Path(args.out)
    config = load_config(args.config)
    if args.all_links:
        config = dataclasses.replace(config, default_networks="all")
    url, factory = _factory(args.db, out.parent)
    _require_analysis(factory)
    db_file = sqlite_path(url)
    data_root = Path(args.data_root) if args.data_root else (db_file.parent if db_file else None)
    truth = _read_json(args.truth) if args.truth else None
    with factory() as session:
        html = render_report(session, config, data_root=data_root, truth=truth,
                             replay_prefix=args.replay_prefix, max_networks=args.networks,
                             out_dir=out.resolve().parent)  # fmt: skip
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise AnalysisUserError(f"cannot write {out}: {exc.strerror}") from None
    print(f"report: {out} ({len(html.encode()):,} bytes)")
    return 0


def cmd_network(args: argparse.Namespace) -> int:
    from crawler.analysis.network_detail import network_detail

    _, factory = _factory(args.db)
    _require_analysis(factory)
    with factory() as session:
        detail = network_detail(session, args.id)
    if args.json:
        print(json.dumps(detail, ensure_ascii=False, default=str, indent=1))
        return 0
    print(f"network {detail['label']} ({'strong links' if detail['strong'] else 'all links'}): "
          f"{detail['size']} adverts on {detail['platforms']} platform(s), score {detail['score']}")  # fmt: skip
    print("\nadverts:")
    for ad in detail["ads"]:
        cap = ad["capture"] or {}
        inds = ",".join(sorted({i["indicator"] for i in ad["indicators"]})) or "-"
        print(f"  [{ad['id']}] {ad['platform']}:{ad['external_id']}  name={_safe(ad['name'])!s}  "
              f"location={_safe(ad['location'])}  capture={cap.get('capture_id')} "
              f"{cap.get('warc_file')}@{cap.get('offset')} {cap.get('record_id')}  indicators={inds}")  # fmt: skip
    print("\nidentifiers:")
    for ident in detail["identifiers"]:
        print(f"  {ident['kind']:<9} {_safe(ident['value'])}  on {ident['ads']} advert(s)")
    print("\nlinks (a spanning set, strongest first):")
    for link in detail["links"]:
        ca, cb = link["capture_a"] or {}, link["capture_b"] or {}
        print(f"  [{link['a']}]–[{link['b']}] {link['kind']} w={link['weight']}: {_safe(link['reason'])}  "
              f"captures {ca.get('capture_id')} / {cb.get('capture_id')}")  # fmt: skip
    if detail["images"]:
        print("\nimages:")
        for im in detail["images"]:
            flag = "  FLAGGED (known-hash list)" if im["flagged"] else ""
            print(f"  [{im['ad']}] sha256 {im['sha256']} phash {im['phash']}{flag}")
    return 0


def cmd_networks(args: argparse.Namespace) -> int:
    """The networks of the last analysis, best-scored first, by the label `network` takes."""
    from crawler.analysis.network_detail import list_networks

    _, factory = _factory(args.db)
    _require_analysis(factory)
    with factory() as session:
        rows = list_networks(session, strong=not args.all, limit=args.limit)
    fields = ("label", "size", "platforms", "identifiers", "score", "first_seen", "last_seen")
    if args.json:
        for n in rows:
            print(json.dumps({f: getattr(n, f) for f in fields}, default=str))
        return 0
    if not rows:
        print("(no networks: run `adarchive analyze` first)")
        return 0
    print(
        f"{'network':<10} {'adverts':>7} {'platforms':>9} {'identifiers':>11} {'score':>7}  last seen"
    )
    for n in rows:
        last = f"{n.last_seen:%Y-%m-%d %H:%M}" if n.last_seen else "-"
        print(
            f"{n.label:<10} {n.size:>7} {n.platforms:>9} {n.identifiers:>11} {n.score:>7.1f}  {last}"
        )
    print(f"\n{len(rows)} network(s); details: adarchive network {rows[0].label}")
    return 0


def _safe(value: Any) -> str:
    """Captured text for a terminal: control characters (escape sequences) made visible."""
    text = "" if value is None else str(value)
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def cmd_export_graph(args: argparse.Namespace) -> int:
    from crawler.analysis.graph_export import export_graph

    _, factory = _factory(args.db)
    _require_analysis(factory)
    with factory() as session:
        text = export_graph(session, args.format, include_identifiers=not args.no_identifiers,
                            include_flagged=args.include_flagged)  # fmt: skip
    if args.out in (None, "-"):
        sys.stdout.write(text)
    else:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise AnalysisUserError(f"cannot write {args.out}: {exc.strerror}") from None
        print(f"graph: {args.out}", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    """Add the analysis commands to ``adarchive``'s sub-command parser."""

    def db_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", help="store URL (default: $ADARCHIVE_DB, else the default store)")

    def config_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", metavar="FILE",
                       help="analysis settings / indicator overrides (TOML; see docs/analysis.md)")  # fmt: skip

    p = subparsers.add_parser(
        "analyze", help="link adverts, build networks, compute risk indicators"
    )
    db_option(p)
    config_option(p)
    p.add_argument(
        "--full", action="store_true", help="relink everything instead of only new adverts"
    )
    p.add_argument(
        "--known-hashes", metavar="FILE", help="known image hashes to flag (sha256:/phash: lines)"
    )
    p.add_argument(
        "--truth", metavar="FILE", help="score network recovery against a fixture truth.json"
    )
    p.add_argument("--json", action="store_true", help="print statistics as JSON")
    p.set_defaults(func=cmd_analyze)

    p = subparsers.add_parser("report", help="write the self-contained HTML report")
    p.add_argument("--out", required=True, metavar="FILE", help="report file (HTML)")
    db_option(p)
    config_option(p)
    p.add_argument(
        "--truth",
        metavar="FILE",
        help="measure indicator false-positive rates against a truth.json",
    )
    p.add_argument(
        "--replay-prefix",
        metavar="URL",
        help="link captures to a replay service (pywb collection URL)",
    )
    p.add_argument(
        "--data-root",
        metavar="DIR",
        help="where the WARC files live (default: the store's directory)",
    )
    p.add_argument(
        "--networks", type=int, default=20, help="how many top networks to detail (default 20)"
    )
    p.add_argument(
        "--all-links",
        action="store_true",
        help="networks over all links, near-duplicate text included",
    )
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser("networks", help="list networks by label (strong links; --all)")
    db_option(p)
    p.add_argument("--all", action="store_true", help="networks over all links (N-…)")
    p.add_argument("--limit", type=int, default=0, help="at most N (0 = all)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.set_defaults(func=cmd_networks)

    p = subparsers.add_parser(
        "network", help="print one network: adverts, identifiers, reasons, captures"
    )
    p.add_argument("id", help="network label, e.g. S-12 (strong links) or N-12 (all links)")
    db_option(p)
    p.add_argument("--json", action="store_true", help="JSON instead of text")
    p.set_defaults(func=cmd_network)

    p = subparsers.add_parser("export-graph", help="export the advert graph (GraphML, CSV, JSON)")
    p.add_argument("--format", choices=("graphml", "csv", "json"), default="graphml")
    p.add_argument("--out", metavar="FILE", help="output file (default: standard output)")
    db_option(p)
    p.add_argument("--no-identifiers", action="store_true", help="adverts and links only")
    p.add_argument("--include-flagged", action="store_true",
                   help="include images on the known-hash list (excluded by default)")  # fmt: skip
    p.set_defaults(func=cmd_export_graph)
