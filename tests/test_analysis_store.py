"""Analysis on a real crawl of the fixture web (images pipeline on): networks, images,
incremental runs, commands, the known-hash list and the report in headless Chromium."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import CHROMIUM, crawl_world
from crawler.analysis.analysis_config import load_config
from crawler.analysis.analyze import analyze
from crawler.analysis.commands import USER_ERRORS, register
from crawler.analysis.scoring import score_networks
from crawler.store.db import StoreError, open_store
from crawler.store.models import (
    Ad,
    AdIdentifier,
    AdImage,
    AdNetwork,
    Capture,
    Identifier,
    Image,
    Link,
    Network,
)

pytestmark = [pytest.mark.crawl]

SEED, ADS = 2, 30


@dataclass
class World:
    out: Path
    db: Path
    truth: dict[str, Any]

    def copy(self, dest: Path) -> Path:
        """A private copy of the crawled store (and its WARC files) for a test that writes."""
        shutil.copytree(self.out, dest)
        return dest / "adarchive.db"


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A fixture world bigger than the session's tiny one, crawled once with images."""
    out = tmp_path_factory.mktemp("analysis-crawl")
    truth = crawl_world(out, SEED, ADS)
    yield World(out, out / "adarchive.db", truth)


def _session(db: Path):  # type: ignore[no-untyped-def]
    return open_store(f"sqlite:///{db}", create=True)()


def run_command(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="adarchive")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args) or 0)


