"""A small WACZ of one advert's captures, for replay in ReplayWeb.page.

The workbench replays an advert's archived page from this file: the records of
its page, its images and the rest of each exchange (what an export of the
advert selects), copied byte for byte from the source WARC files and re-read
while copied, with a CDXJ index and a pages list naming the advert's page.
It is a viewing copy, not an evidence bundle: no custody log, report or
signature, no custody event (the workbench audits the replay instead), and the
source files are not re-hashed whole (a replay must not read a 1 GB WARC).

Two things are left out on purpose: images on the known-hash list (the
workbench never renders them), and other captures of the advert's page URL
than the one the advert names (a browser page's age gate is captured at the
same URL within the same second, and replay must show the advert).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.evidence.cdx import cdx_timestamp, cdxj_line
from crawler.evidence.evidence_errors import ExportError, SelectionError
from crawler.evidence.layout import DATAPACKAGE, DIGEST, INDEX_PATH, PAGES_PATH, SOFTWARE
from crawler.evidence.selection import Selected, Selection, select_captures
from crawler.evidence.wacz_export import _copy_one, _Entry, _load_sources, _write_bytes, _write_text
from crawler.evidence.zipwriter import ZipWriter
from crawler.store.models import Ad, AdImage, Capture, Image, utc

INDEXED = ("response", "revisit", "resource")


class ReplayArchiveError(ExportError):
    """The advert has nothing replayable, or its records could not be copied."""


@dataclass(frozen=True)
class AdvertPage:
    """The advert's page as replay addresses it: URL and 17-digit capture time."""

    ad_id: int
    url: str
    timestamp: str
    title: str | None


def advert_page(session: Session, ad_id: int) -> AdvertPage | None:
    """The page capture the advert names, or None when it names none."""
    row = session.execute(
        select(Ad.title, Capture.url, Capture.fetched_at)
        .join(Capture, Capture.id == Ad.capture_id)
        .where(Ad.id == ad_id)
    ).first()
    if row is None:
        return None
    title, url, fetched = row
    return AdvertPage(ad_id, url, cdx_timestamp(utc(fetched)), title)  # type: ignore[arg-type]


def _flagged(session: Session, captures: list[Capture]) -> set[int]:
    """Captures of images on the known-hash list (by the advert's image rows and by payload)."""
    ids = [c.id for c in captures]
    out = set(
        session.scalars(
            select(AdImage.capture_id)
            .join(Image, Image.id == AdImage.image_id)
            .where(Image.flagged.is_(True), AdImage.capture_id.in_(ids))
        )
    )
    payloads = {c.payload_sha256 for c in captures if c.payload_sha256}
    if payloads:
        bad = set(
            session.scalars(
                select(Image.sha256).where(Image.flagged.is_(True), Image.sha256.in_(payloads))
            )
        )
        out |= {c.id for c in captures if c.payload_sha256 in bad}
    return {c for c in out if c is not None}


def _replay_captures(session: Session, ad_id: int, page_capture: int) -> list[int]:
    try:
        selected = select_captures(session, Selection(ads=[str(ad_id)]))
    except SelectionError as exc:
        raise ReplayArchiveError(str(exc)) from None
    captures = list(session.scalars(select(Capture).where(Capture.id.in_(selected.capture_ids))))
    page = next((c for c in captures if c.id == page_capture), None)
    drop = _flagged(session, captures)
    if page is not None and page.kind == "response":
        drop |= {c.id for c in captures
                 if c.url == page.url and c.kind in INDEXED and c.id != page.id}  # fmt: skip
    # A dropped record takes the other records of its exchange with it.
    drop |= {c.id for c in captures if c.parent_capture_id in drop}
    return [c.id for c in captures if c.id not in drop]


def write_replay_archive(session: Session, ad_id: int, data_root: Path, out: Path) -> AdvertPage:
    """Write ``out`` (a .wacz) for advert ``ad_id``; its page. Written whole or not at all.

    The ZIP's times are the page's capture time, so the same captures give the
    same bytes (several server processes may build the file for one replay).
    """
    page = advert_page(session, ad_id)
    ad = session.get(Ad, ad_id)
    if page is None or ad is None or ad.capture_id is None:
        raise ReplayArchiveError(f"advert {ad_id} names no archived page")
    ids = _replay_captures(session, ad_id, ad.capture_id)
    sources = _load_sources(session, Selected(ids, [ad_id]), data_root)
    when: datetime = utc(session.get(Capture, ad.capture_id).fetched_at)  # type: ignore[union-attr,arg-type]
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        with open(tmp, "wb") as raw:
            _write(raw, sources, page, when)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return page


def _write(raw: Any, sources: list[Any], page: AdvertPage, when: datetime) -> None:
    zf = ZipWriter(raw)
    warc = f"advert-{page.ad_id}.warc.gz"
    captures = [cap for source in sources for cap in source.captures]
    entry = _Entry(zf, f"archive/{warc}", when, sum(c.length or 0 for c in captures))
    lines: list[str] = []
    for source in sources:
        with open(source.path, "rb") as fh:
            for cap in source.captures:
                if cap.offset is None or cap.length is None:
                    raise ReplayArchiveError(f"capture {cap.id} has no offset/length in the store")
                offset = entry.size
                rec = _copy_one(fh, cap.offset, cap.length, entry, source.name)
                if rec.record_id != cap.record_id or rec.block_sha256 != cap.block_sha256:
                    raise ReplayArchiveError(
                        f"{source.name} offset {cap.offset}: record {rec.record_id} does not "
                        f"match capture {cap.id} ({cap.record_id})"
                    )
                if cap.kind in INDEXED:
                    lines.append(cdxj_line(
                        url=cap.url, fetched_at=utc(cap.fetched_at),  # type: ignore[arg-type]
                        mime=cap.content_type, status=cap.status,
                        payload_sha256=cap.payload_sha256, filename=warc, offset=offset,
                        length=cap.length, record_id=cap.record_id or "", kind=cap.kind,
                    ))  # fmt: skip
    resources = [entry.close()]
    lines.sort()
    resources.append(_write_text(zf, INDEX_PATH, when, [line + "\n" for line in lines]))
    header = {"format": "json-pages-1.0", "id": "pages", "title": f"Advert {page.ad_id}"}
    first = {"id": f"advert-{page.ad_id}", "url": page.url, "ts": _rfc3339_ms(page.timestamp)}
    if page.title:
        first["title"] = page.title
    pages = [json.dumps(header) + "\n", json.dumps(first, ensure_ascii=False) + "\n"]
    resources.append(_write_text(zf, PAGES_PATH, when, pages))
    package = {
        "profile": "data-package",
        "resources": resources,
        "wacz_version": "1.1.1",
        "software": SOFTWARE,
        "created": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "title": f"Replay of advert {page.ad_id}",
        "description": "A viewing copy for replay, not an evidence bundle: export the "
        "advert for one.",
    }
    data = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
    _write_bytes(zf, DATAPACKAGE, when, data)
    digest = {"path": DATAPACKAGE, "hash": "sha256:" + hashlib.sha256(data).hexdigest()}
    _write_bytes(zf, DIGEST, when, json.dumps(digest, indent=2).encode("utf-8"))
    zf.close()


def _rfc3339_ms(ts: str) -> str:
    """``20260101120000123`` → ``2026-01-01T12:00:00.123Z``."""
    return f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}.{ts[14:17]}Z"
