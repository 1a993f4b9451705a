"""WARC capture in real crawls of the fixture web, checked with independent tools.

kz_board serves gzip (the archive must keep the content-coding), uk_directory
serves chunked (the archive must hold the de-chunked body and no header may
still claim chunked). Replay goes through pywb in its own venv (tests/pywb.py).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cli_forkserver import popen
from pywb import Wayback, wayback
from warcio.archiveiterator import ArchiveIterator

from conftest import FAST, REPO, CrawlRun, adarchive, start_url_args
from crawler.archive.digests import file_sha256, warc_to_hex

pytestmark = [pytest.mark.crawl]

WARC_SUFFIX = ".warc.gz"


# -- helpers ---------------------------------------------------------------


def warc_dir(run: CrawlRun) -> Path:
    return run.out / "warc"


def closed_warcs(directory: Path) -> list[Path]:
    return sorted(directory.glob("*" + WARC_SUFFIX))


def served(url: str, accept_encoding: str | None = None) -> bytes:
    """The bytes the fixture web serves for ``url`` (urllib de-chunks, never decodes)."""
    request = urllib.request.Request(url)
    if accept_encoding:
        request.add_header("Accept-Encoding", accept_encoding)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def record_at(path: Path, offset: int, length: int) -> tuple[Any, bytes, bytes]:
    """(record, raw member bytes, decompressed record bytes) at (offset, length)."""
    with path.open("rb") as fh:
        fh.seek(offset)
        member = fh.read(length)
    assert len(member) == length
    plain = gzip.decompress(member)
    (record,) = list(ArchiveIterator(io.BytesIO(member)))
    return record, member, plain


def response_records(run: CrawlRun, platform: str) -> list[dict[str, Any]]:
    """Response captures of a platform's pages with their record's HTTP head and payload."""
    rows = run.query(
        "SELECT c.url, w.path, c.offset, c.length FROM capture c "
        "JOIN warc_file w ON w.id = c.warc_file_id JOIN crawl r ON r.id = c.crawl_id "
        "JOIN platform p ON p.id = r.platform_id "
        "WHERE c.kind = 'response' AND p.name = ? ORDER BY c.id",
        platform,
    )
    out = []
    for url, rel, offset, length in rows:
        path = run.out / rel
        with path.open("rb") as fh:
            fh.seek(offset)
            record = next(iter(ArchiveIterator(io.BytesIO(fh.read(length)))))
            payload = record.raw_stream.read()
        out.append({"url": url, "http": record.http_headers, "payload": payload, "path": path})
    return out


def run_query(out: Path, sql: str) -> list[tuple]:
    return CrawlRun(out, out / "adarchive.db", None, [], 0, 0).query(sql)  # type: ignore[arg-type]


def detail_urls(truth: dict[str, Any], platform: str) -> list[str]:
    return [ad["url"] for ad in truth["ads"] if ad["platform"] == platform]


# -- content-coding and transfer-coding --------------------------------------


@pytest.fixture(scope="module")
def static_replay(
    static_crawl: CrawlRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Wayback]:
    """pywb serving the session crawl's closed WARC files, indexed and started once for the
    module's replay tests (they only read from it)."""
    with wayback(closed_warcs(warc_dir(static_crawl)), tmp_path_factory.mktemp("pywb")) as wb:
        yield wb


def test_gzip_responses_keep_content_coding_and_replay_in_pywb(
    static_crawl: CrawlRun, truth: dict, static_replay: Wayback
) -> None:
    records = {r["url"]: r for r in response_records(static_crawl, "kz_board")}
    urls = detail_urls(truth, "kz_board")
    assert urls and all(url in records for url in urls)
    for url in urls:
        record = records[url]
        assert record["http"].get_header("Content-Encoding") == "gzip"
        assert record["payload"][:2] == b"\x1f\x8b"  # stored still encoded
        assert record["payload"] == served(url, accept_encoding="gzip")
        assert gzip.decompress(record["payload"]) == served(url)

    url = urls[0]
    plain = served(url)
    raw = static_replay.raw(url)
    assert raw.status == 200
    assert raw.headers.get("Content-Encoding") == "gzip"
    assert raw.body == records[url]["payload"]
    assert gzip.decompress(raw.body) == plain
    replay = static_replay.replay(url)
    assert replay.status == 200
    title = next(a for a in truth["ads"] if a["url"] == url)["name"]
    assert title in replay.body.decode("utf-8")


