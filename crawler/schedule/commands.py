"""``adarchive db|schedule|scheduler|status|watch`` (and, via crawler.scale, ``worker|frontier``).

``register(subparsers)`` adds the commands to the main parser; mistakes the
user can fix end as one ``adarchive: error: …`` line (see command_errors.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from crawler.schedule.command_errors import user_facing


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="store URL (default: $ADARCHIVE_DB, else the default store)")


def _factory(db: str | None, create: bool = False) -> Any:
    from crawler.store.db import open_store, resolve_db_url

    return open_store(resolve_db_url(db), create=create)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _print_json(row: Any) -> None:
    print(json.dumps(row, ensure_ascii=False, default=_json_default))


# -- db ---------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from crawler.store.db import (
        current_revision,
        ensure_schema,
        make_engine,
        resolve_db_url,
        sqlite_path,
    )

    url = resolve_db_url(args.db)
    path = sqlite_path(url)
    engine = make_engine(url, create=True)
    try:
        # Not connected to a SQLite file that does not exist yet: that would create it empty.
        before = None if path is not None and not path.exists() else current_revision(engine)
        ensure_schema(engine)  # Alembic loads only if there is a migration to run
        revision = current_revision(engine)
    finally:
        engine.dispose()
    made = "created store" if before is None else "store"
    print(f"{made} {engine.url.render_as_string(hide_password=True)} at revision {revision}")
    return 0


# -- schedule ----------------------------------------------------------------


def cmd_schedule_add(args: argparse.Namespace) -> int:
    from crawler.cli.options import platform_definition
    from crawler.schedule.intervals import describe, parse_every
    from crawler.schedule.schedules import add_schedule

    platform = platform_definition(args.platform, args.definitions).name
    every = parse_every(args.every) if args.every else None
    with _factory(args.db)() as session:
        schedule = add_schedule(session, platform, every_seconds=every, cron=args.cron)
        print(
            f"schedule {schedule.id}: {platform} {describe(every, args.cron)}, "
            f"first run {schedule.next_run:%Y-%m-%d %H:%M:%S} UTC"
        )
    return 0


def cmd_schedule_list(args: argparse.Namespace) -> int:
    from crawler.schedule.schedules import list_schedules
    from crawler.schedule.status import table

    with _factory(args.db)() as session:
        rows = list_schedules(session)
    if args.json:
        for row in rows:
            _print_json(row)
        return 0
    when = "%Y-%m-%d %H:%M:%S"
    lines = table(
        ("id", "platform", "when", "on", "next run (UTC)", "last run (UTC)", "last status"),
        [
            (
                r["id"],
                r["platform"],
                r["when"],
                "yes" if r["enabled"] else "no",
                r["next_run"].strftime(when) if r["next_run"] else "-",
                r["last_run"].strftime(when) if r["last_run"] else "-",
                r["last_status"] or "-",
            )
            for r in rows
        ],
    )
    print("\n".join(lines) if rows else "(no schedules)")
    return 0


def cmd_schedule_remove(args: argparse.Namespace) -> int:
    from crawler.schedule.command_errors import CommandError as UserError
    from crawler.schedule.schedules import remove_schedules

    with _factory(args.db)() as session:
        removed = remove_schedules(session, args.schedule)
    if not removed:
        raise UserError(f"no schedule {args.schedule!r} (give an id or a platform name)")
    print(f"removed {removed} schedule(s)")
    return 0


def cmd_schedule_pause(args: argparse.Namespace) -> int:
    """``schedule pause ID`` / ``schedule resume ID`` (the workbench calls the same function)."""
    from crawler.schedule.command_errors import CommandError as UserError
    from crawler.schedule.schedules import set_enabled

    enabled = args.schedule_command == "resume"
    with _factory(args.db)() as session:
        schedule = set_enabled(session, args.schedule, enabled)
        if schedule is None:
            raise UserError(f"no schedule {args.schedule}")
        print(f"schedule {schedule.id} ({schedule.platform}) {'resumed' if enabled else 'paused'}")
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    from crawler.runner import prepare_output_dir
    from crawler.schedule.command_errors import CommandError as UserError
    from crawler.schedule.scheduler import Scheduler, SchedulerOptions
    from crawler.store.db import resolve_db_url

    out = Path(args.out)
    prepare_output_dir(out)
    db_url = resolve_db_url(args.db, out)
    start_urls: dict[str, str] = {}
    for value in args.start_url:
        name, sep, url = value.partition("=")
        if not sep or "://" in name:
            raise UserError("the scheduler takes --start-url as NAME=URL")
        start_urls[name] = url
    crawl_args: list[str] = []
    for pair in args.set:
        crawl_args += ["-s", pair]
    crawl_args += ["--log-level", args.log_level]
    from crawler.cli.options import setting_overrides
    from crawler.runner import project_settings

    options = SchedulerOptions(
        settings=project_settings(setting_overrides(args.set)),  # alerts, drift (issue 17)
        db_url=db_url,
        out=out,
        definitions=args.definitions,
        start_urls=start_urls,
        crawl_args=crawl_args,
        tick=args.tick,
        max_runs=args.max_runs,
        once=args.once,
    )
    factory = _factory(db_url)  # a store is made by `db upgrade` or a crawl, never implied
    print(f"scheduler: store {db_url}, data {out}, tick {args.tick}s", flush=True)
    ended = Scheduler(options, factory).run()
    print(f"scheduler: stopped after {ended} run(s)", flush=True)
    return 0


# -- status -------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    from crawler.schedule.progressbar import TerminalProgress
    from crawler.schedule.status import render, running_lines, status_report

    factory = _factory(args.db)
    terminal = TerminalProgress(sys.stdout)
    if args.follow and terminal.enabled:
        try:
            while True:
                with factory() as session:
                    report = status_report(session, args.recent)
                terminal.draw(f"running crawls at {report['at']:%H:%M:%S} UTC (Ctrl-C to stop)",
                              *running_lines(report))  # fmt: skip
                time.sleep(args.interval)
        except KeyboardInterrupt:
            terminal.done()
            return 0
    with factory() as session:
        report = status_report(session, args.recent)
    report["custody_gaps"] = _custody_gaps(args.db)
    report["warc_timestamp_gaps"] = _warc_stamp_gaps(args.db)
    if args.json:
        _print_json(report)
    else:
        print("\n".join(render(report)))
        if report["custody_gaps"]:
            print(f"\ncustody: {len(report['custody_gaps'])} chain-head time-stamp request(s) "
                  "queued, TSA unreachable (adarchive custody verify lists them)")  # fmt: skip
        if report["warc_timestamp_gaps"]:
            print(f"custody: {len(report['warc_timestamp_gaps'])} WARC file time-stamp "
                  "request(s) queued, TSA unreachable (adarchive custody verify lists them)")  # fmt: skip
    return 0


def _custody_gaps(db: str | None) -> list[str]:
    """Queued chain-head time-stamp requests beside a SQLite store's WARC files."""
    from crawler.evidence.anchor import pending_requests
    from crawler.store.db import resolve_db_url, sqlite_path

    path = sqlite_path(resolve_db_url(db))
    return [] if path is None else [p.name for p in pending_requests(path.resolve().parent)]


