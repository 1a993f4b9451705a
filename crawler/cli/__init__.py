"""`adarchive …` commands: parse arguments, call the library, print.

One module per command (``cmd_*.py``), the shared options in
:mod:`crawler.cli.options`, the parser and the entry point in
:mod:`crawler.cli.entry`. Feature areas register their own commands from
their ``commands`` modules. User mistakes (bad definition, unusable output
directory or store URL, bad input) end with one ``adarchive: error: …`` line
and exit status 2, never a traceback.
"""

from __future__ import annotations

from crawler.cli.entry import build_parser, main
from crawler.errors import UserError

__all__ = ["UserError", "build_parser", "main"]