def test_chunked_responses_are_dechunked_and_replay_in_pywb(
    static_crawl: CrawlRun, truth: dict, static_replay: Wayback
) -> None:
    records = {r["url"]: r for r in response_records(static_crawl, "uk_directory")}
    urls = detail_urls(truth, "uk_directory")
    assert urls and all(url in records for url in urls)
    for record in records.values():
        for name, value in record["http"].headers:
            assert not (name.lower() == "transfer-encoding" and "chunked" in value.lower())
    for url in urls:
        assert records[url]["payload"] == served(url)  # exactly the de-chunked entity

    url = urls[-1]
    raw = static_replay.raw(url, accept_encoding="identity")
    assert raw.status == 200
    assert raw.body == served(url)
    replay = static_replay.replay(url)
    assert replay.status == 200
    name = next(a for a in truth["ads"] if a["url"] == url)["name"]
    assert name in replay.body.decode("utf-8")


# -- files and capture rows ----------------------------------------------------


def test_every_file_closed_checked_and_hashed(static_crawl: CrawlRun) -> None:
    directory = warc_dir(static_crawl)
    files = closed_warcs(directory)
    assert not list(directory.glob("*.open"))
    rows = static_crawl.query("SELECT path, status, size, sha256 FROM warc_file")
    platforms = static_crawl.query(
        "SELECT DISTINCT p.name FROM warc_file w JOIN crawl c ON c.id = w.crawl_id "
        "JOIN platform p ON p.id = c.platform_id"
    )
    assert {p for (p,) in platforms} == set(static_crawl.platforms)
    assert sorted(static_crawl.out / p for p, *_ in rows) == files
    for rel, status, size, sha256 in rows:
        assert status == "closed"
        assert (sha256, size) == file_sha256(static_crawl.out / rel)
    check = subprocess.run(
        [str(Path(sys.executable).parent / "warcio"), "check", *map(str, files)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for path in files:  # a full read, every digest checked
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh, check_digests="raise"):
                record.content_stream().read()


def test_capture_rows_point_at_records_with_their_digests(static_crawl: CrawlRun) -> None:
    rows = static_crawl.query(
        "SELECT c.id, c.kind, c.url, w.path, c.offset, c.length, c.record_id, "
        "c.block_sha256, c.payload_sha256, c.parent_capture_id, c.status "
        "FROM capture c JOIN warc_file w ON w.id = c.warc_file_id"
    )
    assert len(rows) >= 60
    kinds = {r[1] for r in rows}
    assert kinds == {"response", "request", "metadata"}
    by_id = {r[0]: r for r in rows}
    sample = random.Random(7).sample(rows, 40)
    for _cid, kind, url, rel, offset, length, record_id, block, payload, parent, status in sample:
        record, _, plain = record_at(static_crawl.out / rel, offset, length)
        headers = record.rec_headers
        assert headers.get_header("WARC-Type") == kind
        assert headers.get_header("WARC-Record-ID") == record_id
        assert headers.get_header("WARC-Target-URI") == url
        assert warc_to_hex(headers.get_header("WARC-Block-Digest")) == block
        assert warc_to_hex(headers.get_header("WARC-Payload-Digest")) == payload
        head, _, rest = plain.partition(b"\r\n\r\n")
        block_bytes = rest[: int(headers.get_header("Content-Length"))]
        assert hashlib.sha256(block_bytes).hexdigest() == block
        if kind == "response":
            assert record.http_headers.get_statuscode() == str(status)
            if parent is not None:  # an advert's image: its parent is the advert page
                assert by_id[parent][1] == "response"
                assert record.http_headers.get_header("Content-Type", "").startswith("image/")
        else:
            response = by_id[parent]
            assert response[1] == "response" and response[2] == url
            assert headers.get_header("WARC-Concurrent-To") == response[6]


def test_robots_txt_archived_and_no_disallowed_url_in_responses(
    static_crawl: CrawlRun, truth: dict
) -> None:
    urls = [u for (u,) in static_crawl.query("SELECT url FROM capture WHERE kind = 'response'")]
    for platform in truth["platforms"]:
        if platform["name"] not in static_crawl.platforms:
            continue
        assert f"{platform['base_url']}/robots.txt" in urls
        for url in urls:
            if url.startswith(platform["base_url"]):
                target = urlsplit(url).path + ("?" + urlsplit(url).query if "?" in url else "")
                assert not any(target.startswith(d) for d in platform["disallowed_paths"]), url


def test_ads_point_at_the_response_capture_of_their_page(static_crawl: CrawlRun) -> None:
    rows = static_crawl.query(
        "SELECT a.url, c.kind, c.url, s.capture_id = a.capture_id FROM ad a "
        "JOIN capture c ON c.id = a.capture_id JOIN sighting s ON s.ad_id = a.id"
    )
    assert rows
    for ad_url, kind, capture_url, same in rows:
        assert kind == "response" and capture_url == ad_url and same


def test_metadata_and_warcinfo_describe_the_crawl(static_crawl: CrawlRun) -> None:
    (path, *_), *_ = static_crawl.query("SELECT path FROM warc_file ORDER BY id")
    with (static_crawl.out / path).open("rb") as fh:
        records = iter(ArchiveIterator(fh))
        info = next(records)
        assert info.rec_type == "warcinfo"
        text = info.content_stream().read().decode()
        metadata = ""
        for record in records:
            if record.rec_type == "metadata":
                metadata = record.content_stream().read().decode()
                break
    from crawler import __version__

    assert f"software: adarchive/{__version__}" in text
    assert "operator: " in text and "robots: robots.txt obeyed" in text
    assert "setting: DOWNLOAD_DELAY=" in text and "Accept-Encoding=" in text
    assert "reason phrase" in text and "chunk boundaries" in text
    assert "platform: " in metadata and "crawl-id: " in metadata and "spider: " in metadata


# -- a crawl killed mid-way --------------------------------------------------


def test_killed_crawl_leaves_only_closed_or_open_files(fixture_web: Any, tmp_path: Path) -> None:
    name = "kz_board"
    out = tmp_path / "killed"
    cmd = [
        "crawl",
        name,
        *start_url_args(fixture_web, [name]),
        "--out",
        str(out),
        *FAST,
        "-s",
        "DOWNLOAD_DELAY=0.3",
        "-s",
        "RANDOMIZE_DOWNLOAD_DELAY=False",
        "-s",
        "ADARCHIVE_WARC_MAX_SIZE=6000",
        "-s",
        "ADARCHIVE_STORE_COMMIT_EVERY=3",
    ]
    # Its own process group, killed whole: the evidence writer dies with the crawl.
    proc = popen(
        cmd,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    directory = out / "warc"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if closed_warcs(directory) and list(directory.glob("*.open")):
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the crawl finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)

    closed = closed_warcs(directory)
    opened = sorted(directory.glob("*.open"))
    assert closed and opened
    assert {p.name for p in directory.iterdir()} == {p.name for p in closed + opened}
    assert all(p.name.endswith(WARC_SUFFIX + ".open") for p in opened)
    check = subprocess.run(
        [str(Path(sys.executable).parent / "warcio"), "check", *map(str, closed)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # Committed capture rows never point at bytes that did not reach the disk.
    run = CrawlRun(out, out / "adarchive.db", None, [name], 0, 0)  # type: ignore[arg-type]
    rows = run.query(
        "SELECT w.path, c.offset, c.length, c.block_sha256 FROM capture c "
        "JOIN warc_file w ON w.id = c.warc_file_id"
    )
    assert rows
    for rel, offset, length, block in rows:
        path = out / rel
        if not path.exists():
            path = path.with_name(path.name + ".open")
        record, _, _ = record_at(path, offset, length)
        assert warc_to_hex(record.rec_headers.get_header("WARC-Block-Digest")) == block
    closed_rows = run.query("SELECT path, sha256 FROM warc_file WHERE status = 'closed'")
    for rel, sha256 in closed_rows:
        assert file_sha256(out / rel)[0] == sha256


def test_archive_can_be_switched_off(fixture_web: Any, tmp_path: Path) -> None:
    name = "uk_directory"
    result = adarchive(
        "crawl",
        name,
        *start_url_args(fixture_web, [name]),
        "--out",
        str(tmp_path),
        *FAST,
        "-s",
        "ADARCHIVE_WARC_ENABLED=False",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(tmp_path.glob("**/*.warc.gz*"))
    assert run_query(tmp_path, "SELECT COUNT(*) FROM capture") == [(0,)]


def test_missing_pywb_fails_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pywb as helper

    monkeypatch.setattr(helper, "PYWB_BIN", tmp_path / "no-pywb" / "bin")
    with pytest.raises(pytest.fail.Exception, match=r"pip install 'pywb==2\.10\.\*'"):
        helper.require_pywb()
