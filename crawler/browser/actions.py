"""Run a definition's browser actions on a page: click, wait, scroll (cookies go in first).

Each action reports one line (``click css:button#age-yes: clicked``) that goes
into the page's metadata record, so the evidence says what was done to the
page before it was read and photographed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from crawler.platforms import Action

if TYPE_CHECKING:
    from playwright.async_api import Page

SCROLL_PAUSE_MS = 300


class ActionFailed(RuntimeError):
    """A required action could not be done (its target never appeared)."""


def playwright_selector(selector: str) -> str:
    """``css:…`` / ``xpath:…`` (definition spelling) → ``css=…`` / ``xpath=…`` (Playwright)."""
    kind, _, expression = selector.partition(":")
    return f"{kind}={expression}"


def cookie_specs(actions: Iterable[Action], url: str) -> list[dict[str, Any]]:
    """The cookies to set on the page's context before it loads ``url``."""
    return [
        {"name": name, "value": value, "url": url}
        for action in actions
        if action.verb == "cookies"
        for name, value in action.cookies
    ]


async def run_actions(page: Page, actions: Iterable[Action], timeout: float) -> list[str]:
    """Do each click / wait / scroll in order; one outcome line per action."""
    done = []
    for action in actions:
        if action.verb == "cookies":
            done.append(f"{action.describe()}: set before loading")
            continue
        limit_ms = (action.timeout or timeout) * 1000
        try:
            outcome = await _run(page, action, limit_ms)
        except PlaywrightTimeoutError:
            if not action.optional:
                raise ActionFailed(
                    f"{action.describe()}: nothing after {limit_ms / 1000:g} s"
                ) from None
            outcome = f"timed out after {limit_ms / 1000:g} s, skipped"
        done.append(f"{action.describe()}: {outcome}")
    return done


async def _run(page: Page, action: Action, limit_ms: float) -> str:
    if action.verb == "scroll":
        for _ in range(action.times):
            await page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
            await page.wait_for_timeout(SCROLL_PAUSE_MS)
        await page.evaluate("() => window.scrollTo(0, 0)")
        return f"scrolled {action.times} times"
    assert action.selector is not None
    # Act on a loaded page: an element can be parsed before the script that
    # handles it has run (a button clicked too early does nothing), and an
    # earlier click may have reloaded the page.
    await page.wait_for_load_state("load", timeout=limit_ms)
    locator = page.locator(playwright_selector(action.selector))
    if action.verb == "click":
        # An optional click is for things shown only sometimes (an age gate
        # already confirmed): look once, never wait for it.
        if action.optional and await locator.count() == 0:
            return "absent, skipped"
        await locator.first.click(timeout=limit_ms)
        return "clicked"
    await locator.first.wait_for(state="attached", timeout=limit_ms)
    return "present"
