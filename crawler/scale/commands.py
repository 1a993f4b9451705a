"""``adarchive worker`` and ``adarchive frontier …``: parse, call crawler.scale, print."""

from __future__ import annotations

import argparse
import json
from typing import Any

from crawler.scale.worker_settings import DEFAULT_PREFIX, DEFAULT_REDIS_URL


def _redis_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis", default=None,
                   help="Redis URL of the shared frontier (default: the setting ADARCHIVE_REDIS, "
                   f"else {DEFAULT_REDIS_URL})")  # fmt: skip
    p.add_argument("--prefix", default=DEFAULT_PREFIX,
                   help=f"Redis key prefix of this deployment (default {DEFAULT_PREFIX})")  # fmt: skip


def _redis(args: argparse.Namespace) -> str:
    """--redis, else ADARCHIVE_REDIS (configuration file, environment, default)."""
    from crawler.configuration import setting

    return str(args.redis or setting("ADARCHIVE_REDIS"))


def cmd_worker(args: argparse.Namespace) -> int:
    from crawler.cli.options import log_level, platform_definition, setting_overrides
    from crawler.crawlsummary import crawl_exit_status, print_crawl_summary
    from crawler.runner import CrawlJob, build_settings, run_crawls
    from crawler.scale.frontier import connect
    from crawler.scale.worker_settings import check_store_for_workers, worker_settings
    from crawler.store.db import resolve_db_url

    definitions = [platform_definition(name, args.definitions) for name in args.platform]
    check_store_for_workers(resolve_db_url(args.db, args.out), args.allow_sqlite)
    connect(_redis(args))
    settings = build_settings(
        args.out,
        args.db,
        overrides={**log_level(args), **setting_overrides(args.set)},
        definitions_dir=args.definitions,
    )
    overrides = worker_settings(
        settings,
        redis_url=_redis(args),
        prefix=args.prefix,
        delay=args.delay,
        concurrency=args.concurrency,
        idle_close=args.idle_close,
    )
    for key, value in overrides.items():
        settings.set(key, value, priority="cmdline")
    results = run_crawls([CrawlJob(d) for d in definitions], settings)
    print_crawl_summary(results, settings)
    return crawl_exit_status(results)


def cmd_frontier_seed(args: argparse.Namespace) -> int:
    from crawler.cli.options import platform_definition
    from crawler.scale.frontier import connect, seed
    from crawler.schedule.command_errors import CommandError as UserError

    server = connect(_redis(args))
    overrides: dict[str, list[str]] = {}
    for value in args.start_url:
        name, sep, url = value.partition("=")
        if sep and "://" not in name:
            overrides.setdefault(name, []).append(url)
        elif len(args.platform) == 1:
            overrides.setdefault(args.platform[0], []).append(value)
        else:
            raise UserError("with several platforms, give --start-url as NAME=URL")
    for name in args.platform:
        definition = platform_definition(name, args.definitions)
        urls = overrides.get(definition.name) or list(definition.start_urls)
        count = seed(server, args.prefix, definition.name, urls, args.role, args.keep_seen)
        print(f"{definition.name}: {count} seed(s) queued under {args.prefix}:{definition.name}")
    return 0


def cmd_frontier_status(args: argparse.Namespace) -> int:
    from crawler.platforms import load_all
    from crawler.scale.frontier import connect, status

    server = connect(_redis(args))
    names = args.platform or sorted(load_all(args.definitions))
    rows = [status(server, args.prefix, name) for name in names]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    from crawler.schedule.status import table

    cols = ("platform", "seeds", "queued", "seen", "workers_busy")
    for line in table(cols, [tuple(r[c] for c in cols) for r in rows]):
        print(line)
    return 0


def cmd_frontier_clear(args: argparse.Namespace) -> int:
    from crawler.scale.frontier import clear, connect
    from crawler.schedule.command_errors import CommandError as UserError

    if not args.platform and not args.all:
        raise UserError("name the platform(s) to clear, or --all for every key under the prefix")
    server = connect(_redis(args))
    if args.all:
        print(f"deleted {clear(server, args.prefix)} key(s) under {args.prefix}:")
    for name in args.platform:
        print(f"{name}: deleted {clear(server, args.prefix, name)} key(s)")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="crawl as one of several workers sharing a Redis frontier")
    p.add_argument("platform", nargs="+", help="platform name(s)")
    _redis_options(p)
    p.add_argument(
        "--out", default="adarchive-data", help="data directory (this worker's WARC files)"
    )
    p.add_argument("--db", help="store URL: PostgreSQL (default: $ADARCHIVE_DB)")
    p.add_argument("--definitions", metavar="DIR", help="directory of platform definitions")
    p.add_argument("--delay", type=float,
                   help="seconds between requests to one site, across all workers "
                   "(default: DOWNLOAD_DELAY)")  # fmt: skip
    p.add_argument("--concurrency", type=int,
                   help="requests in flight to one site, across all workers "
                   "(default: CONCURRENT_REQUESTS_PER_DOMAIN)")  # fmt: skip
    p.add_argument("--idle-close", type=float, default=10.0,
                   help="stop once every worker was idle this long (0: wait for seeds forever)")  # fmt: skip
    p.add_argument("--allow-sqlite", action="store_true", help="allow a SQLite store (one worker)")
    p.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a Scrapy/adarchive setting (repeatable)")  # fmt: skip
    p.add_argument("--log-level", help="Scrapy log level (default: the setting LOG_LEVEL, INFO)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("frontier", help="the shared Redis frontier of the workers")
    fsub = p.add_subparsers(dest="frontier_command", required=True, metavar="SUBCOMMAND")
    c = fsub.add_parser(
        "seed", help="queue start URLs (JSON seeds); an empty frontier starts a new round"
    )
    c.add_argument("platform", nargs="+")
    c.add_argument("--start-url", action="append", default=[], metavar="[NAME=]URL",
                   help="seed these instead of the definition's start URLs")  # fmt: skip
    c.add_argument("--role", choices=("listing", "detail"), default="listing",
                   help="how the seeded pages are parsed (default listing)")  # fmt: skip
    c.add_argument("--keep-seen", action="store_true",
                   help="keep the duplicate filter (add to a round instead of starting one)")  # fmt: skip
    c.add_argument("--definitions", metavar="DIR", help="directory of platform definitions")
    _redis_options(c)
    c.set_defaults(func=cmd_frontier_seed)
    c = fsub.add_parser("status", help="seeds, queued and seen requests, busy workers")
    c.add_argument("platform", nargs="*")
    c.add_argument("--definitions", metavar="DIR", help="directory of platform definitions")
    c.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    _redis_options(c)
    c.set_defaults(func=cmd_frontier_status)
    c = fsub.add_parser("clear", help="delete a platform's frontier (or --all keys of the prefix)")
    c.add_argument("platform", nargs="*")
    c.add_argument("--all", action="store_true", help="every key under --prefix")
    _redis_options(c)
    c.set_defaults(func=cmd_frontier_clear)
