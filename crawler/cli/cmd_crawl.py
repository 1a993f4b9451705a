"""``adarchive crawl``: crawl platforms into the archive and the store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from crawler.cli.options import (
    db_option,
    definitions_option,
    log_level,
    platform_definition,
    set_option,
    setting_overrides,
)
from crawler.errors import UserError


def cmd_crawl(args: argparse.Namespace) -> int:
    # First, while the stack is short and few modules are loaded: Scrapy's TLS context
    # factory module defines three deprecated aliases, each calling inspect.stack(), which
    # reads the source of every frame and maps every loaded module to its file. Loaded
    # where Scrapy first needs it, inside a crawler's start, that cost 0.1 s of CPU.
    import scrapy.core.downloader.contextfactory  # noqa: F401

    from crawler.crawlsummary import crawl_exit_status, print_crawl_summary
    from crawler.politeness.commands import check_crawl_settings, crawl_overrides
    from crawler.runner import CrawlJob, build_settings, run_crawls

    definitions = [platform_definition(name, args.definitions) for name in args.platform]
    start_urls = start_url_map(args.start_url, [d.name for d in definitions])
    hostile = crawl_overrides(args)  # issue 7: robots/UA policy, budgets, --resume
    settings = build_settings(
        args.out,
        args.db,
        overrides={**log_level(args), **hostile, **setting_overrides(args.set)},
        max_pages=args.max_pages,
        definitions_dir=args.definitions,
    )
    check_crawl_settings(settings, [d.name for d in definitions])
    jobs = [CrawlJob(d, start_urls.get(d.name)) for d in definitions]
    results = run_crawls(jobs, settings)
    print_crawl_summary(results, settings)
    status = crawl_exit_status(results)
    _alert_crawls(results, settings)
    return status


def _alert_crawls(results: Sequence[Any], settings: Any) -> None:
    """Push alerts for crawls that ended empty, degraded, refused or failed (issue 17)."""
    from crawler.alerts import AlertConfig, crawl_alerts, send_alerts

    try:
        config = AlertConfig.from_settings(settings)
    except ValueError as exc:
        print(f"adarchive: alerts not sent: {exc}", file=sys.stderr)
        return
    if config.enabled:
        send_alerts(config, crawl_alerts(results, config))


def start_url_map(values: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """``--start-url URL`` for one platform, ``--start-url NAME=URL`` (repeatable) for several."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if sep and "://" not in name:
            if name not in names:
                raise UserError(f"--start-url names {name!r}, which is not being crawled")
            out[name] = url
        elif len(names) == 1:
            out[names[0]] = value
        else:
            raise UserError("with several platforms, give --start-url as NAME=URL")
    return out


def register(sub: Any) -> None:
    from crawler.politeness.commands import add_crawl_flags

    p = sub.add_parser("crawl", help="crawl platforms into the archive and store")
    p.add_argument("platform", nargs="+", help="platform name(s), or definition file(s) (*.toml)")
    p.add_argument("--start-url", action="append", default=[], metavar="[NAME=]URL",
                   help="start here instead of the definition's start URLs (NAME=URL for several "
                   "platforms; comma-separate several URLs)")  # fmt: skip
    p.add_argument("--out", help="data directory (WARC files, store; default: the setting "
                   "ADARCHIVE_DATA_DIR, adarchive-data)")  # fmt: skip
    db_option(p)
    definitions_option(p)
    p.add_argument("--max-pages", type=int, help="stop after this many responses")
    set_option(p, "override a Scrapy/adarchive setting (repeatable)")
    p.add_argument("--log-level", help="Scrapy log level (default: the setting LOG_LEVEL, INFO)")
    add_crawl_flags(p)  # issue 7: --ignore-robots/--authority, --user-agent(-reason), budgets
    p.set_defaults(func=cmd_crawl)
