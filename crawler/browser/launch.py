"""Which Chromium to launch, and the scrapy-playwright settings of a browser platform.

Debian's ``/usr/bin/chromium`` is used when present (Playwright's own download
is not always possible), else Playwright's own Chromium; when neither exists
the crawl stops before it starts with one line naming the fix.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from crawler.runner import CrawlSetupError

HANDLER = "crawler.browser.handler.BrowserDownloadHandler"
PAGE_ERROR = "crawler.browser.handler.BrowserPageError"
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
FIX = (
    "install Chromium: `apt-get install chromium` (Debian/Ubuntu) or "
    "`.venv/bin/playwright install chromium`, or set ADARCHIVE_BROWSER_EXECUTABLE"
)


class BrowserNotFound(CrawlSetupError):
    """No browser to render pages with; the message names the fix."""


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def playwright_chromium() -> Path | None:
    """Playwright's own Chromium, if it has been downloaded (asked in a subprocess).

    A subprocess, because Playwright's sync API cannot run inside the asyncio
    loop Scrapy's reactor owns.
    """
    code = "from playwright.sync_api import sync_playwright\nwith sync_playwright() as p: print(p.chromium.executable_path)"
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(result.stdout.strip()) if result.returncode == 0 else None
    return path if path and _executable(path) else None


@functools.cache
def find_browser(configured: str | None = None) -> str | None:
    """The ``executable_path`` to launch, or None for Playwright's own Chromium.

    Raises :class:`BrowserNotFound` (one line, naming the fix) when there is none.
    """
    if configured:
        if not _executable(Path(configured)):
            raise BrowserNotFound(
                f"ADARCHIVE_BROWSER_EXECUTABLE={configured!r} is not an executable file; {FIX}"
            )
        return configured
    if _executable(DEBIAN_CHROMIUM):
        return str(DEBIAN_CHROMIUM)
    if playwright_chromium() is not None:
        return None
    raise BrowserNotFound(
        f"no Chromium for browser-rendered platforms ({DEBIAN_CHROMIUM} is missing and "
        f"Playwright has not downloaded its own); {FIX}"
    )


def browser_args(value: Any) -> list[str]:
    """ADARCHIVE_BROWSER_ARGS as a list: a list, a JSON list, or one flag per line.

    Not comma-separated: Chromium flags such as ``--host-resolver-rules`` contain commas.
    """
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise CrawlSetupError(f"ADARCHIVE_BROWSER_ARGS: not a JSON list: {exc}") from None
        if not isinstance(parsed, list):
            raise CrawlSetupError("ADARCHIVE_BROWSER_ARGS: not a JSON list")
        return [str(v) for v in parsed]
    return [line.strip() for line in text.splitlines() if line.strip()]


def browser_settings(settings: Any) -> dict[str, Any]:
    """The Scrapy settings that send browser pages through our scrapy-playwright handler."""
    executable = find_browser(settings.get("ADARCHIVE_BROWSER_EXECUTABLE"))
    launch: dict[str, Any] = {
        "headless": True,
        "args": browser_args(settings.get("ADARCHIVE_BROWSER_ARGS")),
    }
    if executable:
        launch["executable_path"] = executable
    handlers = dict(settings.getdict("DOWNLOAD_HANDLERS") or {})
    handlers.update({"http": HANDLER, "https": HANDLER})
    retry = list(settings.getlist("RETRY_EXCEPTIONS") or [])
    if PAGE_ERROR not in retry:
        retry.append(PAGE_ERROR)
    return {
        "DOWNLOAD_HANDLERS": handlers,
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch,
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": max(1, settings.getint("ADARCHIVE_BROWSER_MAX_PAGES")),
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": page_timeout(settings) * 1000,
        # The browser sends its own headers (with our User-Agent, set on the
        # context), so the archived request records are what it really sent.
        "PLAYWRIGHT_PROCESS_REQUEST_HEADERS": None,
        "RETRY_EXCEPTIONS": retry,
    }


def proxy_args(proxy_host: str) -> list[str]:
    """Chromium flags that leave the egress proxy as the browser's only way out (issue 14).

    Chromium resolves no name itself (the proxy does, once, and checks the
    answer), so a name cannot answer Chromium differently than the guard; and
    WebRTC sends no UDP except through the proxy (which carries none).

    """
    return [
        f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {proxy_host}",
        # Chromium's switch is kWebRtcIPHandlingPolicy = "webrtc-ip-handling-policy"
        # (chrome/common/chrome_switches.cc); no "force-" spelling exists in Chromium
        # 156's binary, and with it STUN still reached the canary over UDP. Both
        # proved with the canary: tests/test_webrtc_flag.py.
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    ]


def page_timeout(settings: Any) -> float:
    return max(1.0, settings.getfloat("ADARCHIVE_BROWSER_PAGE_TIMEOUT"))


def apply_browser_settings(settings: Any) -> None:
    """Set :func:`browser_settings` at spider priority (``-s`` on the command line still wins)."""
    for name, value in browser_settings(settings).items():
        settings.set(name, value, priority="spider")
