"""The fixture web serves what truth.json says, the way each platform's definition reads it."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import re
import signal
import socket
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import phonenumbers
import pytest
from PIL import Image
from protego import Protego
from scrapy.http import HtmlResponse

from crawler.demo import content
from crawler.demo.server import FixtureWeb
from crawler.demo.world import build_world

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "spiders" / "definitions"
STATIC = ("kz_board", "jp_dating", "uk_directory", "kr_board")
UA = "adarchive-tests/1 (+mailto:tests@example.org)"


@pytest.fixture(scope="module")
def web():
    with FixtureWeb(build_world(seed=7, ads_per_platform=12), port=0) as served:
        yield served


@pytest.fixture(scope="module")
def truth(web):
    return web.truth()


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` without letting urllib undo any encoding; HTTP errors are answers too."""
    req = urllib.request.Request(url, headers={"User-Agent": UA, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers.items()), r.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


def page(url: str) -> HtmlResponse:
    """The page as Scrapy would see it (encoding from header / meta, as in a crawl)."""
    _, headers, body = fetch(url)
    return HtmlResponse(url, body=body, headers=headers)


def definition(name: str) -> dict:
    return tomllib.loads((DEFINITIONS / f"{name}.toml").read_text(encoding="utf-8"))


def select(response: HtmlResponse, spec: str | dict) -> list[str]:
    """Apply one definition selector the documented way: elements give their text."""
    if isinstance(spec, dict):
        if spec.get("from") == "url":
            return re.findall(spec["re"], response.url)[:1]
        values = select(response, spec["selector"])
        return [m.group(1) for v in values if (m := re.search(spec["re"], v))]
    kind, _, expr = spec.partition(":")
    nodes = response.css(expr) if kind == "css" else response.xpath(expr)
    strings_only = re.search(r"::(text|attr\(.+\))$|/text\(\)$|/@[\w-]+$", expr)
    if strings_only:
        return [s.strip() for s in nodes.getall()]
    return ["".join(n.xpath(".//text()").getall()) for n in nodes]


def contact_texts(response: HtmlResponse, spec: str) -> str:
    kind, _, expr = spec.partition(":")
    nodes = response.css(expr) if kind == "css" else response.xpath(expr)
    return "\n".join(nodes.xpath(".//text()").getall() + nodes.xpath(".//a/@href").getall())


def squash(text: str) -> str:
    return " ".join(text.split())


def crawl_listing(start: str, listing: dict) -> tuple[list[str], int]:
    """Follow ``next_page`` from ``start``; return absolute ad links and the pages seen."""
    links, url, pages = [], start, 0
    while url:
        response = page(url)
        pages += 1
        links += [urljoin(url, h) for h in select(response, listing["ad_links"])]
        nxt = select(response, listing["next_page"])
        url = urljoin(url, nxt[0]) if nxt else None
        assert pages < 50, "pagination does not end"
    return links, pages


# --------------------------------------------------------------------------- the world


def test_same_seed_same_world_other_seed_other_world():
    first = json.dumps(build_world(seed=3, ads_per_platform=6).truth(), sort_keys=True)
    again = json.dumps(build_world(seed=3, ads_per_platform=6).truth(), sort_keys=True)
    other = json.dumps(build_world(seed=4, ads_per_platform=6).truth(), sort_keys=True)
    assert first == again
    assert first != other


def test_a_world_can_state_another_crawl_delay():
    from crawler.demo.render import robots_txt

    world = build_world(seed=3, ads_per_platform=2, crawl_delays={"jp_dating": 0.3})
    assert [p["crawl_delay"] for p in world.truth()["platforms"]] == [None, 0.3, None, None, None]
    (jp,) = [p for p in world.platforms if p.spec.name == "jp_dating"]
    assert Protego.parse(robots_txt(jp.spec)).crawl_delay(UA) == 0.3
    # the rest of the world is the one of the same seed
    plain = build_world(seed=3, ads_per_platform=2).truth()
    assert [a["url"] for a in world.truth()["ads"]] == [a["url"] for a in plain["ads"]]


def test_truth_has_the_design_schema(truth, web):
    assert truth["schema"] == "adarchive-fixture-truth/1"
    assert truth["seed"] == 7
    names = [p["name"] for p in truth["platforms"]]
    assert names == ["kz_board", "jp_dating", "uk_directory", "kr_board", "th_board"]
    for p in truth["platforms"]:
        assert {
            "name",
            "base_url",
            "country",
            "language",
            "encoding",
            "render",
            "disallowed_paths",
            "crawl_delay",
        } <= p.keys()
        assert p["base_url"] == web.base_urls[p["name"]]
    ad_keys = {
        "platform",
        "external_id",
        "url",
        "network",
        "poster_account",
        "template_id",
        "name",
        "age",
        "images",
        "identifiers",
        "title",
        "location",
        "price",
    }
    for ad in truth["ads"]:
        assert ad_keys <= ad.keys()
        assert ad["url"].startswith(web.base_urls[ad["platform"]] + "/")
        for ident in ad["identifiers"]:
            assert {"kind", "value", "field", "obfuscation", "requires_browser"} <= ident.keys()
            assert ident["field"] in ("title", "body", "name", "contacts")


def test_networks_span_platforms_among_a_majority_of_independents(truth):
    ads = {f"{a['platform']}:{a['external_id']}": a for a in truth["ads"]}
    networked = [a for a in ads.values() if a["network"]]
    assert 0 < len(networked) < len(ads) / 2
    assert any(len({k.split(":")[0] for k in n["ads"]}) >= 3 for n in truth["networks"])
    for net in truth["networks"]:
        members = [ads[k] for k in net["ads"]]
        assert all(m["network"] == net["id"] for m in members)
        assert len({m["template_id"] for m in members}) == 1
        shared = {tuple(i) for i in net["identifiers"]}
        for m in members:  # each member shows at least one of the network's identifiers
            assert shared & {(i["kind"], i["value"]) for i in m["identifiers"]}
    # one poster account publishing several profiles
    accounts = [a["poster_account"] for a in ads.values() if a["platform"] == "uk_directory"]
    assert max(accounts.count(a) for a in set(accounts)) >= 3


def test_network_identifiers_are_the_ones_members_show(truth):
    ads = {f"{a['platform']}:{a['external_id']}": a for a in truth["ads"]}
    for net in truth["networks"]:
        shown = {(i["kind"], i["value"]) for k in net["ads"] for i in ads[k]["identifiers"]}
        assert net["identifiers"] and {tuple(i) for i in net["identifiers"]} <= shown


def test_detail_pages_carry_numbers_that_are_not_contacts(web):
    for platform in web.world.platforms:
        region = platform.spec.country
        for ad in platform.ads[:4]:
            status, headers, body = fetch(
                web.base_urls[platform.spec.name] + ad.path, {"Cookie": "age_ok=1"}
            )
            text = HtmlResponse(ad.path, body=body, headers=headers).text
            for number in (ad.ref, str(ad.views), str(ad.height), str(ad.age)):
                assert number in text, (platform.spec.name, number)
            assert not phonenumbers.is_valid_number(phonenumbers.parse(ad.ref, region))


def test_every_phone_is_valid_and_normalised(truth):
    phones = [i for a in truth["ads"] for i in a["identifiers"] if i["kind"] == "phone"]
    assert phones
    for ident in phones:
        number = phonenumbers.parse(ident["value"])
        assert phonenumbers.is_valid_number(number), ident
        assert ident["value"] == phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.E164
        )
    for ident in (i for a in truth["ads"] for i in a["identifiers"]):
        if ident["kind"] in ("email", "telegram", "line"):
            assert ident["value"] == ident["value"].lower() and not ident["value"].startswith("@")


