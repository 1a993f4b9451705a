"""``adarchive identifiers``: identifiers in the store, with advert and platform counts."""

from __future__ import annotations

import argparse
import json
from typing import Any

from crawler.cli.options import db_option
from crawler.printable import print_table


def cmd_identifiers(args: argparse.Namespace) -> int:
    from crawler.extract.argument import check_kind, parse_identifier
    from crawler.queries import identifier_counts
    from crawler.store.db import open_store, resolve_db_url

    kind = check_kind(args.kind)
    only = [parse_identifier(text, args.region) for text in args.identifier]
    factory = open_store(resolve_db_url(args.db), create=False)
    with factory() as session:
        rows = identifier_counts(session, kind=kind, min_ads=args.min_ads, limit=args.limit,
                                 only=[(a.kind, a.value) for a in only])  # fmt: skip
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        print_table(
            ("kind", "value", "ads", "platforms"),
            [(r["kind"], r["value"], r["ads"], r["platforms"]) for r in rows],
        )
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("identifiers", help="identifiers in the store, with ad and platform counts")
    p.add_argument("identifier", nargs="*",
                   help="only these (KIND:VALUE, or a value the extractor recognises)")  # fmt: skip
    p.add_argument("--region", help="default region (ISO country) for national phone numbers")
    db_option(p)
    p.add_argument("--kind", help="only this kind (phone, email, telegram, ...)")
    p.add_argument("--min-ads", type=int, default=1, help="only identifiers on at least N ads")
    p.add_argument("--limit", type=int, default=0, help="at most N rows (0 = all)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.set_defaults(func=cmd_identifiers)
