"""CLI pieces of issue 7: ``crawl`` flags (policy, budgets, resume) and ``adarchive repair``.

Kept here so ``crawler/cli.py`` stays a thin parse-and-call layer: it adds
these flags to ``crawl``, merges :func:`crawl_overrides` into the settings,
calls :func:`check_crawl_settings` before starting, and registers ``repair``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Named, not imported: the policy module imports Scrapy, which only crawls and repairs need.
USER_ERROR_NAMES: tuple[str, ...] = ("crawler.politeness.policy.PolicyError",)


def add_crawl_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("policy, budgets and recovery")
    g.add_argument("--ignore-robots", action="store_true",
                   help="do not obey robots.txt; needs --authority")  # fmt: skip
    g.add_argument("--authority", metavar="TEXT",
                   help="the authority for --ignore-robots (e.g. a warrant reference); "
                   "recorded in every WARC file and the custody log")  # fmt: skip
    g.add_argument("--user-agent", metavar="UA",
                   help="send this User-Agent instead of the honest default; needs "
                   "--user-agent-reason")  # fmt: skip
    g.add_argument("--user-agent-reason", metavar="TEXT",
                   help="why the configured User-Agent is used (recorded with the crawl)")  # fmt: skip
    g.add_argument("--max-depth", type=int, help="follow links at most this deep (0 = no limit)")
    g.add_argument("--max-listing-pages", type=int, metavar="N",
                   help="request at most N listing pages per platform (0 = no limit)")  # fmt: skip
    g.add_argument("--max-seconds", type=float, help="stop each platform after this long")
    g.add_argument("--proxy", metavar="URL", help="fetch through this HTTP proxy")
    g.add_argument("--resume", action="store_true",
                   help="continue the platform's interrupted crawl: URLs it captured are "
                   "answered from the archive, not fetched again")  # fmt: skip


def crawl_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings for the flags above (raises PolicyError on a missing justification)."""
    from crawler.politeness.policy import policy_overrides

    out = policy_overrides(
        args.ignore_robots, args.authority, args.user_agent, args.user_agent_reason
    )
    if args.max_depth is not None:
        out["ADARCHIVE_MAX_DEPTH"] = args.max_depth
    if args.max_listing_pages is not None:
        out["ADARCHIVE_MAX_LISTING_PAGES"] = args.max_listing_pages
    if args.max_seconds is not None:
        out["ADARCHIVE_MAX_SECONDS"] = args.max_seconds
    if args.proxy:
        out["ADARCHIVE_PROXY"] = args.proxy
    if args.resume:
        out["ADARCHIVE_RESUME"] = True
    return out


def check_crawl_settings(settings: Any, platforms: Sequence[str]) -> None:
    """Refuse, in one line, settings a crawl must not start with."""
    from crawler.archive.writer import check_prefix
    from crawler.guard.ssrf_middleware import allow_list_from_settings
    from crawler.politeness.budget import budget_for
    from crawler.politeness.policy import PolicyError, check_policy
    from crawler.sink.rotation import warc_max_age

    check_policy(settings)
    try:
        check_prefix(settings.get("ADARCHIVE_WARC_PREFIX"))
        warc_max_age(settings)
        allow_list_from_settings(settings)
        for name in platforms:
            budget_for(settings, name)
    except ValueError as exc:
        raise PolicyError(str(exc)) from None


def cmd_repair(args: argparse.Namespace) -> int:
    from crawler.archive.repair import find_open_files, repair_directory
    from crawler.politeness.policy import PolicyError
    from crawler.store.db import resolve_db_url

    directory = Path(args.dir)
    if not directory.is_dir():
        raise PolicyError(f"{directory} is not a directory")
    db = args.db
    if db is None:
        for candidate in (directory / "adarchive.db", directory.parent / "adarchive.db"):
            if candidate.exists():
                db = resolve_db_url(None, candidate.parent)
                break
    if not find_open_files(directory):
        print(f"no *.open WARC files under {directory}")
        return 0
    results = repair_directory(directory, db_url=db, force=args.force)
    for r in results:
        if args.json:
            print(json.dumps(r.as_dict(), ensure_ascii=False))
            continue
        name = Path(r.open_path).name
        if r.repaired_path:
            print(
                f"repaired {name} -> {Path(r.repaired_path).name}: {r.records_kept} records kept, "
                f"{r.records_dropped} dropped ({r.dropped_bytes} B truncated tail)\n"
                f"  open     sha256:{r.open_sha256}  {r.open_size} B (kept)\n"
                f"  repaired sha256:{r.sha256}  {r.size} B"
            )
        else:
            print(f"skipped {name}: {r.skipped}", file=sys.stderr)
    if db is None:
        print("no store found: repairs not recorded in a custody log (pass --db URL)",
              file=sys.stderr)  # fmt: skip
    return 0 if all(r.repaired_path or _nothing_to_do(r.skipped) for r in results) else 1


def _nothing_to_do(skipped: str | None) -> bool:
    """Repaired before, or no complete record to keep: not a failure."""
    return bool(skipped) and (skipped.endswith("already exists") or skipped == "no complete record")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "repair", help="turn *.open WARC files left by a crash into closed files of their "
        "complete records (originals kept)"
    )  # fmt: skip
    p.add_argument("dir", help="data directory or WARC directory to search for *.open files")
    p.add_argument("--db", help="store URL (default: DIR/adarchive.db or its parent's, if any)")
    p.add_argument("--force", action="store_true",
                   help="repair even if the process named in the file name still runs")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON line per file")
    p.set_defaults(func=cmd_repair)
