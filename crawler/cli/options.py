"""Options and argument helpers every command shares (public: feature commands use them)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from crawler.errors import UserError


def setting_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``-s NAME=VALUE`` pairs as a settings mapping."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UserError(f"-s expects NAME=VALUE (got {pair!r})")
        out[name.strip()] = value
    return out


def log_level(args: argparse.Namespace) -> dict[str, str]:
    """--log-level as a setting override, only when given (else LOG_LEVEL's layers)."""
    return {"LOG_LEVEL": args.log_level} if args.log_level else {}


def platform_definition(name_or_path: str, definitions_dir: str | None) -> Any:
    """A platform definition by name (from the definitions directory) or by *.toml path."""
    from crawler.platforms import load_all, load_definition

    if name_or_path.endswith(".toml"):
        return load_definition(name_or_path)
    known = load_all(definitions_dir)
    if name_or_path not in known:
        names = ", ".join(sorted(known)) or "none"
        raise UserError(f"unknown platform {name_or_path!r} (known: {names})")
    return known[name_or_path]


def db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="store URL (default: $ADARCHIVE_DB, else the default store)")


def definitions_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--definitions", metavar="DIR", help="directory of platform definitions")


def set_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                        help=help_text)  # fmt: skip


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


__all__ = [
    "UserError",
    "add_config_option",
    "db_option",
    "platform_definition",
    "definitions_option",
    "log_level",
    "set_option",
    "setting_overrides",
]
