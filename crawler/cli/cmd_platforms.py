"""``adarchive platforms`` and ``adarchive platform check``: the platform definitions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from crawler.cli.options import (
    definitions_option,
    platform_definition,
    set_option,
    setting_overrides,
)
from crawler.errors import UserError
from crawler.printable import print_table, printable


def cmd_platforms(args: argparse.Namespace) -> int:
    from crawler.platforms import load_all

    definitions = load_all(args.definitions)
    rows = [
        (
            d.name,
            d.country,
            d.language,
            f"{d.listing_render}/{d.detail_render}",
            " ".join(d.start_urls),
        )
        for d in definitions.values()
    ]
    print_table(("name", "country", "language", "render", "start urls"), rows)
    return 0


def cmd_platform_check(args: argparse.Namespace) -> int:
    from crawler.check import check_page, selector_overlap_warnings, start_url_refusals

    definition = platform_definition(args.file, args.definitions)
    refused, notes = start_url_refusals(definition)
    for line in refused:
        print(f"REFUSED start URL {printable(line)}", file=sys.stderr)
    for line in notes:
        print(f"note: start URL {printable(line)}", file=sys.stderr)
    if refused:
        return 1
    print(
        f"OK {definition.path}: platform {definition.name!r} ({definition.country}, "
        f"{definition.language}), listing {definition.listing_render}, detail {definition.detail_render}, "
        f"{len(definition.fields)} detail fields"
    )
    if args.live:
        return _live_check(definition, args)
    if args.page is None:
        for warning in selector_overlap_warnings(definition):
            print(warning)
        return 0
    if not args.url:
        raise UserError("--page needs --url (the address the page was saved from)")
    report = check_page(definition, Path(args.page), args.url)
    for warning in selector_overlap_warnings(definition, report["listing"]):
        print(warning)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def _live_check(definition: Any, args: argparse.Namespace) -> int:
    """One listing page and one advert from the real site, every field and identifier shown."""
    from crawler.check import selector_overlap_warnings
    from crawler.health import assess
    from crawler.livecheck import live_check
    from crawler.runner import project_settings

    settings = project_settings(setting_overrides(args.set))
    report = live_check(definition, settings, args.start_url)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        print(f"listing  {report.listing_url or '(not fetched)'}")
        print(
            f"  ad_links: {len(report.ad_links)}  next_page: {', '.join(report.next_page) or '-'}"
        )
        print(f"advert   {report.ad_url or '(not fetched)'}")
        for name, value in report.fields.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            shown = (text or "").replace("\n", " / ")
            print(f"  {name:<15} {shown[:200] + ('…' if len(shown) > 200 else '') or '(empty)'}")
        print(f"identifiers: {len(report.identifiers)}")
        for ident in report.identifiers:
            print(f"  {ident['kind']:<9} {ident['value']:<28} {ident['field']}: {ident['match']!r}")
    for warning in selector_overlap_warnings(
        definition, {"ad_links": report.ad_links, "next_page": report.next_page}
    ):
        print(warning)
    stored = 1 if report.fields.get("external_id") else 0
    health = assess(definition.name, report.stats, stored)
    if health.state in ("finished", "degraded") and report.ad_url and stored:
        return 0
    why = "; ".join(health.problems) or "no advert read"
    fix = f" (fix: {health.fix})" if health.fix else ""
    print(f"adarchive: {definition.name}: live check {health.state}: {why}{fix}", file=sys.stderr)
    return 1


def register(sub: Any) -> None:
    p = sub.add_parser("platforms", help="list platform definitions")
    definitions_option(p)
    p.set_defaults(func=cmd_platforms)

    p = sub.add_parser("platform", help="work on one platform definition")
    psub = p.add_subparsers(dest="platform_command", required=True, metavar="SUBCOMMAND")
    c = psub.add_parser(
        "check", help="validate a definition; with --page or --live, show what it extracts"
    )
    c.add_argument("file", help="platform name or definition file (*.toml)")
    definitions_option(c)
    c.add_argument(
        "--live",
        action="store_true",
        help="fetch one listing page and one advert politely (robots.txt, delay, "
        "address guard) and print every field and identifier",
    )
    c.add_argument("--start-url", help="with --live: the listing page to fetch")
    set_option(c, "with --live: a setting, e.g. -s ADARCHIVE_ALLOWED_ADDRESSES=...")
    c.add_argument("--json", action="store_true", help="with --live: JSON instead of text")  # fmt: skip
    c.add_argument("--page", help="a saved page (HTML) to apply the selectors to")
    c.add_argument("--url", help="the URL the saved page came from")
    c.set_defaults(func=cmd_platform_check)
