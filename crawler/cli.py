"""`adarchive …` commands: parse arguments, call the library, print.

User mistakes (bad definition, unusable output directory or store URL, bad
input) end with one ``adarchive: error: …`` line and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crawler import __version__
from crawler.printable import TerminalSafeStream, install_log_escaping, printable


class UserError(RuntimeError):
    """A mistake the user can fix; printed as one line."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from crawler.analysis.commands import USER_ERRORS as ANALYSIS_ERRORS
    from crawler.configuration import ConfigError
    from crawler.evidence.commands import USER_ERRORS as EVIDENCE_ERRORS
    from crawler.exhibit.commands import USER_ERRORS as EXHIBIT_ERRORS
    from crawler.extract.argument import IdentifierError
    from crawler.platforms import DefinitionError
    from crawler.politeness.commands import USER_ERRORS as HOSTILE_ERRORS
    from crawler.runner import CrawlSetupError
    from crawler.store.db import StoreError
    from crawler.workbench.commands import USER_ERRORS as WORKBENCH_ERRORS

    return (
        UserError,
        DefinitionError,
        StoreError,
        CrawlSetupError,
        IdentifierError,  # issue 17: one identifier syntax, refused when invalid
        ConfigError,
        *EVIDENCE_ERRORS,
        *EXHIBIT_ERRORS,
        *ANALYSIS_ERRORS,
        *HOSTILE_ERRORS,  # issue 7: policy flags without their justification
        *WORKBENCH_ERRORS,  # issue 18: accounts
    )


def _setting_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UserError(f"-s expects NAME=VALUE (got {pair!r})")
        out[name.strip()] = value
    return out


def _log_level(args: argparse.Namespace) -> dict[str, str]:
    """--log-level as a setting override, only when given (else LOG_LEVEL's layers)."""
    return {"LOG_LEVEL": args.log_level} if args.log_level else {}


def _definition(name_or_path: str, definitions_dir: str | None) -> Any:
    from crawler.platforms import load_all, load_definition

    if name_or_path.endswith(".toml"):
        return load_definition(name_or_path)
    known = load_all(definitions_dir)
    if name_or_path not in known:
        names = ", ".join(sorted(known)) or "none"
        raise UserError(f"unknown platform {name_or_path!r} (known: {names})")
    return known[name_or_path]


# -- commands ---------------------------------------------------------------


