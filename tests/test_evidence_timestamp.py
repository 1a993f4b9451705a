"""RFC 3161 client and token checks against a local `openssl ts -reply` authority."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tsa import LocalTSA
from warcio.archiveiterator import ArchiveIterator

from crawler.evidence import der
from crawler.evidence.timestamp import (
    TimestampError,
    build_manifest,
    build_request,
    request_timestamp,
    verify_response,
)

pytestmark = [pytest.mark.crawl]

DATA = b'{"schema":"example manifest"}'


@pytest.fixture(scope="module")
def tsa() -> Iterator[LocalTSA]:
    with LocalTSA() as authority:
        yield authority


def test_request_is_the_der_openssl_reads(tmp_path: Path) -> None:
    request = build_request(bytes(range(32)), nonce=12345)
    (tmp_path / "q.tsq").write_bytes(request)
    text = subprocess.run(
        ["openssl", "ts", "-query", "-in", str(tmp_path / "q.tsq"), "-text"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "Hash Algorithm: sha256" in text
    assert "Nonce: 0x3039" in text
    assert "Certificate required: yes" in text
    assert der.parse(request).children()[0].integer() == 1


def test_token_verifies_here_and_with_openssl(tsa: LocalTSA, tmp_path: Path) -> None:
    response = request_timestamp(tsa.url, DATA)
    check = verify_response(response, DATA)
    assert check.ok, check.reason
    assert "Example Test TSA" in check.tsa_subject and check.gen_time is not None
    assert len(check.certificates) == 2  # signer + root, as the token carried them
    (tmp_path / "t.tsr").write_bytes(response)
    (tmp_path / "m.json").write_bytes(DATA)
    result = subprocess.run(
        ["openssl", "ts", "-verify", "-data", "m.json", "-in", "t.tsr", "-CAfile", str(tsa.ca_pem)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr


def test_wrong_data_and_altered_tokens_fail(tsa: LocalTSA) -> None:
    response = request_timestamp(tsa.url, DATA)
    assert "imprint" in verify_response(response, DATA + b" ").reason
    flipped = bytearray(response)
    flipped[-1] ^= 0x01  # the last bytes are the TSA's signature
    assert "does not verify" in verify_response(bytes(flipped), DATA).reason
    assert not verify_response(response[:-40], DATA).ok


def test_unreachable_tsa_is_a_clear_error() -> None:
    with pytest.raises(TimestampError, match="unreachable"):
        request_timestamp("http://127.0.0.1:9/tsa", DATA, timeout=2)


def test_manifest_lists_every_record_as_warcio_reads_them(static_crawl, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    warc = sorted((static_crawl.out / "warc").glob("*.warc.gz"))[0]
    manifest = json.loads(build_manifest(warc))
    with open(warc, "rb") as fh:
        it = ArchiveIterator(fh)
        expected = []
        for record in it:
            record.content_stream().read()
            expected.append(
                (record.rec_headers.get_header("WARC-Record-ID"), it.get_record_offset(),
                 it.get_record_length())
            )  # fmt: skip
    listed = [(r["record_id"], r["offset"], r["length"]) for r in manifest["records"]]
    assert listed == expected
    assert manifest["warc"] == warc.name and manifest["size"] == warc.stat().st_size
