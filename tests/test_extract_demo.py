"""On a real crawl of the fixture web, the store holds every planted identifier and nothing else."""

from __future__ import annotations

from collections import Counter

import pytest

from conftest import CrawlRun

pytestmark = [pytest.mark.crawl]


def test_planted_identifiers_found_in_store(static_crawl: CrawlRun, truth: dict) -> None:
    rows = static_crawl.query(
        "SELECT p.name, a.external_id, i.kind, i.value, ai.channel, ai.field, ai.match,"
        " ai.capture_id = a.capture_id"
        " FROM ad_identifier ai JOIN ad a ON a.id = ai.ad_id JOIN platform p ON p.id = a.platform_id"
        " JOIN identifier i ON i.id = ai.identifier_id"
    )
    stored = {(r[0], r[1], r[2], r[3]) for r in rows}
    assert all(r[7] for r in rows), "every identifier row points at the ad page's capture"
    assert all(r[6] for r in rows), "every identifier keeps the matched text"
    planted = {
        (ad["platform"], str(ad["external_id"]), i["kind"], i["value"])
        for ad in truth["ads"]
        if ad["platform"] in static_crawl.platforms
        for i in ad["identifiers"]
        if not i["requires_browser"]
    }
    found, missed, extra = planted & stored, planted - stored, stored - planted
    per_kind = {
        kind: (
            sum(1 for k in found if k[2] == kind),
            sum(1 for k in planted if k[2] == kind),
            sum(1 for k in extra if k[2] == kind),
        )
        for kind in sorted({k[2] for k in planted | stored})
    }
    print("kind: found/planted, extra", per_kind)
    assert len(planted) >= 40
    assert not missed, f"planted identifiers not found: {sorted(missed)[:10]}"
    assert not extra, f"identifiers that were never planted: {sorted(extra)[:10]}"
    whatsapp = Counter(r[4] for r in rows if r[2] == "phone")
    assert whatsapp["whatsapp"] >= 1