def cmd_crawl(args: argparse.Namespace) -> int:
    from crawler.politeness.commands import check_crawl_settings, crawl_overrides
    from crawler.report import crawl_exit_status, print_crawl_summary
    from crawler.runner import CrawlJob, build_settings, run_crawls

    definitions = [_definition(name, args.definitions) for name in args.platform]
    start_urls = _start_urls(args.start_url, [d.name for d in definitions])
    hostile = crawl_overrides(args)  # issue 7: robots/UA policy, budgets, --resume
    settings = build_settings(
        args.out,
        args.db,
        overrides={**_log_level(args), **hostile, **_setting_overrides(args.set)},
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


def _start_urls(values: Sequence[str], names: Sequence[str]) -> dict[str, str]:
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
    _print_table(("name", "country", "language", "render", "start urls"), rows)
    return 0


def cmd_platform_check(args: argparse.Namespace) -> int:
    from crawler.check import check_page, selector_overlap_warnings, start_url_refusals

    definition = _definition(args.file, args.definitions)
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

    settings = project_settings(_setting_overrides(args.set))
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


def cmd_settings(args: argparse.Namespace) -> int:
    from crawler.settings_report import print_settings

    return print_settings(args.name, _setting_overrides(args.set), as_json=args.json, doc=args.doc)


def cmd_demo(args: argparse.Namespace) -> int:
    from crawler.demo.run import run_demo

    return run_demo(Path(args.out), db=args.db, ads_per_platform=args.ads, seed=args.seed)


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
        _print_table(
            ("kind", "value", "ads", "platforms"),
            [(r["kind"], r["value"], r["ads"], r["platforms"]) for r in rows],
        )
    return 0


def _print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [list(map(str, header))] + [[printable(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


# -- parser -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adarchive",
        description="Polite crawler and ad archive for counter-trafficking work.",
    )
    parser.add_argument("--version", action="version", version=f"adarchive {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from crawler.politeness.commands import add_crawl_flags

    def db_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", help="store URL (default: $ADARCHIVE_DB, else the default store)")

    def definitions_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--definitions", metavar="DIR", help="directory of platform definitions")

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
    p.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a Scrapy/adarchive setting (repeatable)")  # fmt: skip
    p.add_argument("--log-level", help="Scrapy log level (default: the setting LOG_LEVEL, INFO)")
    add_crawl_flags(p)  # issue 7: --ignore-robots/--authority, --user-agent(-reason), budgets
    p.set_defaults(func=cmd_crawl)

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
    c.add_argument(
        "-s",
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="with --live: a setting, e.g. -s ADARCHIVE_ALLOWED_ADDRESSES=...",
    )
    c.add_argument("--json", action="store_true", help="with --live: JSON instead of text")  # fmt: skip
    c.add_argument("--page", help="a saved page (HTML) to apply the selectors to")
    c.add_argument("--url", help="the URL the saved page came from")
    c.set_defaults(func=cmd_platform_check)

    p = sub.add_parser("demo", help="serve the synthetic fixture web and crawl it end to end")
    p.add_argument("--out", default="demo-output", help="output directory (default demo-output)")
    db_option(p)
    p.add_argument("--ads", type=int, default=16, help="adverts per platform (default 16)")
    p.add_argument("--seed", type=int, default=1, help="fixture world seed (default 1)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("extract", help="extract contact identifiers from JSONL texts")
    p.add_argument("file", nargs="?", default="-", help="JSONL input file, or - for stdin")
    p.add_argument("--region", help="default region (ISO country) for phone numbers")
    p.set_defaults(func=cmd_extract)

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

    # Feature areas register their own commands (one module each, thin as these).
    from crawler.analysis.commands import register as register_analysis
    from crawler.evidence.commands import register as register_evidence
    from crawler.exhibit.commands import register as register_exhibit
    from crawler.politeness.commands import register as register_repair
    from crawler.schedule.commands import register as register_schedule
    from crawler.workbench.commands import register as register_workbench

    register_evidence(sub)
    register_exhibit(sub)
    register_analysis(sub)
    register_repair(sub)  # issue 7: adarchive repair DIR
    register_schedule(sub)
    register_workbench(sub)  # issue 18: serve, users

    p = sub.add_parser("settings", help="every setting's effective value and where it came from")
    p.add_argument("name", nargs="*", help="only these settings (default: all of adarchive's)")
    p.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                   help="as the crawl would be given it (repeatable)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.add_argument("--doc", action="store_true", help="each setting's documentation too")
    p.set_defaults(func=cmd_settings)

    add_config_option(parser)
    return parser


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` on the program and on every command and subcommand."""
    help_text = "configuration file (default: $ADARCHIVE_CONFIG, ./adarchive.toml, user config dir)"
    parser.add_argument("--config", metavar="FILE", help=help_text)
    stack = [parser]
    while stack:
        for action in stack.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    if "--config" not in child._option_string_actions:
                        child.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                                           help=help_text)  # fmt: skip
                    stack.append(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Adverts are written by adversaries: no control character from a page reaches the
    # terminal through what the CLI prints (stdout) or logs (every logger).
    install_log_escaping()
    stdout, sys.stdout = sys.stdout, TerminalSafeStream(sys.stdout)  # type: ignore[assignment]
    try:
        if args.config is not None:
            from crawler.configuration import use_config_file

            use_config_file(args.config)
        return int(args.func(args) or 0)
    except _user_errors() as exc:
        print(f"adarchive: error: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("adarchive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        sys.stdout = stdout


if __name__ == "__main__":
    # Run the importable module's main(), not this __main__ copy: feature modules
    # raise crawler.cli.UserError, which must be the class main() catches.
    from crawler.cli import main as _main

    sys.exit(_main())
