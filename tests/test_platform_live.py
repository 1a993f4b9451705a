"""`platform check NAME --live`: one listing page and one advert, fetched politely, shown in full."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from conftest import FAST, adarchive


def test_live_check_reads_one_listing_and_one_advert(fixture_web: Any, truth: dict) -> None:
    url = fixture_web.start_urls["kz_board"]
    host = urlsplit(url).hostname
    mark = len(fixture_web.request_log)
    result = adarchive(
        "platform", "check", "kz_board", "--live", "--json", "--start-url", url, *FAST
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    report = json.loads(result.stdout[result.stdout.index("{") :])
    fetched = [e for e in fixture_web.request_log[mark:] if urlsplit(e.url).hostname == host]
    # politely: robots.txt first, then exactly one listing page and one advert
    assert [urlsplit(e.url).path for e in fetched][0] == "/robots.txt"
    assert len(fetched) == 3 and fetched[1].url == url
    advert = report["advert"]
    assert fetched[2].url == advert["url"] and advert["url"] in report["listing"]["ad_links"]
    expected = next(a for a in truth["ads"] if a["url"] == advert["url"])
    assert advert["fields"]["external_id"] == str(expected["external_id"])
    assert advert["fields"]["name"] == expected["name"]
    found = {(i["kind"], i["value"]) for i in report["identifiers"]}
    plain = {(i["kind"], i["value"]) for i in expected["identifiers"] if not i["requires_browser"]}
    assert plain and plain <= found


def test_live_check_refused_start_url_names_the_fix(fixture_web: Any) -> None:
    url = fixture_web.start_urls["kz_board"]
    result = adarchive("platform", "check", "kz_board", "--live", "--start-url", url)
    assert result.returncode == 1
    assert "listing  (not fetched)" in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("adarchive: kz_board: live check refused")
        and "ADARCHIVE_ALLOWED_ADDRESSES" in last
    )
