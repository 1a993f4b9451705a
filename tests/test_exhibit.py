"""The court exhibit, checked with tools we did not write: poppler and pyHanko.

A real crawl of four fixture platforms (Cyrillic, Thai in a browser, Japanese, Korean),
analysed, exported as a signed bundle for a case that spans them, then made
into an exhibit signed with the agency's key and time-stamped by a local RFC
3161 authority. The PDF's text (pdftotext), pictures (pdfimages), fonts
(pdffonts and the embedded fonts' own glyph maps) and signature (pdfsig,
pyHanko's validator) are read back independently.
"""

from __future__ import annotations

import io
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat
from pypdf import PdfReader
from tsa import LocalTSA
from workbench_stores import BROWSER_PLATFORMS as PLATFORMS
from workbench_stores import BuiltStore, copy_store

from conftest import adarchive

pytestmark = [pytest.mark.crawl, pytest.mark.browser, pytest.mark.slow]


def tool(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def squash(text: str) -> str:
    """PDF text without whitespace: long hashes and ids wrap inside table cells."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def exhibit(
    browser_crawled_store: BuiltStore, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("exhibit")
    store = copy_store(browser_crawled_store, root / "data")  # crawled and analysed
    db = store.db
    # Two planted networks: one through the browser platform, one through a Japanese board.
    networks = store.truth["networks"]
    chosen = [
        next(n for n in networks if any(a.startswith(f"{name}:") for a in n["ads"]))
        for name in ("th_board", "jp_dating")
    ]
    selection = [arg for n in chosen for arg in ("--identifier", n["identifiers"][0][1])]
    keys = root / "keys"
    adarchive("keys", "generate", "--out", str(keys), check=True)
    key = keys / "adarchive-signing-key.pem"
    adarchive("keys", "certificate", "--key", str(key), "--name", "Inspector A. Example",
              "--unit", "Unit 7 (synthetic)", check=True)  # fmt: skip
    bundle = root / "CASE-0042.wacz"
    adarchive(
        "export", "--db", str(db), *selection,
        "--case-ref", "CASE-0042", "--sign", str(key), "--out", str(bundle), check=True,
    )  # fmt: skip
    with LocalTSA() as tsa:
        made = adarchive(
            "exhibit", str(bundle), "--db", str(db), "--sign", str(key),
            "--tsa-url", tsa.url, "--examiner", "Inspector A. Example",
            "--unit", "Unit 7 (synthetic)",
        )  # fmt: skip
        tsa_root = root / "tsa-root.pem"
        tsa_root.write_bytes(tsa.ca_pem.read_bytes())
    assert made.returncode == 0, made.stdout + made.stderr[-3000:]
    pdf = root / "CASE-0042.exhibit.pdf"
    assert pdf.exists() and f"wrote {pdf}" in made.stdout
    with sqlite3.connect(db) as conn:
        ads = conn.execute(
            "SELECT a.id, p.name, a.external_id, a.title, c.record_id, c.payload_sha256 "
            "FROM ad a JOIN platform p ON p.id = a.platform_id JOIN capture c ON c.id = a.capture_id"
        ).fetchall()
        idents = conn.execute(
            "SELECT ai.ad_id, i.value FROM ad_identifier ai "
            "JOIN identifier i ON i.id = ai.identifier_id"
        ).fetchall()
    text = tool("pdftotext", "-raw", str(pdf), "-").stdout  # content order: cells stay whole
    in_case = [a for a in ads if f"{a[1]}:{a[2]}" in text]
    return {
        "root": root, "db": db, "pdf": pdf, "bundle": bundle, "cert": keys /
        "adarchive-signing-cert.pem", "tsa_root": tsa_root, "text": text, "ads": in_case,
        "idents": idents, "stdout": made.stdout,
    }  # fmt: skip


def test_each_advert_prints_its_identifiers_records_and_hashes(exhibit: dict[str, Any]) -> None:
    ads = exhibit["ads"]
    assert {a[1] for a in ads} == set(PLATFORMS), "the case spans the four platforms"
    text = squash(exhibit["text"])
    for ad_id, _platform, _external, _title, record_id, payload_sha256 in ads:
        assert squash(record_id) in text
        assert payload_sha256 in text
        for owner, value in exhibit["idents"]:
            if owner == ad_id:
                assert squash(value) in text, value
    assert "CASE-0042" in exhibit["text"]
    assert re.search(r"page 1 of (\d+)", exhibit["text"])
    pages = len(PdfReader(exhibit["pdf"]).pages)
    assert f"page {pages} of {pages}" in exhibit["text"]
    assert "Examiner's statement" in exhibit["text"]


def test_advert_pictures_are_present_and_not_blank(exhibit: dict[str, Any], tmp_path: Path) -> None:
    result = tool("pdfimages", "-png", str(exhibit["pdf"]), str(tmp_path / "img"))
    assert result.returncode == 0, result.stderr
    pictures = [Image.open(p).convert("L") for p in sorted(tmp_path.glob("img-*.png"))]
    assert len(pictures) >= len(exhibit["ads"])
    for picture in pictures:
        stat = ImageStat.Stat(picture)
        assert stat.stddev[0] > 10, "a blank picture"
        assert picture.width > 300 and picture.height > 200
    assert "Screenshot taken by the crawler" in exhibit["text"]  # th_board
    assert "Rendered from archived record" in exhibit["text"]  # the static platforms
    # Pages as a reader sees them: the picture pages are not blank either.
    pages = tool("pdftoppm", "-r", "40", "-png", str(exhibit["pdf"]), str(tmp_path / "page"))
    assert pages.returncode == 0
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == len(PdfReader(exhibit["pdf"]).pages)


def _drawn_glyphs(pdf: Path) -> list[tuple[str, str, int | str]]:
    """Every glyph a page draws: (page, font, glyph), glyph as CID or Type 3 glyph name.

    Text-showing operators (Tj, TJ, ', ") are read from each page's content with the
    font selected by Tf: two-byte CIDs for CID fonts (TrueType, e.g. Noto Sans Thai),
    one-byte codes looked up in /Differences for Type 3 fonts (Chromium embeds the
    CFF-based Noto Sans CJK so, one glyph procedure per glyph, named g<glyph id>).
    """
    from pypdf.generic import ContentStream

    drawn = []
    reader = PdfReader(pdf)
    for number, page in enumerate(reader.pages):
        fonts = {k: ref.get_object() for k, ref in page["/Resources"].get("/Font", {}).items()}
        names: dict[str, dict[int, str]] = {}
        for key, font in fonts.items():
            if font["/Subtype"] == "/Type3":
                table, code = {}, 0
                for item in font["/Encoding"].get_object()["/Differences"]:
                    if isinstance(item, int):
                        code = item
                    else:
                        table[code] = str(item)[1:]
                        code += 1
                names[key] = table
            else:
                descendant = font["/DescendantFonts"][0].get_object()
                assert "/FontFile2" in descendant["/FontDescriptor"], f"{key} is not embedded"
        current = None
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator == b"Tf":
                current = str(operands[0])
                continue
            if operator not in (b"Tj", b"TJ", b"'", b'"'):
                continue
            strings = operands[0] if operator == b"TJ" else operands[-1:]
            for text in strings:
                if not hasattr(text, "original_bytes"):
                    continue  # a kerning number
                raw = text.original_bytes
                if current in names:
                    drawn += [(str(number), current, names[current].get(c, "?")) for c in raw]
                else:
                    drawn += [
                        (str(number), str(current), int.from_bytes(raw[i : i + 2], "big"))
                        for i in range(0, len(raw), 2)
                    ]
    return drawn


def test_cjk_thai_and_cyrillic_glyphs_are_embedded(exhibit: dict[str, Any]) -> None:
    fonts = tool("pdffonts", str(exhibit["pdf"])).stdout
    assert re.search(r"NotoSansThai\S*\s.*\byes\b", fonts), fonts
    assert "no " not in " ".join(line.split()[-5] for line in fonts.splitlines()[2:]), fonts
    drawn = _drawn_glyphs(exhibit["pdf"])
    assert len(drawn) > 1000
    tofu = [g for g in drawn if g[2] in (0, "g0", "?")]
    assert not tofu, f"glyphs drawn as .notdef (a character no embedded font has): {tofu[:10]}"
    text = squash(exhibit["text"])
    for _ad_id, platform, _external, title, *_ in exhibit["ads"]:
        assert squash(title) in text, (platform, title)


def _validate(pdf: bytes, cert: Path, tsa_root: Path) -> Any:
    from asn1crypto import pem, x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    def load(path: Path) -> Any:
        _, _, der = pem.unarmor(path.read_bytes())
        return x509.Certificate.load(der)

    reader = PdfFileReader(io.BytesIO(pdf))
    (signature,) = reader.embedded_signatures
    return validate_pdf_signature(
        signature,
        signer_validation_context=ValidationContext(trust_roots=[load(cert)]),
        ts_validation_context=ValidationContext(trust_roots=[load(tsa_root)]),
    )


def test_signature_and_time_stamp_validate_and_break_on_one_byte(
    exhibit: dict[str, Any], tmp_path: Path
) -> None:
    pdf = exhibit["pdf"].read_bytes()
    checked = tool("pdfsig", str(exhibit["pdf"]))
    assert "Signature is Valid." in checked.stdout, checked.stdout
    status = _validate(pdf, exhibit["cert"], exhibit["tsa_root"])
    assert status.bottom_line, status.pretty_print_details()
    assert status.intact and status.valid and status.trusted
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.trusted

    tampered = bytearray(pdf)
    at = len(pdf) // 3  # inside the signed byte range, in the document's body
    tampered[at] ^= 0x01
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(bytes(tampered))
    rechecked = tool("pdfsig", str(bad))
    assert "Signature is Valid." not in rechecked.stdout, rechecked.stdout
    try:
        broken = _validate(bytes(tampered), exhibit["cert"], exhibit["tsa_root"])
    except Exception as exc:  # a byte in a stream can make the file unreadable too
        assert "PDF" in type(exc).__name__ or str(exc), exc
    else:
        assert not (broken.intact and broken.valid)


def test_exhibit_is_a_custody_event_beside_the_bundle(exhibit: dict[str, Any]) -> None:
    import hashlib
    import json

    digest = hashlib.sha256(exhibit["pdf"].read_bytes()).hexdigest()
    with sqlite3.connect(exhibit["db"]) as conn:
        (details,) = conn.execute(
            "SELECT details FROM custody_event WHERE action = 'exhibit.created' "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    event = json.loads(details)
    assert event["sha256"] == digest
    assert event["bundle"] == exhibit["bundle"].name
    assert event["photos_unblurred"] is False and event["timestamped"] is True
    assert exhibit["pdf"].parent == exhibit["bundle"].parent
    verified = adarchive("custody", "verify", "--db", str(exhibit["db"]))
    assert verified.returncode == 0, verified.stdout


def test_mistakes_are_one_line(exhibit: dict[str, Any], tmp_path: Path) -> None:
    missing = adarchive("exhibit", str(tmp_path / "none.wacz"), "--db", str(exhibit["db"]))
    assert missing.returncode == 2 and "no bundle at" in missing.stderr
    assert "Traceback" not in missing.stderr
    junk = tmp_path / "junk.wacz"
    junk.write_bytes(b"not a zip")
    bad = adarchive("exhibit", str(junk), "--db", str(exhibit["db"]))
    assert bad.returncode == 2 and "as a WACZ (ZIP) file" in bad.stderr
    nocert = adarchive("exhibit", str(exhibit["bundle"]), "--db", str(exhibit["db"]),
                       "--sign", str(exhibit["root"] / "keys" / "adarchive-signing-key.pem"),
                       "--cert", str(tmp_path / "none.pem"), "--out", str(tmp_path / "x.pdf"))  # fmt: skip
    assert nocert.returncode == 2 and "adarchive keys certificate" in nocert.stderr
    assert not (tmp_path / "x.pdf").exists()


def test_a_page_appended_after_signing_is_reported(exhibit: dict[str, Any], tmp_path: Path) -> None:
    """An incremental update leaves the signed bytes intact: the certification signature
    (no changes permitted) is what makes both validators object."""
    from pypdf import PdfWriter

    original = exhibit["pdf"].read_bytes()
    writer = PdfWriter(io.BytesIO(original), incremental=True)
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    forged = tmp_path / "appended.pdf"
    forged.write_bytes(out.getvalue())
    assert forged.read_bytes().startswith(original)  # the signed revision is untouched

    checked = tool("pdfsig", str(forged)).stdout
    assert "Not total document signed" in checked, checked
    status = _validate(forged.read_bytes(), exhibit["cert"], exhibit["tsa_root"])
    assert status.intact and not status.bottom_line


def test_a_bundle_that_fails_verification_gets_no_exhibit(
    exhibit: dict[str, Any], tmp_path: Path
) -> None:
    import zipfile

    tampered = tmp_path / "tampered.wacz"
    with zipfile.ZipFile(exhibit["bundle"]) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "evidence/captures.csv":
                data = data.replace(b"2026-", b"2025-", 1)
            dst.writestr(info, data)
    out = tmp_path / "tampered.exhibit.pdf"
    result = adarchive("exhibit", str(tampered), "--db", str(exhibit["db"]), "--out", str(out))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "fails verification" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
