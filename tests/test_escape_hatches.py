"""Issue 14: the escape hatches of a static crawl, tried for real on the hostile board.

The pages under ``/escape/`` (crawler/demo/escape.py) aim non-HTTP schemes,
protocol-relative URLs, redirects to 127.0.0.1 and to link-local addresses,
and floods at the crawler; a canary on 127.0.0.1 (crawler/demo/canary.py)
records every TCP connection, HTTP request and UDP datagram. The platform is
crawled over HTTP and over HTTPS (a self-signed certificate made at start:
Scrapy's default TLS context factory does not verify certificates, so the
crawler takes it as the browser does with ``--ignore-certificate-errors``).
Assertions come from the canary, the crawl's stats and log, its store, its
WARC files and the folders it could have written to.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_hostile_crawl import HostileRun, run_hostile

from conftest import REPO
from crawler.demo.canary import LINK_LOCAL_V4, LINK_LOCAL_V6, Canary, CanaryHit
from crawler.demo.escape import MANY_IMAGES

CEILING = 1536 * 1024 * 1024
"""ADARCHIVE_BROWSER_MEMORY_CEILING's default: the bound for a crawl's whole process tree."""
# What the crawl's subprocess may touch in the checkout: caches of the tools running it.
_NOT_WRITES = {".venv", ".git", ".tools", "__pycache__", ".pytest_cache", ".ruff_cache"}


@pytest.fixture(scope="module")
def canary(fixture_web: Any) -> Iterator[Canary]:
    with Canary() as running:
        fixture_web.hostile.escape.canary = running
        try:
            yield running
        finally:
            fixture_web.hostile.escape.canary = None


@pytest.fixture(scope="module")
def marker() -> str:
    """A value only the crawl's environment holds: reading /proc/self/environ would leak it."""
    return "escape-marker-" + secrets.token_hex(12)


@dataclass
class EscapeRun(HostileRun):
    """A crawl of ``/escape/`` over one scheme, with what the canary and the disk saw."""

    hits: list[CanaryHit] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    """Files written outside the data directory (:func:`written_outside`)."""


@pytest.fixture(scope="module", params=["http", "https"])
def escape(
    request: pytest.FixtureRequest,
    fixture_web: Any,
    canary: Canary,
    marker: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> EscapeRun:
    """One crawl of ``/escape/`` per scheme, with an empty home and temporary folder."""
    scheme = request.param
    canary.clear()
    root = tmp_path_factory.mktemp(f"escape-{scheme}")
    home, tmp = root / "home", root / "tmp"
    home.mkdir()
    tmp.mkdir()
    # Start URLs too: they reach the downloader as requests, where the scheme policy and the
    # address guard stop them. Their hosts also become allowed hosts of the spider, so the
    # pages' redirects to 127.0.0.1 and to link-local addresses get past Scrapy's host filter
    # (which drops them silently at scheduling) and only the address guard stands in the way.
    seeds = [
        fixture_web.hostile.base_url_for(scheme) + "/escape/",
        "file:///proc/self/environ",
        f"ftp://127.0.0.1:{canary.tcp_ports[1]}/x",
        *(url.replace("/meta", "/seed") for url in canary.link_local_urls),
    ]
    env = {"ESCAPE_MARKER": marker, "HOME": str(home), "TMPDIR": str(tmp)}
    started = time.time()
    run = run_hostile(fixture_web, root / "out", ",".join(seeds), env=env, measure=True)
    time.sleep(0.5)  # late hits, had there been any
    outside = written_outside(root, root / "out", started)
    return EscapeRun(**vars(run), hits=canary.hits, outside=outside)


def written_outside(root: Path, out: Path, since: float) -> list[str]:
    """Files the crawl wrote anywhere but its data directory ``out``: in its home and
    temporary folders (``root/home``, ``root/tmp``), beside ``out``, or in the checkout
    it ran from (its working directory)."""
    found = [str(p) for p in root.rglob("*") if p.is_file() and out not in p.parents]
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in _NOT_WRITES]
        for name in files:
            path = Path(folder) / name
            try:
                if path.stat().st_mtime >= since:
                    found.append(str(path))
            except FileNotFoundError:
                continue
    return sorted(found)


def _warc_bytes(out: Path) -> bytes:
    return b"".join(gzip.decompress(p.read_bytes()) for p in (out / "warc").glob("*.warc.gz"))


