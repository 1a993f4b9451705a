"""``adarchive demo``: serve the synthetic fixture web and crawl it end to end."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crawler.cli.options import db_option


def cmd_demo(args: argparse.Namespace) -> int:
    from crawler.demo.run import run_demo

    return run_demo(Path(args.out), db=args.db, ads_per_platform=args.ads, seed=args.seed)


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="serve the synthetic fixture web and crawl it end to end")
    p.add_argument("--out", default="demo-output", help="output directory (default demo-output)")
    db_option(p)
    p.add_argument("--ads", type=int, default=16, help="adverts per platform (default 16)")
    p.add_argument("--seed", type=int, default=1, help="fixture world seed (default 1)")
    p.set_defaults(func=cmd_demo)
