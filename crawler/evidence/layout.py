"""Where things live in a bundle: the one list both export and verify read."""

from __future__ import annotations

from crawler import __version__

WACZ_VERSION = "1.1.1"
SOFTWARE = f"adarchive {__version__}"
CHUNK = 1 << 20
INDEX_PATH = "indexes/index.cdx"
PAGES_PATH = "pages/pages.jsonl"
CAPTURES_PATH = "evidence/captures.csv"
CUSTODY_PATH = "evidence/custody.jsonl"
REPORT_PATH = "evidence/report.html"
VERIFY_PATH = "evidence/VERIFY.txt"
DATAPACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"
SIGNATURE_STAMP = "signatureTimeStamp"
"""Key in datapackage-digest.json: base64 RFC 3161 token over the ASCII signedData.signature."""
CSV_FIELDS = (
    "capture_id",
    "kind",
    "url",
    "fetched_at",
    "status",
    "content_type",
    "warc_record_id",
    "block_sha256",
    "payload_sha256",
    "source_warc",
    "source_warc_sha256",
    "source_offset",
    "source_length",
    "bundle_warc",
    "bundle_offset",
    "ads",
)