def test_a_small_world_shows_every_contact_form():
    world = build_world(seed=1, ads_per_platform=30)
    seen = {
        (ad.platform, c.kind, c.obfuscation)
        for p in world.platforms
        for ad in p.ads
        for c in ad.contacts
    }
    for spec_lang, platform in (
        ("ru", "kz_board"),
        ("en", "uk_directory"),
        ("ko", "kr_board"),
        ("th", "th_board"),
    ):
        for label in content.PHONE_LABELS[spec_lang]:
            assert (platform, "phone", label) in seen, (platform, label)
    labels = {label for _, _, label in seen}
    for label in (
        "kanji",
        "at_ru",
        "at_dot",
        "paren_at",
        "t_link",
        "line_link",
        "kakao_link",
        "cue",
    ):
        assert label in labels


# --------------------------------------------------------------------------- the pages


@pytest.mark.parametrize("name", STATIC)
def test_definition_selectors_find_every_truth_field(name, web, truth):
    spec = definition(name)
    assert spec["platform"]["name"] == name
    assert spec["listing"]["render"] == spec["detail"]["render"] == "static"
    links, pages = crawl_listing(web.start_urls[name], spec["listing"])
    platform_truth = next(p for p in truth["platforms"] if p["name"] == name)
    expected = {a["url"]: a for a in truth["ads"] if a["platform"] == name}
    robots = Protego.parse(fetch(web.base_urls[name] + "/robots.txt")[2].decode())
    trapped = [u for u in links if not robots.can_fetch(u, UA)]
    assert set(links) - set(trapped) == set(expected)
    assert len(trapped) == pages == platform_truth["listing_pages"]  # one trap link per page

    ads = {ad.external_id: ad for ad in web.world.platform(name).ads}
    detail = spec["detail"]
    for url, want in expected.items():
        response = page(url)
        got = {k: select(response, v) for k, v in detail.items() if k not in ("render", "contacts")}
        assert got["external_id"] == [want["external_id"]]
        assert squash(got["title"][0]) == squash(want["title"])
        for key in ("name", "age", "location", "price", "posted"):
            assert got[key] == [want[key]], (url, key)
        if "poster_account" in detail:
            assert got["poster_account"] == [want["poster_account"]]
        assert [urljoin(url, s) for s in got["images"]] == [i["url"] for i in want["images"]]
        texts = {
            "title": got["title"][0],
            "body": got["body"][0],
            "contacts": contact_texts(response, detail["contacts"]),
        }
        for c in ads[want["external_id"]].contacts:
            assert c.shown in texts[c.field], (url, c.field, c.shown)


