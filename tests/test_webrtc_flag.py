"""Issue 14: which spelling of the WebRTC IP-handling switch the installed Chromium reads.

The issue names ``--force-webrtc-ip-handling-policy=disable_non_proxied_udp``;
Chromium's own switch is ``--webrtc-ip-handling-policy``
(``kWebRtcIPHandlingPolicy`` in chrome/common/chrome_switches.cc). A page in
a browser launched as the crawl launches it (a proxy, the flags of
:func:`crawler.browser.launch.proxy_args`) gathers ICE candidates against a
STUN server (UDP) and a TURN server (TCP) on the canary: with our flags
nothing arrives; with the issue's spelling in their place the STUN request
does, which is what makes the zero mean something.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.browser.launch import find_browser, proxy_args
from crawler.demo.canary import Canary, CanaryHit

pytestmark = [pytest.mark.browser]

POLICY = "--webrtc-ip-handling-policy=disable_non_proxied_udp"
ISSUE_SPELLING = "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"
DEAD_PROXY = "http://127.0.0.1:9"  # discard port: nothing listens, so nothing is relayed
GATHER = """async ([stun, turn]) => {
  const pc = new RTCPeerConnection({iceServers: [
    {urls: stun}, {urls: turn, username: "u", credential: "p"}]});
  pc.createDataChannel("x");
  const done = new Promise(resolve => {
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
    setTimeout(resolve, 8000);
  });
  await pc.setLocalDescription(await pc.createOffer());
  await done;
  pc.close();
  return "gathered";
}"""


@pytest.fixture
def canary() -> Iterator[Canary]:
    with Canary() as running:
        yield running


def gather(canary: Canary, args: list[str], home: Path) -> list[CanaryHit]:
    """Launch Chromium behind a dead proxy with ``args``, gather ICE candidates, return the
    canary's hits (UDP to its STUN port, TCP to its TURN port)."""
    from playwright.sync_api import sync_playwright

    executable = find_browser(None)
    servers = [f"stun:127.0.0.1:{canary.udp_port}",
               f"turn:127.0.0.1:{canary.tcp_ports[0]}?transport=tcp"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(
            headless=True,
            args=args,
            proxy={"server": DEAD_PROXY},
            env={**os.environ, "HOME": str(home)},
            **({"executable_path": executable} if executable else {}),
        )
        try:
            page = browser.new_page()
            page.set_content("<!DOCTYPE html><title>ice</title>")
            assert page.evaluate(GATHER, servers) == "gathered"
        finally:
            browser.close()
    return canary.wait_for(1, timeout=1.0)


def test_our_flags_keep_webrtc_off_the_network(canary: Canary, tmp_path: Path) -> None:
    args = proxy_args("127.0.0.1")
    assert POLICY in args and ISSUE_SPELLING not in args
    assert gather(canary, args, tmp_path) == []


def test_the_issues_spelling_is_ignored_and_stun_reaches_the_canary(
    canary: Canary, tmp_path: Path
) -> None:
    """The control: the same launch with only the spelling changed leaks STUN over UDP."""
    args = [ISSUE_SPELLING if a == POLICY else a for a in proxy_args("127.0.0.1")]
    hits = gather(canary, args, tmp_path)
    assert any(h.kind == "udp" and h.detail == "stun" for h in hits), json.dumps(
        [h.__dict__ for h in hits], default=str
    )