@pytest.fixture(scope="module")
def analysed(crawled: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    db = crawled.copy(tmp_path_factory.mktemp("analysed") / "data")
    world = World(db.parent, db, crawled.truth)
    with _session(db) as session:
        analyze(session, load_config())
    return world


def test_planted_networks_are_recovered(analysed: World) -> None:
    with _session(analysed.db) as session:
        score = score_networks(session, analysed.truth)
    assert score["ads_scored"] >= 80 and score["planted_networks"] >= 5
    assert score["precision"] >= 0.95, score
    assert score["recall"] >= 0.9, score
    # near-duplicate text can only add pairs to the strong-link networks
    assert score["all_links"]["recall"] >= score["strong_links"]["recall"]


def test_links_are_a_spanning_set_with_reasons_and_captures(analysed: World) -> None:
    with _session(analysed.db) as session:
        links = list(session.scalars(select(Link)))
        strong_sizes = list(session.scalars(select(Network.size).where(Network.strong.is_(True))))
        assert links and all(link.reason and link.capture_a and link.capture_b for link in links)
        strong_links = [link for link in links if link.weight >= 0.7]
        assert len(strong_links) == sum(
            n - 1 for n in strong_sizes
        )  # a forest: n-1 edges per network
        phone = next(link for link in links if link.kind == "phone")
        assert phone.reason.startswith("shared phone +")
        assert session.get(Capture, phone.capture_a).kind == "response"


def test_images_are_archived_hashed_and_parented_to_the_advert_page(crawled: World) -> None:
    truth_sha = {im["sha256"] for a in crawled.truth["ads"] for im in a["images"]}
    with _session(crawled.db) as session:
        rows = session.execute(
            select(AdImage, Image, Capture, Ad)
            .join(Image, Image.id == AdImage.image_id)
            .join(Capture, Capture.id == AdImage.capture_id)
            .join(Ad, Ad.id == AdImage.ad_id)
        ).all()
        missing = session.scalar(select(func.count(AdImage.id)).where(AdImage.image_id.is_(None)))
    assert rows and missing == 0
    for ad_image, image, capture, ad in rows:
        assert image.sha256 in truth_sha
        assert capture.payload_sha256 == image.sha256 and capture.url == ad_image.url
        assert capture.parent_capture_id == ad.capture_id
        assert image.phash and len(image.phash) == 16 and image.width


def test_image_links_alone_stay_within_planted_networks(crawled: World, tmp_path: Path) -> None:
    db = crawled.copy(tmp_path / "data")
    config_file = tmp_path / "images-only.toml"
    config_file.write_text(
        "[linking.weights]\nphone = 0.0\nemail = 0.0\ntelegram = 0.0\nline = 0.0\nkakao = 0.0\n"
        "wechat = 0.0\ntext = 0.0\n",
        encoding="utf-8",
    )
    with _session(db) as session:
        stats = analyze(session, load_config(config_file))
        score = score_networks(session, crawled.truth)
    assert stats["links_added"].get("image_sha256", 0) > 0
    assert score["strong_links"]["precision"] == 1.0
    assert score["strong_links"]["correct_pairs"] > 0


def test_incremental_analysis_links_only_the_new_advert(analysed: World, tmp_path: Path) -> None:
    db = World(analysed.out, analysed.db, analysed.truth).copy(tmp_path / "data")
    with _session(db) as session:
        before = session.scalar(select(func.count(Link.id)))
        member, ident = session.execute(
            select(AdIdentifier.ad_id, AdIdentifier.identifier_id)
            .join(Identifier, Identifier.id == AdIdentifier.identifier_id)
            .join(AdNetwork, AdNetwork.ad_id == AdIdentifier.ad_id)
            .where(Identifier.kind == "phone")
            .limit(1)
        ).one()
        source = session.get(Ad, member)
        now = datetime.now(UTC)
        new = Ad(platform_id=source.platform_id, external_id="incremental-1", url="http://127.0.0.1/x",
                 first_seen=now, last_seen=now, name="Newname", body="A brand new text.",
                 text_sha256="f" * 64)  # fmt: skip
        session.add(new)
        session.flush()
        session.add(
            AdIdentifier(ad_id=new.id, identifier_id=ident, field="body", match="x", start=0, end=1)
        )
        session.commit()
        stats = analyze(session, load_config())
        label = session.scalar(
            select(Network.label)
            .join(AdNetwork, AdNetwork.network_id == Network.id)
            .where(AdNetwork.ad_id == new.id, Network.strong.is_(True))
        )
        joined = session.scalar(
            select(func.count()).select_from(AdNetwork)
            .join(Network, Network.id == AdNetwork.network_id)
            .where(Network.label == label, AdNetwork.ad_id == member)
        )  # fmt: skip
        after = session.scalar(select(func.count(Link.id)))
    assert stats["full"] is False and stats["texts_signed"] == 1
    assert stats["links_added"] == {"phone": 1}
    assert after == before + 1 and joined == 1


def test_changed_link_config_relinks_everything(analysed: World, tmp_path: Path) -> None:
    db = analysed.copy(tmp_path / "data")
    config_file = tmp_path / "c.toml"
    config_file.write_text("[linking.text]\njaccard_threshold = 0.9\n", encoding="utf-8")
    with _session(db) as session:
        assert analyze(session, load_config())["full"] is False
        assert analyze(session, load_config(config_file))["full"] is True


def test_commands_analyze_network_and_export(analysed: World, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = analysed.copy(tmp_path / "data")
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps(analysed.truth), encoding="utf-8")
    assert run_command("analyze", "--db", str(db), "--truth", str(truth)) == 0
    out = capsys.readouterr().out
    assert "strong links  pairwise precision" in out and "(default)" in out
    with _session(db) as session:
        label = session.scalar(
            select(Network.label).where(Network.strong.is_(True)).order_by(Network.size.desc())
        )
    assert run_command("network", label, "--db", str(db)) == 0
    text = capsys.readouterr().out
    assert f"network {label}" in text and "shared phone +" in text and ".warc.gz@" in text
    graphml = tmp_path / "g.graphml"
    assert (
        run_command("export-graph", "--format", "graphml", "--out", str(graphml), "--db", str(db))
        == 0
    )
    root = ET.parse(graphml).getroot()
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    assert root.findall(".//g:node", ns) and root.findall(".//g:edge", ns)
    assert run_command("export-graph", "--format", "json", "--db", str(db)) == 0
    graph = json.loads(capsys.readouterr().out)
    assert {e["type"] for e in graph["edges"]} >= {"phone", "uses", "shows"}
    assert run_command("export-graph", "--format", "csv", "--db", str(db)) == 0
    assert capsys.readouterr().out.startswith("Source,Target,Type,Weight,Reason")


def test_command_mistakes_are_user_errors(tmp_path: Path, analysed: World) -> None:
    with pytest.raises(StoreError):
        run_command("network", "S-1", "--db", str(tmp_path / "missing.db"))
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(USER_ERRORS):
        run_command("network", "S-999999", "--db", str(analysed.db))
    with pytest.raises(USER_ERRORS):
        run_command(
            "analyze", "--db", str(analysed.db), "--known-hashes", str(tmp_path / "nope.txt")
        )


def test_known_hashes_flag_images_and_exports_exclude_them(
    analysed: World, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    db = analysed.copy(tmp_path / "data")
    with _session(db) as session:
        sha = session.scalar(
            select(Image.sha256).join(AdImage, AdImage.image_id == Image.id).limit(1)
        )
    listing = tmp_path / "known.txt"
    listing.write_text(f"sha256:{sha}\n", encoding="utf-8")
    assert run_command("analyze", "--db", str(db), "--known-hashes", str(listing), "--json") == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    assert stats["flagged_images"] >= 1
    run_command("export-graph", "--format", "json", "--db", str(db))
    plain = json.loads(capsys.readouterr().out)
    run_command("export-graph", "--format", "json", "--db", str(db), "--include-flagged")
    full = json.loads(capsys.readouterr().out)
    assert sha not in {n["label"] for n in plain["nodes"]}
    assert sha in {n["label"] for n in full["nodes"]}


HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(2)>'


@pytest.mark.browser
def test_report_renders_in_chromium_escaped_blurred_and_without_flagged_images(
    analysed: World, tmp_path: Path
) -> None:
    db = analysed.copy(tmp_path / "data")
    with _session(db) as session:
        # An adversary's advert inside a network: its text must show as text.
        label = session.scalar(
            select(Network.label).where(Network.strong.is_(True)).order_by(Network.size.desc())
        )
        ad_id = session.scalar(
            select(AdNetwork.ad_id)
            .join(Network, Network.id == AdNetwork.network_id)
            .where(Network.label == label)
        )
        ad = session.get(Ad, ad_id)
        ad.title, ad.name = HOSTILE, "</td></tr></table><h1>injected</h1>"
        flagged_sha = session.scalar(
            select(Image.sha256)
            .join(AdImage, AdImage.image_id == Image.id)
            .where(AdImage.ad_id == ad_id)
            .limit(1)
        )
        session.commit()
    listing = tmp_path / "known.txt"
    listing.write_text(f"{flagged_sha}\n", encoding="utf-8")
    run_command("analyze", "--db", str(db), "--known-hashes", str(listing))
    report = tmp_path / "report.html"
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps(analysed.truth), encoding="utf-8")
    assert run_command("report", "--out", str(report), "--db", str(db), "--truth", str(truth)) == 0
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "&lt;script&gt;" in html
    assert "image withheld: matches the known-hash list" in html

    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "headless Chromium is needed: apt-get install -y chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"])  # fmt: skip
        page = browser.new_page()
        problems: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: (problems.append("dialog " + d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        text = page.inner_text("body")
        scripts = page.evaluate("document.scripts.length")
        injected = page.evaluate("document.querySelectorAll('h1').length")
        first = page.locator(".thumb img").first
        blurred = first.evaluate("e => getComputedStyle(e).filter")
        page.locator(".thumb input").first.check()
        revealed = first.evaluate("e => getComputedStyle(e).filter")
        shown = page.evaluate(
            "Array.from(document.images).map(i => i.naturalWidth > 0).every(Boolean)"
        )
        browser.close()
    assert problems == [] and scripts == 0 and injected == 1  # only the report's own <h1>
    assert HOSTILE in text and "<h1>injected</h1>" in text
    assert "blur" in blurred and revealed == "none" and shown
    assert requests == [report.as_uri()]  # self-contained: nothing else is loaded
    assert "false-positive rate" in text.lower() and "Platform link map" in text


@pytest.mark.browser
def test_report_prints_its_capture_references_and_a_page_per_network(
    analysed: World, tmp_path: Path
) -> None:
    """Printed (Chromium's print-to-PDF), the report keeps every capture reference as
    text, not a tooltip; each network starts a page; photos stay blurred."""
    import subprocess

    from playwright.sync_api import sync_playwright

    db = analysed.copy(tmp_path / "data")
    report = tmp_path / "report.html"
    assert run_command("report", "--out", str(report), "--db", str(db)) == 0
    with _session(db) as session:
        record_ids = set(
            session.scalars(
                select(Capture.record_id)
                .join(Ad, Ad.capture_id == Capture.id)
                .join(AdNetwork, AdNetwork.ad_id == Ad.id)
                .join(Network, Network.id == AdNetwork.network_id)
                .where(Network.strong.is_(True))
            )
        )
        networks = session.scalar(select(func.count(Network.id)).where(Network.strong.is_(True)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"])  # fmt: skip
        page = browser.new_page()
        page.goto(report.as_uri())
        page.emulate_media(media="print")
        blurred = page.locator(".thumb img").first.evaluate("e => getComputedStyle(e).filter")
        pdf = tmp_path / "report.pdf"
        pdf.write_bytes(page.pdf(format="A4", print_background=True))
        browser.close()
    assert blurred.startswith("blur(")
    text = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    flat = "".join(text.split())
    assert record_ids and all("".join(r.split()) in flat for r in record_ids)
    pages = text.split("\f")
    headed = [pg for pg in pages if re.search(r"^Network S-\d+ — ", pg, re.M)]
    assert len(headed) == min(networks, 10)  # the report shows the top ten
    for page_text in headed:  # each network's heading opens its page
        assert re.match(r"\s*Network S-\d+ — ", page_text), page_text[:200]
