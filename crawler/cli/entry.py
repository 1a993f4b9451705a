"""The ``adarchive`` parser and entry point: every command registers itself here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# Every module imported here is light: a command imports what it runs inside its handler,
# so `adarchive --help` or `adarchive platforms` never loads Scrapy, SQLAlchemy or argon2
# (tests/test_cli_startup.py holds that line).
from crawler import __version__
from crawler.analysis.commands import USER_ERROR_NAMES as ANALYSIS_ERRORS
from crawler.analysis.commands import register as register_analysis
from crawler.cli import (
    cmd_crawl,
    cmd_demo,
    cmd_extract,
    cmd_identifiers,
    cmd_platforms,
    cmd_settings,
)
from crawler.cli.options import add_config_option
from crawler.evidence.commands import USER_ERROR_NAMES as EVIDENCE_ERRORS
from crawler.evidence.commands import register as register_evidence
from crawler.exhibit.commands import USER_ERROR_NAMES as EXHIBIT_ERRORS
from crawler.exhibit.commands import register as register_exhibit
from crawler.politeness.commands import USER_ERROR_NAMES as POLICY_ERRORS
from crawler.politeness.commands import register as register_repair
from crawler.printable import TerminalSafeStream, install_log_escaping, printable
from crawler.schedule.commands import register as register_schedule
from crawler.workbench.commands import USER_ERROR_NAMES as WORKBENCH_ERRORS
from crawler.workbench.commands import register as register_workbench

# A user's mistake (printed as one line, exit status 2) is an exception of one of these
# classes or a subclass, named rather than imported: the parser then loads none of the
# modules that raise them, so every command starts without paying for the others.
USER_ERRORS: frozenset[str] = frozenset(
    {
        "crawler.errors.UserError",
        "crawler.platforms.DefinitionError",
        "crawler.store.db.StoreError",
        "crawler.runner.CrawlSetupError",
        "crawler.extract.argument.IdentifierError",  # issue 17: one identifier syntax
        "crawler.configuration.ConfigError",
        *EVIDENCE_ERRORS,
        *EXHIBIT_ERRORS,
        *ANALYSIS_ERRORS,
        *POLICY_ERRORS,  # issue 7: policy flags without their justification
        *WORKBENCH_ERRORS,  # issue 18: accounts
    }
)


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a user's mistake: its class, or one it derives from, is named above."""
    return any(f"{cls.__module__}.{cls.__qualname__}" in USER_ERRORS for cls in type(exc).__mro__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adarchive",
        description="Polite crawler and ad archive for counter-trafficking work.",
    )
    parser.add_argument("--version", action="version", version=f"adarchive {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # One module per command; feature areas register theirs from their own packages.
    cmd_crawl.register(sub)
    cmd_platforms.register(sub)
    cmd_demo.register(sub)
    cmd_extract.register(sub)
    cmd_identifiers.register(sub)
    register_evidence(sub)
    register_exhibit(sub)
    register_analysis(sub)
    register_repair(sub)  # issue 7: adarchive repair DIR
    register_schedule(sub)
    register_workbench(sub)  # issue 18: serve, users
    cmd_settings.register(sub)

    add_config_option(parser)
    return parser


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
    except KeyboardInterrupt:
        print("adarchive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if not is_user_error(exc):
            raise
        print(f"adarchive: error: {printable(exc)}", file=sys.stderr)
        return 2
    finally:
        sys.stdout = stdout