def _warc_stamp_gaps(db: str | None) -> list[str]:
    """Closed WARC files still lacking a configured TSA's token (retried at the next close)."""
    from crawler.evidence.anchor import tsa_urls
    from crawler.evidence.timestamp import missing_tokens
    from crawler.store.db import resolve_db_url, sqlite_path

    path = sqlite_path(resolve_db_url(db))
    if path is None:
        return []
    directory = path.resolve().parent / "warc"
    return [f"{warc.name} {url}" for warc, url, _ in missing_tokens(directory, tsa_urls())]


# -- watch --------------------------------------------------------------------


def cmd_watch_add(args: argparse.Namespace) -> int:
    from crawler.schedule.command_errors import CommandError as UserError
    from crawler.schedule.watchlist import add_watches, read_watch_file

    texts = list(args.identifier)
    if args.file:
        texts += read_watch_file(Path(args.file))
    if not texts:
        raise UserError("give identifier(s) or --file FILE")
    with _factory(args.db)() as session:
        added = add_watches(session, texts, args.kind, args.region, args.note)
    for watch, created in added:
        state = "watching" if created else "already watched"
        print(f"{state} {watch.kind} {watch.value} (watch {watch.id})")
    return 0


def cmd_watch_list(args: argparse.Namespace) -> int:
    from crawler.schedule.status import table
    from crawler.schedule.watchlist import list_watches

    with _factory(args.db)() as session:
        rows = list_watches(session)
    if args.json:
        for row in rows:
            _print_json(row)
        return 0
    cols = ("id", "kind", "value", "hits", "note")
    print("\n".join(table(cols, [tuple(r[c] for c in cols) for r in rows])) if rows else "(none)")
    return 0


