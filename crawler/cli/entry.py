"""The ``adarchive`` parser and entry point: every command registers itself here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crawler import __version__
from crawler.cli.options import add_config_option
from crawler.errors import UserError
from crawler.printable import TerminalSafeStream, install_log_escaping, printable


def _user_errors() -> tuple[type[BaseException], ...]:
    """Every exception class that is a user's mistake: printed as one line, exit status 2."""
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adarchive",
        description="Polite crawler and ad archive for counter-trafficking work.",
    )
    parser.add_argument("--version", action="version", version=f"adarchive {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # One module per command; feature areas register theirs from their own packages.
    from crawler.analysis.commands import register as register_analysis
    from crawler.cli import (
        cmd_crawl,
        cmd_demo,
        cmd_extract,
        cmd_identifiers,
        cmd_platforms,
        cmd_settings,
    )
    from crawler.evidence.commands import register as register_evidence
    from crawler.exhibit.commands import register as register_exhibit
    from crawler.politeness.commands import register as register_repair
    from crawler.schedule.commands import register as register_schedule
    from crawler.workbench.commands import register as register_workbench

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
