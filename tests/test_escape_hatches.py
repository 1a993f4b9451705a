"""Issue 14: the escape hatches of a static crawl, tried for real on the hostile board.

The pages under ``/escape/`` (crawler/demo/escape.py) aim non-HTTP schemes,
protocol-relative URLs and floods at the crawler; a canary on 127.0.0.1
(crawler/demo/canary.py) records every TCP connection, HTTP request and UDP
datagram. Assertions come from the canary, the crawl's stats and log, its
store and its WARC files.
"""

from __future__ import annotations

import gzip
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_hostile_crawl import HostileRun, run_hostile

from crawler.demo.canary import Canary
from crawler.demo.escape import MANY_IMAGES


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


@pytest.fixture(scope="module")
def escape(
    fixture_web: Any, canary: Canary, marker: str, tmp_path_factory: pytest.TempPathFactory
) -> HostileRun:
    canary.clear()
    out = tmp_path_factory.mktemp("escape")
    # Start URLs too: they reach the downloader as requests, where the scheme policy stops them.
    seeds = [
        fixture_web.hostile.base_url + "/escape/",
        "file:///proc/self/environ",
        f"ftp://127.0.0.1:{canary.tcp_ports[1]}/x",
    ]
    return run_hostile(fixture_web, out, ",".join(seeds), env={"ESCAPE_MARKER": marker})


def _warc_bytes(out: Path) -> bytes:
    return b"".join(gzip.decompress(p.read_bytes()) for p in (out / "warc").glob("*.warc.gz"))


def test_non_http_schemes_never_leave_the_crawler(
    escape: HostileRun, canary: Canary, marker: str
) -> None:
    assert escape.returncode == 0, escape.stderr[-3000:]
    # nothing reached the canary: no ftp/gopher connection, no protocol-relative fetch
    assert canary.hits == [] and escape.internal_log == []
    # nothing was read: the environment marker and /dev/zero's bytes are nowhere
    raw = _warc_bytes(escape.out)
    assert marker.encode() not in raw
    assert b"\0" * 4096 not in raw
    captured = {r[0] for r in escape.query("SELECT url FROM capture")}
    assert all(u.startswith("http://127.0.0.16:") for u in captured), captured
    # each refusal counted under its scheme: 2 start URLs, 4 listing links, 7 advert images
    assert escape.stat("adarchive/refused/scheme/javascript") == 2
    assert escape.stat("adarchive/refused/scheme/file") == 4
    assert escape.stat("adarchive/refused/scheme/ftp") == 3
    assert escape.stat("adarchive/refused/scheme/gopher") == 2
    assert escape.stat("adarchive/refused/scheme/data") == 1
    assert escape.stat("adarchive/refused/scheme/s3") == 1
    assert escape.stat("adarchive/refused/scheme") == 13
    # the protocol-relative image resolves to http://127.0.0.1: the address guard refuses it
    assert escape.stat("adarchive/refused/ssrf/loopback") == 1
    assert "refused (scheme) file:///proc/self/environ: scheme 'file' is never fetched" in (
        escape.stderr
    )


def test_a_bad_image_url_is_refused_alone(escape: HostileRun) -> None:
    rows = escape.query(
        "SELECT ad_image.url, ad_image.image_id FROM ad_image JOIN ad ON ad.id = ad_image.ad_id"
        " WHERE ad.external_id = 'schemes' ORDER BY ad_image.id"
    )
    assert rows[0][0].startswith("javascript:")  # listed first, refused, recorded as listed
    hashed = {url for url, image_id in rows if image_id is not None}
    base = escape.truth["base_url"]
    assert hashed == {f"{base}/escape/img/1.png", f"{base}/escape/img/2.png"}


def test_image_cap_bounds_rows_and_fetches(escape: HostileRun) -> None:
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


def test_endless_next_chain_stops_by_itself_with_default_budgets(
    fixture_web: Any, tmp_path: Path
) -> None:
    run = run_hostile(fixture_web, tmp_path, fixture_web.hostile.base_url + "/escape/page/1")
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