def cmd_watch_remove(args: argparse.Namespace) -> int:
    from crawler.schedule.command_errors import CommandError as UserError
    from crawler.schedule.watchlist import remove_watch

    with _factory(args.db)() as session:
        removed = remove_watch(session, args.watch, args.region)
    if not removed:
        raise UserError(f"no watch {args.watch!r}")
    print(f"removed {removed} watch(es) and their hits")
    return 0


def cmd_watch_hits(args: argparse.Namespace) -> int:
    from crawler.evidence.selection import parse_since
    from crawler.schedule.watchlist import hits, scan

    since = parse_since(args.since) if args.since else None
    with _factory(args.db)() as session:
        new = [] if args.no_scan else scan(session)
        rows = hits(session, since=since, crawl=args.crawl, hit_ids=new if args.new else None)
    if args.json:
        for row in rows:
            _print_json(row)
        return 0
    if not rows:
        print("(no watch hits)")
        return 0
    for row in rows:
        ad, watch = row["ad"], row["watch"]
        print(
            f"hit {row['hit']}  {row['found_at']:%Y-%m-%d %H:%M:%S} UTC  "
            f"{watch['kind']} {watch['value']}  on {ad['platform']}:{ad['external_id']}  "
            f"{ad['url']}{'  (new)' if row['hit'] in new else ''}"
        )
        for cap in row["captures"]:
            print(
                f"    capture {cap['capture']} ({cap['kind']}, {cap['fetched_at']:%Y-%m-%d %H:%M:%S})"
                f"  {cap['warc']} @{cap['offset']}+{cap['length']}  {cap['record_id']}"
                f"  {cap['field']}: {cap['match']!r}"
            )
    return 0


# -- parser -------------------------------------------------------------------