def test_non_http_schemes_never_leave_the_crawler(escape: EscapeRun, marker: str) -> None:
    # the crawl ended by itself (run_hostile's time limit never fired), finished, exit 0
    assert escape.returncode == 0, escape.stderr[-3000:]
    assert re.search(r"hostile_board(\s+\d+){7}\s+0\s+[\d.]+\s+finished", escape.stdout)
    # nothing reached the canary: no TCP, UDP or HTTP hit (ftp/gopher, protocol-relative
    # image, redirect to 127.0.0.1), nor the hostile board's own internal server
    assert escape.hits == [] and escape.internal_log == []
    # nothing was read: the environment marker and /dev/zero's bytes are nowhere
    raw = _warc_bytes(escape.out)
    assert marker.encode() not in raw
    assert b"\0" * 4096 not in raw
    # every capture (request and response records) is of the platform, over the crawl's scheme
    captured = {r[0] for r in escape.query("SELECT url FROM capture")}
    assert captured and all(u.startswith(f"{escape.scheme}://127.0.0.16:") for u in captured), (
        captured
    )
    assert escape.outside == []
    # file:///dev/zero was never read: the crawl's whole process tree stayed small
    assert 0 < escape.peak_pss < CEILING, escape.peak_pss
    print(f"{escape.scheme}: peak tree PSS {escape.peak_pss >> 20} MiB")
    # each refusal counted under its scheme: 2 start URLs, 4 listing links, 7 advert images
    assert escape.stat("adarchive/refused/scheme/javascript") == 2
    assert escape.stat("adarchive/refused/scheme/file") == 4
    assert escape.stat("adarchive/refused/scheme/ftp") == 3
    assert escape.stat("adarchive/refused/scheme/gopher") == 2
    assert escape.stat("adarchive/refused/scheme/data") == 1
    assert escape.stat("adarchive/refused/scheme/s3") == 1
    assert escape.stat("adarchive/refused/scheme") == 13
    # the protocol-relative image (on the page's scheme) and the redirect to
    # http://127.0.0.1: refused by the address guard as loopback, the redirect at its hop
    assert escape.stat("adarchive/refused/ssrf/loopback") == 2
    port = canary_port(escape)
    assert f"refused (ssrf) {escape.scheme}://127.0.0.1:{port}/escape-proto-relative.png" in (
        escape.stderr
    )
    assert re.search(
        rf"refused \(ssrf\) http://127\.0\.0\.1:{port}/escape-redirect: .*loopback.*"
        r"\(redirect hop 1\)",
        escape.stderr,
    ), escape.stderr[-3000:]
    assert "refused (scheme) file:///proc/self/environ: scheme 'file' is never fetched" in (
        escape.stderr
    )


def canary_port(run: HostileRun) -> int:
    """The canary's HTTP port, as the pages named it in the log."""
    found = re.search(r"http://127\.0\.0\.1:(\d+)/escape-redirect", run.stderr)
    assert found, run.stderr[-3000:]
    return int(found.group(1))


def test_redirects_to_link_local_refused_by_class_without_a_packet(escape: EscapeRun) -> None:
    """169.254.169.254 and [fe80::1] after a redirect: refused by address class before any
    connection (no test may send a packet there), so nothing was archived as sent."""
    # each address twice: as a start URL and as the target of a redirect
    assert escape.stat("adarchive/refused/ssrf/link-local") == 4
    for address in (LINK_LOCAL_V4, f"[{LINK_LOCAL_V6}]"):
        assert f"refused (ssrf) http://{address}:{canary_port(escape)}/seed: " in escape.stderr
        assert re.search(
            rf"refused \(ssrf\) http://{re.escape(address)}:\d+/latest/meta-data/: "
            r".*link-local.*\(redirect hop 1\)",
            escape.stderr,
        ), escape.stderr[-3000:]
    raw = _warc_bytes(escape.out)
    for address in (LINK_LOCAL_V4, f"[{LINK_LOCAL_V6}]"):
        assert f"WARC-Target-URI: http://{address}".encode() not in raw
    # the hops that led there were fetched and archived; the targets never were
    go = {e.path for e in escape.log if e.path.startswith("/escape/go/")}
    assert go == {"/escape/go/canary", "/escape/go/link-local", "/escape/go/link-local-v6"}


def test_a_bad_image_url_is_refused_alone(escape: EscapeRun) -> None:
    rows = escape.query(
        "SELECT ad_image.url, ad_image.image_id FROM ad_image JOIN ad ON ad.id = ad_image.ad_id"
        " WHERE ad.external_id = 'schemes' ORDER BY ad_image.id"
    )
    assert rows[0][0].startswith("javascript:")  # listed first, refused, recorded as listed
    hashed = {url for url, image_id in rows if image_id is not None}
    base = escape.base_url
    assert hashed == {f"{base}/escape/img/1.png", f"{base}/escape/img/2.png"}


def test_image_cap_bounds_rows_and_fetches(escape: EscapeRun) -> None:
    rows = escape.query(
        "SELECT count(*) FROM ad_image JOIN ad ON ad.id = ad_image.ad_id"
        " WHERE ad.external_id = 'many-images'"
    )
    assert rows == [(10,)]
    fetched = [e for e in escape.log if e.path.startswith(("/escape/img/", "/i/"))]
    assert len(fetched) <= 10 + 2  # the capped advert's ten, the schemes advert's two
    assert escape.stat("adarchive/images/over_cap") == MANY_IMAGES - 10


def test_non_http_download_handlers_are_off() -> None:
    from scrapy.utils.project import get_project_settings

    handlers = get_project_settings().getdict("DOWNLOAD_HANDLERS")
    assert {handlers.get(s, "on") for s in ("file", "ftp", "s3", "data")} == {None}


