"""WARC writer, record building and the archive middleware, without a crawl.

The deterministic test compares the written WARC byte for byte with
tests/fixtures/archive/expected.warc (decompressed; the compressed file is
compared against a second identical run, as zlib builds may differ). To
regenerate after an intended format change:
``ADARCHIVE_REGENERATE_FIXTURES=1 .venv/bin/python -m pytest tests/test_archive_writer.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from ipaddress import ip_address
from itertools import count
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy import Request, Spider
from scrapy.exceptions import NotConfigured
from scrapy.http import Headers, HtmlResponse, Response
from warcio.archiveiterator import ArchiveIterator

from conftest import project_crawler
from crawler.archive.addon import warcinfo_fields
from crawler.archive.archive_middleware import (
    META_CAPTURE,
    META_CAPTURE_ID,
    ArchiveMiddleware,
)
from crawler.archive.digests import (
    file_sha256,
    hex_to_warc,
    secret_digest,
    sha256_hex,
    warc_to_hex,
)
from crawler.archive.records import (
    ExchangeContext,
    ExchangeIds,
    build_exchange,
    request_head,
    response_head,
    status_line,
)
from crawler.archive.writer import ClosedWarc, RecordSpec, RotatingWarcWriter

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "archive" / "expected.warc"
PINNED_DATE = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
PAGE = b"<html><body><h1>Listing 7</h1><p>Invented advert text.</p></body></html>"
SECRETS = {
    "Cookie": "session=s3cr3t-cookie-value",
    "Authorization": "Basic dXNlcjpwYXNzd29yZA==",
    "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
}


def pinned_writer(directory: Path, **kwargs: object) -> RotatingWarcWriter:
    ids = count(1)
    return RotatingWarcWriter(
        directory=directory,
        record_ids=lambda: f"<urn:uuid:00000000-0000-4000-8000-{next(ids):012d}>",
        clock=lambda: PINNED_DATE,
        host="testhost",
        pid=4242,
        warcinfo=lambda: {"software": "adarchive/test", "operator": "operator@example.org"},
        **kwargs,  # type: ignore[arg-type]
    )


def gzip_exchange(url: str = "http://127.0.0.11:8011/ad/7?ref=list&page=2#top") -> tuple:
    request = Request(
        url,
        headers={**SECRETS, "User-Agent": "adarchive-test", "Referer": "http://127.0.0.11:8011/"},
        meta={"download_latency": 0.0123, "depth": 1},
    )
    response = HtmlResponse(
        url,
        status=200,
        headers=Headers(
            {
                "Content-Type": "text/html; charset=utf-8",
                "Content-Encoding": "gzip",
                "Transfer-Encoding": "chunked",
                "Set-Cookie": ["a=1; Path=/", "b=2; Path=/"],
            }
        ),
        body=gzip.compress(PAGE, mtime=0),
        request=request,
        protocol="HTTP/1.1",
        ip_address=ip_address("127.0.0.11"),
    )
    return request, response


def write_exchange(writer: RotatingWarcWriter, request: Request, response: Response) -> list:
    ids = ExchangeIds(writer.new_record_id(), writer.new_record_id(), writer.new_record_id())
    context = ExchangeContext(platform="kz_board", crawl_id=3, spider="kz_board", software="t")
    specs = build_exchange(request, response, ids=ids, fetched_at=writer.now(), context=context)
    return writer.write_group(specs)


def members(path: Path) -> list[bytes]:
    """The file split into its gzip members (one per record)."""
    data = path.read_bytes()
    out = []
    while data:
        decomp = zlib.decompressobj(zlib.MAX_WBITS + 16)
        out.append(decomp.decompress(data))
        used = len(data) - len(decomp.unused_data)
        data = data[used:]
    return out


def warcio_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    warcio = Path(sys.executable).parent / "warcio"
    return subprocess.run(
        [str(warcio), "check", "-v", *map(str, paths)], capture_output=True, text=True, check=False
    )


# -- digests ---------------------------------------------------------------


def test_digest_spellings_round_trip() -> None:
    hex_digest = sha256_hex(b"abc")
    warc = hex_to_warc(hex_digest)
    assert warc.startswith("sha256:") and len(warc) == len("sha256:") + 56
    assert warc_to_hex(warc) == hex_digest
    assert warc_to_hex("sha256:" + hex_digest) == hex_digest  # hex form other tools write
    assert warc_to_hex(warc.lower().rstrip("=")) == hex_digest
    with pytest.raises(ValueError):
        warc_to_hex("sha1:" + warc.split(":")[1])
    assert secret_digest("x") == "sha256:" + hashlib.sha256(b"x").hexdigest()


# -- deterministic output --------------------------------------------------


def test_output_is_deterministic_byte_for_byte(tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        writer = pinned_writer(tmp_path / run)
        request, response = gzip_exchange()
        write_exchange(writer, request, response)
        closed = writer.close()
        assert closed is not None
        outputs.append(closed.path)
    first, second = outputs
    assert first.name == "adarchive-20260102030405678-00000-testhost-4242.warc.gz"
    assert first.read_bytes() == second.read_bytes()
    plain = b"".join(members(first))
    if os.environ.get("ADARCHIVE_REGENERATE_FIXTURES"):
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_bytes(plain)
    assert plain == FIXTURE.read_bytes()
    assert warcio_check(first).returncode == 0


# -- files: naming, .open, rotation, file digests --------------------------


def test_open_file_is_renamed_on_close_with_its_sha256(tmp_path: Path) -> None:
    opened: list[Path] = []
    closed: list[ClosedWarc] = []

    def on_open(path: Path) -> int:
        opened.append(path)
        return 17

    writer = pinned_writer(tmp_path, on_open=on_open, on_close=closed.append)
    records = write_exchange(writer, *gzip_exchange())
    final = writer.current_path
    assert final is not None and opened == [final]
    assert not final.exists()
    assert final.with_name(final.name + ".open").exists()
    writer.sync()
    assert all(r.warc_file_id == 17 and r.path == final for r in records)

    result = writer.close()
    assert result is not None and closed == [result]
    assert final.exists() and not final.with_name(final.name + ".open").exists()
    assert (result.sha256, result.size) == file_sha256(final)
    assert result.sha256 == hashlib.sha256(final.read_bytes()).hexdigest()
    assert result.records == 4  # warcinfo + response + request + metadata
    assert writer.close() is None


def test_rotation_at_small_size_keeps_exchanges_together(tmp_path: Path) -> None:
    writer = pinned_writer(tmp_path, max_size=3000)
    written = []
    for n in range(12):
        written.append(write_exchange(writer, *gzip_exchange(f"http://127.0.0.11:8011/ad/{n}")))
    writer.close()
    files = sorted(tmp_path.glob("*.warc.gz"))
    assert not list(tmp_path.glob("*.open"))
    assert len(files) >= 3
    assert [f.name.split("-")[2] for f in files] == [f"{i:05d}" for i in range(len(files))]
    group_size = max(sum(r.length for r in group) for group in written)
    for path in files:
        assert path.stat().st_size < 3000 + group_size
        records = list(ArchiveIterator(path.open("rb")))
        assert records[0].rec_type == "warcinfo"
        assert records[0].rec_headers.get_header("WARC-Filename") == path.name
        assert [r.rec_type for r in records[1:]] == ["response", "request", "metadata"] * (
            (len(records) - 1) // 3
        )
    for group in written:
        assert len({r.path for r in group}) == 1
    check = warcio_check(*files)
    assert check.returncode == 0, check.stdout + check.stderr


def test_each_record_at_offset_has_the_returned_digests(tmp_path: Path) -> None:
    writer = pinned_writer(tmp_path)
    request, response = gzip_exchange()
    records = write_exchange(writer, request, response)
    writer.close()
    data = records[0].path.read_bytes()
    for info in records:
        member = data[info.offset : info.offset + info.length]
        (record,) = list(ArchiveIterator(io.BytesIO(member)))
        headers = record.rec_headers
        assert headers.get_header("WARC-Record-ID") == info.record_id
        assert headers.get_header("WARC-Type") == info.kind
        assert warc_to_hex(headers.get_header("WARC-Block-Digest")) == info.block_sha256
        assert warc_to_hex(headers.get_header("WARC-Payload-Digest")) == info.payload_sha256
        block = gzip.decompress(member).split(b"\r\n\r\n", 1)[1][
            : int(headers.get_header("Content-Length"))
        ]
        assert hashlib.sha256(block).hexdigest() == info.block_sha256
    response_info = records[0]
    assert response_info.payload_sha256 == hashlib.sha256(response.body).hexdigest()
    assert response_info.status == 200
    assert response_info.content_type == "text/html; charset=utf-8"
    assert records[1].kind == "request" and records[2].kind == "metadata"


# -- reconstruction --------------------------------------------------------


def test_response_keeps_content_coding_and_drops_chunked_claim(tmp_path: Path) -> None:
    writer = pinned_writer(tmp_path)
    request, response = gzip_exchange()
    write_exchange(writer, request, response)
    writer.close()
    (path,) = tmp_path.glob("*.warc.gz")
    with path.open("rb") as fh:
        record = next(r for r in ArchiveIterator(fh) if r.rec_type == "response")
        http = record.http_headers
        assert http.protocol == "HTTP/1.1" and http.statusline == "200 OK"
        assert http.get_header("Transfer-Encoding") is None
        assert http.get_header("X-Archive-Orig-Transfer-Encoding") == "chunked"
        assert http.get_header("Content-Encoding") == "gzip"
        assert [v for k, v in http.headers if k == "Set-Cookie"] == ["a=1; Path=/", "b=2; Path=/"]
        assert record.content_stream().read() == PAGE  # decodes: content-coding intact
    raw = response_head(response)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(b"\r\n\r\n")


def test_status_line_uses_standard_phrases() -> None:
    assert status_line(404) == b"HTTP/1.1 404 Not Found"
    assert status_line(503, "HTTP/1.0") == b"HTTP/1.0 503 Service Unavailable"
    assert status_line(599) == b"HTTP/1.1 599 "


def test_request_line_host_and_hashed_secrets() -> None:
    request, _ = gzip_exchange()
    head = request_head(request)
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "GET /ad/7?ref=list&page=2 HTTP/1.1"
    assert lines[1] == "Host: 127.0.0.11:8011"
    for name, value in SECRETS.items():
        expected = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
        assert f"{name}: {expected}" in lines
        assert value.encode() not in head
    post = Request("https://ads.example.org/search", method="POST", body=b"q=abc")
    post_head = request_head(post).decode()
    assert post_head.startswith("POST /search HTTP/1.1\r\nHost: ads.example.org\r\n")
    assert "Content-Length: 5\r\n" in post_head


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    writer = pinned_writer(tmp_path)
    write_exchange(writer, *gzip_exchange())
    closed = writer.close()
    assert closed is not None
    plain = b"".join(members(closed.path))
    for value in SECRETS.values():
        assert value.encode() not in plain
        assert secret_digest(value).encode() in plain


def test_metadata_and_concurrency_links(tmp_path: Path) -> None:
    writer = pinned_writer(tmp_path)
    request, response = gzip_exchange()
    response_info, request_info, meta_info = write_exchange(writer, request, response)
    writer.close()
    links, meta = {}, ""
    with response_info.path.open("rb") as fh:
        for rec in ArchiveIterator(fh):
            record_id = rec.rec_headers.get_header("WARC-Record-ID")
            links[record_id] = rec.rec_headers.get_header("WARC-Concurrent-To")
            if record_id == meta_info.record_id:
                meta = rec.content_stream().read().decode()
    assert links[request_info.record_id] == response_info.record_id
    assert links[meta_info.record_id] == response_info.record_id
    assert "platform: kz_board\r\n" in meta
    assert "crawl-id: 3\r\n" in meta
    assert "via: http://127.0.0.11:8011/\r\n" in meta
    assert "fetchTimeMs: 12\r\n" in meta


def test_ip_address_header_when_known(tmp_path: Path) -> None:
    writer = pinned_writer(tmp_path)
    url = "http://127.0.0.12:8012/robots.txt"
    request = Request(url)
    response = Response(url, status=404, body=b"", ip_address=ip_address("127.0.0.12"))
    info = write_exchange(writer, request, response)[0]
    writer.close()
    assert info.ip == "127.0.0.12"
    with info.path.open("rb") as fh:
        rec = next(r for r in ArchiveIterator(fh) if r.rec_type == "response")
        assert rec.rec_headers.get_header("WARC-IP-Address") == "127.0.0.12"
        assert rec.http_headers.statusline == "404 Not Found"


def test_writer_accepts_plain_record_spec(tmp_path: Path) -> None:
    writer = pinned_writer(tmp_path)
    spec = RecordSpec(
        kind="metadata",
        url="urn:example:note",
        date=PINNED_DATE,
        record_id=writer.new_record_id(),
        payload=b"note: invented\r\n",
    )
    info = writer.write(spec)
    writer.close()
    assert info.block_sha256 == info.payload_sha256 == sha256_hex(b"note: invented\r\n")


# -- middleware (real recorder and store, no crawl) ------------------------


class _Spider(Spider):
    name = "kz_board"


def test_middleware_not_configured_when_disabled() -> None:
    crawler = project_crawler(_Spider, {"ADARCHIVE_WARC_ENABLED": False})
    with pytest.raises(NotConfigured):
        ArchiveMiddleware.from_crawler(crawler)


def test_middleware_writes_records_and_capture_rows(tmp_path: Path) -> None:
    from sqlalchemy import select

    from crawler.store.models import Capture, WarcFile

    crawler = project_crawler(
        _Spider,
        {
            "ADARCHIVE_DATA_DIR": str(tmp_path),
            "ADARCHIVE_OPERATOR_CONTACT": "ops@example.org",
            "ROBOTSTXT_OBEY": True,
            # This test reads what the middleware writes in the crawl's own process
            # (it relied on a module default of False that contradicted settings.py).
            "ADARCHIVE_EVIDENCE_PROCESS": False,
        },
    )
    crawler.spider = _Spider.from_crawler(crawler)
    middleware = ArchiveMiddleware.from_crawler(crawler)
    recorder = middleware.recorder
    recorder.start_crawl(crawler.spider)

    request, response = gzip_exchange()
    made_up = Request("http://127.0.0.11:8011/cached")
    middleware.process_request(request)
    assert middleware.process_response(request, response) is response
    assert middleware.process_response(made_up, HtmlResponse(made_up.url, body=b"x")) is not None
    capture_id = request.meta[META_CAPTURE_ID]
    assert isinstance(capture_id, int)
    assert META_CAPTURE_ID not in made_up.meta  # never sent to the downloader: not archived
    middleware.spider_closed(crawler.spider, "finished")
    recorder.finish_crawl("finished")

    session = recorder.session
    rows = session.scalars(select(Capture).order_by(Capture.id)).all()
    assert [r.kind for r in rows] == ["response", "request", "metadata"]
    assert rows[0].id == capture_id and rows[0].parent_capture_id is None
    assert all(r.parent_capture_id == capture_id for r in rows[1:])
    warc = session.scalars(select(WarcFile)).one()
    path = tmp_path / warc.path
    assert path.parent == tmp_path / "warc" and path.exists()
    assert (warc.sha256, warc.size) == file_sha256(path)
    assert request.meta[META_CAPTURE].record_id == rows[0].record_id
    data = path.read_bytes()
    for row in rows:
        (record,) = list(ArchiveIterator(io.BytesIO(data[row.offset : row.offset + row.length])))
        assert warc_to_hex(record.rec_headers.get_header("WARC-Block-Digest")) == row.block_sha256
    with path.open("rb") as fh:
        info = next(iter(ArchiveIterator(fh))).content_stream().read().decode()
    assert "operator: ops@example.org" in info
    assert "robots: robots.txt obeyed" in info
    assert "reconstruction: " in info and "reason phrase" in info
    recorder.engine_stopped()


def test_warcinfo_states_software_settings_and_limits() -> None:
    crawler = project_crawler(
        _Spider,
        {
            "DOWNLOAD_DELAY": 0.5,
            "ROBOTSTXT_OBEY": False,
            # the policy extension refuses an ignored robots.txt without an authority
            "ADARCHIVE_ROBOTS_AUTHORITY": "synthetic test authority",
        },
    )
    fields = warcinfo_fields(crawler.settings, "kz_board", 9)
    from crawler import __version__

    assert f"adarchive/{__version__}" in str(fields["software"])
    assert "NOT obeyed" in str(fields["robots"])
    settings = list(fields["setting"])  # type: ignore[call-overload]
    assert "DOWNLOAD_DELAY=0.5" in settings
    assert any(s.startswith("Accept-Encoding=") for s in settings)
    limits = " ".join(fields["reconstruction"])  # type: ignore[arg-type]
    for lost in ("reason phrase", "header order", "Content-Length", "chunk boundaries"):
        assert lost in limits


# -- the direct serializer against warcio's own writer ---------------------

_HEADER_VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40
)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["response", "request", "metadata", "revisit", "resource"]),
    extra=st.lists(
        st.tuples(
            st.sampled_from(["WARC-IP-Address", "WARC-Concurrent-To", "X-Test"]), _HEADER_VALUES
        ),
        max_size=3,
    ),
    head=st.binary(max_size=64),
    payload=st.binary(max_size=256),
    content_type=st.sampled_from(["application/http; msgtype=response", "image/png", "text/html"]),
)
def test_serialize_record_matches_warcio_writer(
    kind: str, extra: list, head: bytes, payload: bytes, content_type: str
) -> None:
    """The writer builds record bytes itself (the crawl's hottest path): they must be
    exactly what warcio's WARCWriter writes for the same record."""
    from warcio.recordloader import ArcWarcRecord
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from crawler.archive.writer import serialize_record

    if kind == "revisit":
        payload = b""  # a revisit carries the HTTP head only
    headers = [
        ("WARC-Type", kind),
        ("WARC-Record-ID", "<urn:uuid:00000000-0000-4000-8000-000000000001>"),
        ("WARC-Date", "2026-01-02T03:04:05.678901Z"),
        *extra,
        ("WARC-Payload-Digest", hex_to_warc(hashlib.sha256(payload).hexdigest())),
        ("WARC-Block-Digest", hex_to_warc(hashlib.sha256(head + payload).hexdigest())),
    ]

    class RawHead(StatusAndHeaders):
        def __init__(self, raw: bytes) -> None:
            super().__init__("", [])
            self.raw = raw

        def compute_headers_buffer(self, header_filter: object = None) -> None:
            self.headers_buff = self.raw

        def __bool__(self) -> bool:
            return bool(self.raw)

    out = io.BytesIO()
    record = ArcWarcRecord(
        "warc",
        kind,
        StatusAndHeaders("", list(headers), protocol="WARC/1.1"),
        io.BytesIO(payload),
        RawHead(head) if head else None,
        content_type,
        len(payload),
    )
    record.payload_length = len(payload)
    WARCWriter(out, gzip=False, warc_version="WARC/1.1").write_record(record)
    assert serialize_record(headers, content_type, head, payload) == out.getvalue()
