"""Chromium's ``--disable-features``: one switch holding Playwright's names, ours and the user's.

In Chromium's headless mode every page is a browser window, and each window starts
a renderer for its address bar's popup (``chrome://omnibox-popup.top-chrome``,
a WebUI page nobody sees). Turning that off cuts Chromium's CPU per page by about
40 % (8 pages: 8.6 -> 5.2 s; a crawl of the fixture web's Thai board: 15.8 -> 9 s)
and changes nothing in the pages themselves.

Chromium keeps only the last ``--disable-features`` on its command line, and
Playwright puts its own list first (``HttpsUpgrades``, ``ThirdPartyStoragePartitioning``
and more that routing and our guards rely on), before the caller's arguments. A
switch of ours alone would silently drop that list, so ours (the last) carries
Playwright's names, ours and any the user gave. Playwright's list is read from
its driver; where it cannot be read (a layout this code does not know), nothing is
added and a user's own switch replaces Playwright's as it always did.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

SWITCH = "--disable-features="
ENABLE = "--enable-features="
# The omnibox popup of every headless window (Chromium 156: two WebUI pages per window).
QUIET_FEATURES = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup")
# Where Playwright's driver keeps chromiumSwitches.ts, bundled or not, by version.
_DRIVER_FILES = ("lib/coreBundle.js", "lib/server/chromium/chromiumSwitches.js")
_START = re.compile(r"\bdisabledFeatures\s*=\s*\[")
# One element: a string literal, then a comma or the list's end; comments around it.
_ELEMENT = re.compile(
    r"""\s*(?://[^\n]*\n\s*|/\*.*?\*/\s*)*(?:"([A-Za-z][A-Za-z0-9_]*)"|'([A-Za-z][A-Za-z0-9_]*)')\s*(,)?""",
    re.DOTALL,
)
_END = re.compile(r"\s*(?://[^\n]*\n\s*|/\*.*?\*/\s*)*\]\s*(?:\.filter\(|;|,|\n)", re.DOTALL)


def driver_package() -> Path | None:
    try:
        import playwright
    except ImportError:
        return None
    return Path(playwright.__file__).parent / "driver" / "package"


@functools.cache
def playwright_disabled_features(package: Path | None = None) -> tuple[str, ...] | None:
    """The feature names Playwright disables in every Chromium it launches, or None
    when its driver's layout is not one this code knows."""
    package = package or driver_package()
    if package is None:
        return None
    for relative in _DRIVER_FILES:
        try:
            text = (package / relative).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        start = _START.search(text)
        if start is not None:
            return _literal_list(text, start.end())
    return None


def _literal_list(text: str, pos: int) -> tuple[str, ...] | None:
    """The names of a JavaScript array of plain string literals starting at ``pos``; None
    if any element is something else (a condition, a variable): a list read wrongly
    would turn Playwright's features back on, which is worse than adding nothing."""
    names: list[str] = []
    while True:
        end = _END.match(text, pos)
        if end is not None:
            return tuple(names) if names else None
        element = _ELEMENT.match(text, pos)
        if element is None:
            return None
        names.append(element.group(1) or element.group(2))
        pos = element.end()
        if element.group(3) is None:  # no comma: the list must end here
            return tuple(names) if _END.match(text, pos) else None


def feature_names(args: Sequence[str], switch: str = SWITCH) -> list[str]:
    """Every name in the ``switch`` (``--disable-features=``) arguments of ``args``, in order."""
    return [
        name.strip()
        for arg in args
        if arg.startswith(switch)
        for name in arg[len(switch) :].split(",")
        if name.strip()
    ]


def with_quiet_features(args: Sequence[str], ignore_default_args: object = None) -> list[str]:
    """``args`` for Playwright's launch, its ``--disable-features`` switches merged into one
    that also holds Playwright's own names and :data:`QUIET_FEATURES`.

    A name the user enables (``--enable-features``) is left out, so any of them can be
    turned back on; and nothing is merged when the launch drops Playwright's default
    arguments (``ignore_default_args``): their list is not ours to restore."""
    defaults = playwright_disabled_features()
    if defaults is None or ignore_default_args:
        if defaults is None:
            logger.debug("Playwright's disabled features not read: no omnibox popups switch")
        return list(args)
    enabled = set(feature_names(args, ENABLE))
    names = dict.fromkeys(
        n for n in [*defaults, *QUIET_FEATURES, *feature_names(args)] if n not in enabled
    )
    rest = [arg for arg in args if not arg.startswith(SWITCH)]
    return [*rest, SWITCH + ",".join(names)]
