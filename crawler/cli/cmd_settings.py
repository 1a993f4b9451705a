"""``adarchive settings``: every setting's effective value and where it came from."""

from __future__ import annotations

import argparse
from typing import Any

from crawler.cli.options import set_option, setting_overrides


def cmd_settings(args: argparse.Namespace) -> int:
    from crawler.settings_report import print_settings

    return print_settings(args.name, setting_overrides(args.set), as_json=args.json, doc=args.doc)


def register(sub: Any) -> None:
    p = sub.add_parser("settings", help="every setting's effective value and where it came from")
    p.add_argument("name", nargs="*", help="only these settings (default: all of adarchive's)")
    set_option(p, "as the crawl would be given it (repeatable)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.add_argument("--doc", action="store_true", help="each setting's documentation too")
    p.set_defaults(func=cmd_settings)