def register(sub: Any) -> None:
    p = sub.add_parser("db", help="the store's schema")
    dsub = p.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    c = dsub.add_parser("upgrade", help="apply the Alembic migrations (SQLite or PostgreSQL)")
    _db_option(c)
    c.set_defaults(func=user_facing(cmd_db_upgrade))

    p = sub.add_parser("schedule", help="recurring crawls of a platform")
    ssub = p.add_subparsers(dest="schedule_command", required=True, metavar="SUBCOMMAND")
    c = ssub.add_parser("add", help="crawl PLATFORM --every 6h, or on a --cron expression (UTC)")
    c.add_argument("platform")
    when = c.add_mutually_exclusive_group(required=True)
    when.add_argument("--every", help="interval: 30m, 6h, 1d, 1h30m …")
    when.add_argument("--cron", help='cron expression in UTC, e.g. "0 */6 * * *"')
    c.add_argument("--definitions", metavar="DIR", help="directory of platform definitions")
    _db_option(c)
    c.set_defaults(func=user_facing(cmd_schedule_add))
    c = ssub.add_parser("list", help="schedules, next and last runs")
    c.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    _db_option(c)
    c.set_defaults(func=user_facing(cmd_schedule_list))
    c = ssub.add_parser("remove", help="remove a schedule (id) or all schedules of a platform")
    c.add_argument("schedule", help="schedule id or platform name")
    _db_option(c)
    c.set_defaults(func=user_facing(cmd_schedule_remove))

    for verb, text in (("pause", "stop starting a schedule's crawls (it keeps its place)"),
                       ("resume", "start a paused schedule's crawls again")):  # fmt: skip
        c = ssub.add_parser(verb, help=text)
        c.add_argument("schedule", type=int, help="schedule id")
        _db_option(c)
        c.set_defaults(func=user_facing(cmd_schedule_pause))

    p = sub.add_parser("scheduler", help="run due crawls (long-running; state in the store)")
    p.add_argument("--out", default="adarchive-data", help="data directory of the crawls")
    _db_option(p)
    p.add_argument("--definitions", metavar="DIR", help="directory of platform definitions")
    p.add_argument("--start-url", action="append", default=[], metavar="NAME=URL",
                   help="start this platform's crawls here (repeatable)")  # fmt: skip
    p.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                   help="setting for every crawl (repeatable)")  # fmt: skip
    p.add_argument("--log-level", default="INFO", help="crawl log level (default INFO)")
    p.add_argument("--tick", type=float, default=10.0,
                   help="seconds between looks at the schedules (default 10)")  # fmt: skip
    p.add_argument("--max-runs", type=int, help="stop once this many runs have ended")
    p.add_argument("--once", action="store_true",
                   help="start what is due, wait for it, stop (for cron / systemd timers)")  # fmt: skip
    p.set_defaults(func=user_facing(cmd_scheduler))

    p = sub.add_parser("status", help="running crawls with progress, recent crawls, schedules")
    _db_option(p)
    p.add_argument("--recent", type=int, default=10, help="how many finished crawls (default 10)")
    p.add_argument("--follow", action="store_true",
                   help="on a terminal: redraw progress bars until Ctrl-C")  # fmt: skip
    p.add_argument("--interval", type=float, default=2.0, help="seconds between redraws")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.set_defaults(func=user_facing(cmd_status))

    p = sub.add_parser("watch", help="watchlists of identifiers, and adverts carrying them")
    wsub = p.add_subparsers(dest="watch_command", required=True, metavar="SUBCOMMAND")
    c = wsub.add_parser("add", help="watch identifier(s): +7701…, telegram:name, a@b.example …")
    c.add_argument("identifier", nargs="*")
    c.add_argument("--file", help="a file of identifiers, one per line (# comments)")
    c.add_argument("--kind", help="identifier kind when it cannot be recognised")
    c.add_argument("--region", help="default region (ISO country) for phone numbers")
    c.add_argument("--note", help="why it is watched (case reference …)")
    _db_option(c)
    c.set_defaults(func=user_facing(cmd_watch_add))
    c = wsub.add_parser("list", help="watched identifiers and their hit counts")
    c.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    _db_option(c)
    c.set_defaults(func=user_facing(cmd_watch_list))
    c = wsub.add_parser("remove", help="stop watching (id or identifier)")
    c.add_argument("watch")
    c.add_argument("--region", help="default region (ISO country) for phone numbers")
    _db_option(c)
    c.set_defaults(func=user_facing(cmd_watch_remove))
    c = wsub.add_parser("hits", help="adverts found carrying a watched identifier, with captures")
    c.add_argument("--since", help="only hits found since this date (YYYY-MM-DD or ISO time)")
    c.add_argument("--crawl", type=int, help="only hits found in this crawl")
    c.add_argument("--new", action="store_true", help="only hits this call found")
    c.add_argument("--no-scan", action="store_true", help="list recorded hits without scanning")
    c.add_argument("--json", action="store_true", help="JSON lines instead of text")
    _db_option(c)
    c.set_defaults(func=user_facing(cmd_watch_hits))

    # Scale-out commands (crawler/scale): worker, frontier.
    from crawler.scale.commands import register as register_scale

    before = set(sub.choices)
    register_scale(sub)
    for name in set(sub.choices) - before:
        _wrap(sub.choices[name])


def _wrap(parser: argparse.ArgumentParser) -> None:
    """Give a parser (and its subcommands) one-line errors for this package's mistakes."""
    func = parser.get_default("func")
    if func is not None:
        parser.set_defaults(func=user_facing(func))
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _wrap(child)
