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
# The omnibox popup of every headless window (Chromium 156: two WebUI pages per window).
QUIET_FEATURES = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup")
# Where Playwright's driver keeps chromiumSwitches.ts, bundled or not, by version.
_DRIVER_FILES = ("lib/coreBundle.js", "lib/server/chromium/chromiumSwitches.js")
_LIST = re.compile(r"\bdisabledFeatures\s*=\s*\[(.*?)\]", re.DOTALL)
_NAME = re.compile(r"""["']([A-Za-z][A-Za-z0-9_]*)["']""")


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
        found = _LIST.search(text)
        if found:
            names = _NAME.findall(re.sub(r"//[^\n]*", "", found.group(1)))
            if names:
                return tuple(names)
    return None


def feature_names(args: Sequence[str]) -> list[str]:
    """Every name in the ``--disable-features`` switches of ``args``, in order."""
    return [
        name
        for arg in args
        if arg.startswith(SWITCH)
        for name in arg[len(SWITCH) :].split(",")
        if name.strip()
    ]


def with_quiet_features(args: Sequence[str]) -> list[str]:
    """``args`` for Playwright's launch, its ``--disable-features`` switches merged into one
    that also holds Playwright's own names and :data:`QUIET_FEATURES`."""
    defaults = playwright_disabled_features()
    if defaults is None:
        logger.debug("Playwright's disabled features not found: Chromium keeps its omnibox popups")
        return list(args)
    names = dict.fromkeys([*defaults, *QUIET_FEATURES, *feature_names(args)])
    rest = [arg for arg in args if not arg.startswith(SWITCH)]
    return [*rest, SWITCH + ",".join(names)]
