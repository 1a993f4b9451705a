"""``adarchive extract``: contact identifiers from JSONL texts (no crawl, no store)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from crawler.errors import UserError


def cmd_extract(args: argparse.Namespace) -> int:
    from crawler.extract.jsonl import run_jsonl

    if args.file in (None, "-"):
        return run_jsonl(sys.stdin, sys.stdout, sys.stderr, args.region)
    try:
        handle = open(args.file, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UserError(f"cannot read {args.file}: {exc.strerror}") from None
    with handle:
        return run_jsonl(handle, sys.stdout, sys.stderr, args.region)


def register(sub: Any) -> None:
    p = sub.add_parser("extract", help="extract contact identifiers from JSONL texts")
    p.add_argument("file", nargs="?", default="-", help="JSONL input file, or - for stdin")
    p.add_argument("--region", help="default region (ISO country) for phone numbers")
    p.set_defaults(func=cmd_extract)
