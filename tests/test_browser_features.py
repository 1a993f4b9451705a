"""Chromium's feature switch: Playwright's names, ours and the user's in one ``--disable-features``.

Chromium keeps only the last such switch; Playwright passes its own first, ours
comes after it and so must carry Playwright's names too. The
browser test reads the switch back from the running browser's command line and
asks Chromium (DevTools protocol) for its omnibox popup pages: none with our
switch, and some without it, which proves the names still mean something to
this Chromium.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from crawler.browser import features
from crawler.browser.features import (
    QUIET_FEATURES,
    SWITCH,
    feature_names,
    playwright_disabled_features,
    with_quiet_features,
)
from crawler.browser.launch import find_browser


def test_playwrights_names_are_read_from_its_installed_driver() -> None:
    names = playwright_disabled_features()
    assert names and len(names) >= 5, names
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", n) for n in names), names


def test_every_switch_is_merged_into_one() -> None:
    args = with_quiet_features(["--mute-audio", f"{SWITCH}Mine,Yours", f"{SWITCH}Theirs"])
    switches = [a for a in args if a.startswith(SWITCH)]
    assert len(switches) == 1 and "--mute-audio" in args
    names = feature_names(switches)
    assert names == list(dict.fromkeys(names))  # each once
    assert [*playwright_disabled_features(), *QUIET_FEATURES, "Mine", "Yours", "Theirs"] == names
    assert with_quiet_features(args) == args  # merging twice changes nothing


def test_an_unknown_driver_layout_adds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "coreBundle.js").write_text("const somethingElse = ['A'];\n")
    assert playwright_disabled_features(tmp_path) is None
    monkeypatch.setattr(features, "playwright_disabled_features", lambda: None)
    mine = ["--mute-audio", f"{SWITCH}Mine"]
    assert with_quiet_features(mine) == mine  # Playwright's list unknown: never dropped by us


def test_only_a_list_of_plain_names_is_read(tmp_path: Path) -> None:
    """A list read wrongly would turn Playwright's features back on: any doubt reads None."""
    bundle = tmp_path / "lib" / "coreBundle.js"
    bundle.parent.mkdir()
    cases = {
        'disabledFeatures = [\n  // a ] in a comment\n  "A",\n  "B"\n].filter(Boolean);': (
            "A",
            "B",
        ),
        'disabledFeatures = ["A", cond ? "B" : ""].filter(Boolean);': None,
        'disabledFeatures = ["A", other];': None,
        'disabledFeatures = (mode) => ["A"];': None,
    }
    for text, expected in cases.items():
        bundle.write_text(text)
        playwright_disabled_features.cache_clear()
        assert playwright_disabled_features(tmp_path) == expected, text
    playwright_disabled_features.cache_clear()


def test_the_user_can_enable_any_name_and_drop_playwrights_defaults() -> None:
    args = with_quiet_features(["--enable-features=WebUIOmniboxPopup,HttpsUpgrades"])
    names = feature_names(args)
    assert "WebUIOmniboxPopup" not in names and "HttpsUpgrades" not in names
    assert "WebUIOmniboxAimPopup" in names
    # ignore_default_args (PLAYWRIGHT_LAUNCH_OPTIONS): Playwright's list is not restored
    assert with_quiet_features(["--mute-audio"], True) == ["--mute-audio"]


def _launched(args: list[str]) -> tuple[list[str], list[str]]:
    """Launch the crawl's Chromium with ``args``; open one page. The browser process's
    ``--disable-features`` switches (in order), and the URLs of its omnibox popup pages."""
    from playwright.sync_api import sync_playwright

    marker = f"--adarchive-test={uuid.uuid4().hex}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=find_browser(), args=[marker, *args], headless=True
        )
        try:
            page = browser.new_context().new_page()
            page.set_content("<p>one page</p>")
            session = browser.new_browser_cdp_session()
            targets = session.send("Target.getTargets", {})["targetInfos"]
            switches = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
                except OSError:
                    continue
                if marker in cmd and not any(a.startswith("--type=") for a in cmd):
                    switches = [a for a in cmd if a.startswith(SWITCH)]
        finally:
            browser.close()
    popups = [t["url"] for t in targets if t["url"].startswith("chrome://omnibox-popup")]
    return switches, popups


@pytest.mark.browser
def test_the_browser_runs_with_one_switch_and_no_omnibox_popups() -> None:
    switches, popups = _launched(with_quiet_features([f"{SWITCH}Mine"]))
    # Playwright's own switch comes first; the last one is the one Chromium keeps
    effective = feature_names(switches[-1:])
    assert effective == [*playwright_disabled_features(), *QUIET_FEATURES, "Mine"], switches
    assert popups == []
    # The control: without the switch this Chromium opens its popup pages, so the names
    # above are the ones that turn them off (a newer Chromium may rename them).
    plain_switches, plain_popups = _launched([])
    assert plain_popups, "no omnibox popup pages without the switch: are QUIET_FEATURES stale?"
    assert feature_names(plain_switches[-1:]) == list(playwright_disabled_features())