REFUSE_TRIGGER = {
    "sqlite": (
        "CREATE TRIGGER refuse_one BEFORE INSERT ON ad WHEN NEW.external_id = 'many-images' "
        "BEGIN SELECT RAISE(ABORT, 'synthetic refusal of one advert'); END",
    ),
    "postgresql": (
        "CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN "
        "IF NEW.external_id = 'many-images' THEN "
        "RAISE EXCEPTION 'synthetic refusal of one advert'; END IF; RETURN NEW; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_one BEFORE INSERT ON ad FOR EACH ROW EXECUTE FUNCTION refuse_one()",
    ),
}


@pytest.mark.parametrize("evidence_process", ["True", "False"])
def test_long_identifier_stored_and_a_refused_advert_is_not_silent(
    fixture_web: Any, canary: Canary, store_url: str, tmp_path: Path, evidence_process: str
) -> None:
    """The long-identifier advert is stored on both engines; an advert the store refuses
    (a real trigger of the real database refuses it) is counted, logged and fails the exit."""
    from sqlalchemy import text

    from crawler.store.db import make_engine, upgrade_schema

    engine = make_engine(store_url)
    upgrade_schema(engine)
    with engine.begin() as conn:
        for statement in REFUSE_TRIGGER[engine.dialect.name]:
            conn.execute(text(statement))
    run = run_hostile(
        fixture_web, tmp_path, fixture_web.hostile.base_url + "/escape/",
        "--db", store_url, "-s", f"ADARCHIVE_EVIDENCE_PROCESS={evidence_process}",
    )  # fmt: skip
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT external_id, id FROM ad")).all())
        values = conn.execute(
            text(
                "SELECT identifier.value FROM identifier JOIN ad_identifier"
                " ON ad_identifier.identifier_id = identifier.id WHERE ad_identifier.ad_id = :a"
            ),
            {"a": stored.get("long-id", -1)},
        ).scalars()
        longest = max((len(v) for v in values), default=0)
    engine.dispose()
    assert set(stored) == {"schemes", "long-id"}, run.stderr[-3000:]
    assert longest > 512
    # the refused advert: counted, named with its reason at ERROR, and the exit is not 0
    assert run.returncode != 0
    assert run.stat("adarchive/ads_not_stored") == 1
    base = fixture_web.hostile.base_url
    logged = [line for line in run.stderr.splitlines() if "advert not stored" in line]
    assert len(logged) == 1 and " ERROR: " in logged[0], logged
    assert (
        f"platform=hostile_board external_id=many-images url={base}/escape/ad/many-images:"
        in logged[0]
    )
    assert "synthetic refusal of one advert" in logged[0]
    assert "1 advert(s) not stored" in run.stderr


def _endless(run: HostileRun) -> list[Any]:
    return [e for e in run.log if e.path.startswith("/escape/page/")]


def _warcinfo(out: Path) -> str:
    raw = _warc_bytes(out)
    return raw.split(b"WARC-Type: warcinfo", 1)[1].split(b"WARC/1.1", 1)[0].decode()


EMPTY = 4  # DESIGN.md, finish states: no advert stored although pages were fetched


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_endless_next_chain_stops_by_itself_with_default_budgets(
    fixture_web: Any, tmp_path: Path, scheme: str
) -> None:
    start = fixture_web.hostile.base_url_for(scheme) + "/escape/page/1"
    run = run_hostile(fixture_web, tmp_path, start)
    # The chain is listing pages only: the crawl stops by itself and ends "empty" (exit 4).
    assert run.returncode == EMPTY, run.stderr[-2000:]
    pages = _endless(run)
    assert len(pages) == 500  # ADARCHIVE_MAX_LISTING_PAGES's default
    assert len({e.path.split("?")[0] for e in pages}) == 500
    assert run.stat("adarchive/refused/budget_listing_pages") == 1
    info = _warcinfo(run.out)
    assert "max_depth=600" in info and "max_query_variants=500" in info
    assert "max_listing_pages=500" in info


def test_trap_budgets_overridden_per_crawl_and_per_platform(
    fixture_web: Any, tmp_path: Path
) -> None:
    start = fixture_web.hostile.base_url + "/escape/page/1"
    per_crawl = run_hostile(fixture_web, tmp_path / "crawl", start, "--max-listing-pages", "7")
    assert per_crawl.returncode == EMPTY, per_crawl.stderr[-2000:]
    assert len(_endless(per_crawl)) == 7
    assert "max_listing_pages=7" in _warcinfo(per_crawl.out)
    budgets = {"hostile_board": {"max_listing_pages": 0, "max_depth": 4}}
    per_platform = run_hostile(
        fixture_web, tmp_path / "platform", start, "--max-listing-pages", "7",
        "-s", f"ADARCHIVE_BUDGETS={json.dumps(budgets)}",
    )  # fmt: skip
    assert per_platform.returncode == EMPTY, per_platform.stderr[-2000:]
    assert len(_endless(per_platform)) == 5  # depths 0-4
    assert per_platform.stat("adarchive/refused/budget_depth") == 1
    assert "max_depth=4" in _warcinfo(per_platform.out)