def test_shift_jis_page_is_served_and_decoded(web, truth):
    ad = next(a for a in truth["ads"] if a["platform"] == "jp_dating")
    status, headers, body = fetch(ad["url"])
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=Shift_JIS"
    assert b'<meta charset="Shift_JIS">' in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert ad["name"].encode("shift_jis") in body
    response = HtmlResponse(ad["url"], body=body, headers=headers)
    assert response.css("td.name::text").get() == ad["name"]
    assert squash(response.css("h2.subject").xpath("string()").get()) == squash(ad["title"])


def test_kz_board_gzip_only_when_accepted(web):
    url = web.start_urls["kz_board"]
    _, plain_headers, plain = fetch(url, {"Accept-Encoding": "identity"})
    _, gz_headers, gz = fetch(url, {"Accept-Encoding": "gzip, deflate, br"})
    _, refused_headers, _ = fetch(url, {"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in plain_headers
    assert gz_headers["Content-Encoding"] == "gzip"
    assert int(gz_headers["Content-Length"]) == len(gz) < len(plain)
    assert gzip.decompress(gz) == plain
    assert "Content-Encoding" not in refused_headers
    _, uk_headers, _ = fetch(web.start_urls["uk_directory"], {"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in uk_headers


def test_uk_directory_is_chunked_and_keeps_the_connection(web):
    host, port = urlsplit(web.base_urls["uk_directory"]).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET /directory/ HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        raw = b""
        while not raw.endswith(b"\r\n0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, "connection closed before the last chunk"
            raw += chunk
    head, _, framed = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
    assert framed.count(b"\r\n") > 4  # several chunks
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    for _ in range(2):  # http.client undoes the chunking; the socket stays open between
        conn.request("GET", "/directory/")
        response = conn.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert b"pagination" in response.read()
    conn.close()


def test_robots_txt_disallows_and_delays_as_truth_says(web, truth):
    for p in truth["platforms"]:
        status, headers, body = fetch(p["base_url"] + "/robots.txt")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        robots = Protego.parse(body.decode())
        for path in p["disallowed_paths"]:
            assert f"Disallow: {path}" in body.decode()
            assert not robots.can_fetch(p["base_url"] + path, UA)
        assert robots.crawl_delay(UA) == p["crawl_delay"]
        for ad in (a for a in truth["ads"] if a["platform"] == p["name"]):
            assert robots.can_fetch(ad["url"], UA)
            assert all(robots.can_fetch(i["url"], UA) for i in ad["images"])
    assert [p["crawl_delay"] for p in truth["platforms"]] == [None, 1, None, None, None]


def test_images_match_truth_and_are_reused(web, truth):
    images = [i for a in truth["ads"] for i in a["images"]]
    by_sha: dict[str, set[str]] = {}
    for ad in truth["ads"]:
        for im in ad["images"]:
            by_sha.setdefault(im["sha256"], set()).add(ad["platform"])
    assert any(len(platforms) >= 2 for platforms in by_sha.values()), "no cross-platform reuse"
    variants = [i for i in images if i["variant_of"]]
    assert variants and all(v["variant_of"] != v["sha256"] for v in variants)
    for im in images[:25] + variants:
        status, headers, body = fetch(im["url"])
        assert status == 200 and headers["Content-Type"] in ("image/jpeg", "image/png")
        assert hashlib.sha256(body).hexdigest() == im["sha256"]
        assert 500 < len(body) < 40_000
        Image.open(io.BytesIO(body)).verify()


def test_th_board_needs_javascript_an_age_cookie_and_a_click(web, truth):
    base = web.base_urls["th_board"]
    shell = page(web.start_urls["th_board"])
    assert shell.css("a.ad-title").get() is None and shell.css("script[src]")
    listing = json.loads(fetch(base + "/api/listing?page=1")[2])
    ads = [a for a in truth["ads"] if a["platform"] == "th_board"]
    assert {base + a["url"] for a in listing["ads"]} >= {a["url"] for a in ads[:5]}
    assert listing["next_page"] == 2

    ad = ads[0]
    gate = page(ad["url"])
    assert gate.css("button#age-yes") and not gate.css("h1.post-title")
    _, headers, body = fetch(ad["url"], {"Cookie": "age_ok=1"})
    detail = HtmlResponse(ad["url"], body=body, headers=headers)
    assert squash(detail.css("h1.post-title").xpath("string()").get()) == squash(ad["title"])
    assert detail.css("button.show-number") and detail.css("span.phone::text").get() is None

    hidden = [i for i in ad["identifiers"] if i["requires_browser"]]
    assert [i["kind"] for i in hidden] == ["phone"]
    api = f"{base}/api/ad/{ad['external_id']}/contact"
    assert fetch(api)[0] == 403
    status, _, answer = fetch(api, {"Cookie": "age_ok=1"})
    shown = json.loads(answer)["phone"]
    world_ad = next(
        a for a in web.world.platform("th_board").ads if a.external_id == ad["external_id"]
    )
    assert status == 200 and shown == world_ad.contacts[0].shown
    assert all(
        not i["requires_browser"]
        for a in truth["ads"]
        if a["platform"] != "th_board"
        for i in a["identifiers"]
    )


def test_request_log_records_each_request(web):
    web.clear_log()
    url = web.start_urls["kr_board"] + "&page=2"
    status, _, _ = fetch(url)
    fetch(web.base_urls["kr_board"] + "/no/such/page")
    first, missing = web.request_log[-2:]
    assert status == 200
    assert (first.method, first.host, first.status, first.user_agent) == (
        "GET",
        "127.0.0.14",
        200,
        UA,
    )
    assert first.url == url and first.path == "/bbs/board.php?bo_table=free&page=2"
    assert first.platform == "kr_board" and first.headers["User-Agent"] == UA
    assert missing.status == 404 and missing.time >= first.time


def test_cli_serves_writes_truth_and_log(tmp_path):
    truth_path, log_path = tmp_path / "truth.json", tmp_path / "log.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crawler.demo.server",
            "--seed",
            "2",
            "--ads",
            "4",
            "--port",
            "0",
            "--truth",
            str(truth_path),
            "--log",
            str(log_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        started = json.loads(proc.stdout.readline())
        assert set(started) == {"base_urls", "start_urls"}
        status, _, _ = fetch(started["start_urls"]["kz_board"])
        assert status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    written = json.loads(truth_path.read_text(encoding="utf-8"))
    assert written["seed"] == 2
    assert [p["base_url"] for p in written["platforms"]] == list(started["base_urls"].values())
    entries = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    assert entries[-1]["url"] == started["start_urls"]["kz_board"] and entries[-1]["status"] == 200


def test_port_zero_gives_each_platform_its_own_address():
    with FixtureWeb(build_world(seed=1, ads_per_platform=2), port=0) as one:
        hosts = [urlsplit(u).hostname for u in one.base_urls.values()]
        ports = {urlsplit(u).port for u in one.base_urls.values()}
        assert hosts == [f"127.0.0.{i}" for i in range(11, 16)] and len(ports) == 1
        assert fetch(one.start_urls["uk_directory"])[0] == 200
