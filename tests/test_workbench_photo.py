"""Photo search over a real crawled store (the fixture world's advert images): an
uploaded copy of an advert's image, re-encoded and resized, finds that advert; an
unrelated image finds nothing; a non-image gets a clear error; an upload over the
limit is refused before it is read; the form works in headless Chromium."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from PIL import Image, ImageDraw
from workbench_server import PASSWORD, Served, csrf, serve
from workbench_stores import BuiltStore, copy_store

from conftest import CHROMIUM
from crawler.analysis.phash import hamming, image_facts
from crawler.analysis.warcread import read_payload
from crawler.configuration import setting

pytestmark = [pytest.mark.crawl]


@pytest.fixture(scope="module")
def served(crawled_store: BuiltStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    store = copy_store(crawled_store, tmp_path_factory.mktemp("workbench-photo"))
    for url, proc in serve(store.db):
        s = Served(url, store.db, store.out, store.truth, 0, proc)
        yield s
        for c in s.clients.values():
            c.close()


def stored_image(served: Served) -> tuple[bytes, str, set[int]]:
    """One advert image as crawled (its bytes from the WARC), its pHash, the adverts showing it."""
    rows = served.query(
        "SELECT i.id, i.phash, w.path, c.offset FROM image i JOIN ad_image ai ON ai.image_id = i.id"
        " JOIN capture c ON c.id = ai.capture_id JOIN warc_file w ON w.id = c.warc_file_id"
        " WHERE i.phash IS NOT NULL AND NOT i.flagged ORDER BY i.id LIMIT 1"
    )
    assert rows, "the crawled world has no hashed image"
    image_id, phash, path, offset = rows[0]
    data = read_payload(served.out, path, int(offset))
    assert data
    ads = {r[0] for r in served.query("SELECT ad_id FROM ad_image WHERE image_id = ?", image_id)}
    return data, phash, ads


def reencoded(data: bytes, scale: float) -> bytes:
    """The same picture as an investigator might hold it: resized, saved as JPEG."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img = img.resize((max(8, int(img.width * scale)), max(8, int(img.height * scale))))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


def unrelated() -> bytes:
    """A picture no advert has: diagonal stripes and a circle."""
    img = Image.new("RGB", (300, 200), "white")
    draw = ImageDraw.Draw(img)
    for x in range(-200, 300, 24):
        draw.line([(x, 0), (x + 200, 200)], fill=(20, 60, 160), width=9)
    draw.ellipse([110, 50, 210, 150], fill=(200, 40, 40))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def upload(
    served: Served, data: bytes, name: str = "photo.jpg", token: str | None = None
) -> httpx.Response:
    client = served.client("analyst")
    if token is None:
        token = csrf(client.get("/search/photo").text)
    return client.post("/search/photo", data={"csrf_token": token},
                       files={"photo": (name, data, "application/octet-stream")})  # fmt: skip


def last_audit(served: Served) -> tuple[str, str, dict[str, Any]]:
    actor, action, details = served.query(
        "SELECT actor, action, details FROM audit_event ORDER BY seq DESC LIMIT 1"
    )[0]
    return actor, action, json.loads(details)


def test_a_reencoded_copy_finds_its_adverts_and_is_audited_by_hash(served: Served) -> None:
    data, phash, ads = stored_image(served)
    copy = reencoded(data, 0.7)
    assert hashlib.sha256(copy).digest() != hashlib.sha256(data).digest()
    upload_phash = image_facts(copy)[0]
    assert hamming(upload_phash, phash) <= int(setting("ADARCHIVE_WORKBENCH_PHOTO_MAX_DISTANCE"))
    answer = upload(served, copy)
    assert answer.status_code == 200, answer.text
    found = {int(x) for x in re.findall(r'href="/ads/(\d+)"', answer.text)}
    assert ads <= found
    assert f"{len(found)} advert" in answer.text or "page 1 of" in answer.text
    actor, action, details = last_audit(served)
    assert (actor, action) == ("analyst", "search.photo")
    assert details["sha256"] == hashlib.sha256(copy).hexdigest()
    assert details["phash"] == upload_phash and details["results"] >= len(ads)
    # the audit holds the hashes, not the picture
    assert len(json.dumps(details)) < 600


def test_result_pages_link_by_phash(served: Served) -> None:
    data, phash, ads = stored_image(served)
    answer = served.client("auditor").get("/search/photo", params={"phash": phash})
    assert answer.status_code == 200
    assert {int(a) for a in re.findall(r'href="/ads/(\d+)"', answer.text)} >= ads
    assert served.client("auditor").get("/search/photo", params={"phash": "zz"}).status_code == 400


def test_an_unrelated_image_finds_nothing(served: Served) -> None:
    answer = upload(served, unrelated(), "stripes.png")
    assert answer.status_code == 200
    assert 'role="status">0 adverts' in answer.text
    assert last_audit(served)[2]["results"] == 0


def test_a_non_image_gets_a_clear_error(served: Served) -> None:
    answer = upload(served, b"%PDF-1.4 not a picture at all\n" * 20, "notes.pdf")
    assert answer.status_code == 400
    assert "not an image that can be read" in answer.text
    assert "Traceback" not in answer.text
    details = last_audit(served)[2]
    assert "error" in details and len(details["sha256"]) == 64


def test_wrong_csrf_and_wrong_role_are_refused(served: Served) -> None:
    data = unrelated()
    assert upload(served, data, token="forged").status_code == 403
    tech = served.client("technical")
    token = csrf(tech.get("/platforms").text)
    answer = tech.post("/search/photo", data={"csrf_token": token},
                       files={"photo": ("a.png", data, "image/png")})  # fmt: skip
    assert answer.status_code == 403


def _http_reply(sock: socket.socket) -> str:
    """One HTTP reply, head and body: the server may send them in separate segments."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data.decode("latin-1")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    while length and len(body) < int(length.group(1)):
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def test_an_upload_over_the_limit_is_refused_before_it_is_read(served: Served) -> None:
    """The server answers 413 while the client has sent only the headers and 64 KiB of a
    body announced as twice the limit; it never waits for the rest."""
    limit = int(setting("ADARCHIVE_WORKBENCH_PHOTO_MAX_BYTES"))
    client = served.client("analyst")
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    announced = 2 * limit
    where = urlparse(served.url)
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(
            (f"POST /search/photo HTTP/1.1\r\nHost: {where.netloc}\r\nCookie: {cookie}\r\n"
             "Content-Type: multipart/form-data; boundary=xyz\r\n"
             f"Content-Length: {announced}\r\n\r\n").encode() + b"x" * 65536
        )  # fmt: skip
        reply = _http_reply(sock)
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert "too large" in reply

    # streamed without a length: cut off once past the limit
    def chunks() -> Iterator[bytes]:
        yield (b'--xyz\r\nContent-Disposition: form-data; name="photo"; filename="big.jpg"\r\n'
               b"Content-Type: image/jpeg\r\n\r\n")  # fmt: skip
        for _ in range(announced // 65536):
            yield b"y" * 65536

    answer = client.post("/search/photo", content=chunks(),
                         headers={"content-type": "multipart/form-data; boundary=xyz"})  # fmt: skip
    assert answer.status_code == 413


@pytest.mark.browser
def test_the_photo_form_works_in_chromium(served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    data, _, ads = stored_image(served)
    photo = tmp_path / "copy.jpg"
    photo.write_bytes(reencoded(data, 1.3))
    shots = Path(os.environ.get("ADARCHIVE_SCREENSHOTS") or tmp_path)
    assert CHROMIUM.exists(), "headless Chromium is needed: apt-get install -y chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"])  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(served.url + "/login")
        page.get_by_label("Name").fill("analyst")
        page.get_by_label("Password").fill(PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
        page.goto(served.url + "/search")
        with page.expect_navigation():
            page.get_by_role("link", name="Search by photo").click()
        page.get_by_label("Photo").set_input_files(str(photo))
        with page.expect_navigation():
            page.get_by_role("button", name="Search by photo").click()
        status = page.get_by_role("status").inner_text()
        assert status.split()[0].isdigit() and int(status.split()[0]) >= len(ads)
        links = page.locator("table.results a").evaluate_all(
            "els => els.map(e => e.getAttribute('href'))"
        )
        assert {f"/ads/{a}" for a in ads} <= set(links)
        page.screenshot(path=str(shots / "photo-search-1280.png"), full_page=True)
        assert not errors
        browser.close()
