"""Stream a WACZ 1.1.1 evidence bundle for the selected captures.

Records are copied byte for byte from the source WARC files by (offset,
length), after the source file's own warcinfo, so every record digest and
every line of ``evidence/captures.csv`` can be checked against the originals.
Each copied record is re-read while it is copied (digests re-checked), and
each source file is re-hashed against the SHA-256 in the custody log. Bodies
are never held in memory; the bundle is written under a temporary name and
renamed only when complete.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crawler.archive.digests import file_sha256
from crawler.configuration import setting
from crawler.evidence import events as ev
from crawler.evidence.anchor import ANCHOR_PREFIX, anchor_dir, anchor_head, tsa_urls
from crawler.evidence.audithead import record_audit_head
from crawler.evidence.cdx import cdxj_line
from crawler.evidence.custody import (
    default_actor,
    event_record,
    record_event,
    rfc3339,
)
from crawler.evidence.evidence_errors import ExportError
from crawler.evidence.layout import (
    CAPTURES_PATH,
    CHUNK,
    CSV_FIELDS,
    CUSTODY_PATH,
    DATAPACKAGE,
    DIGEST,
    INDEX_PATH,
    PAGES_PATH,
    REPORT_PATH,
    SIGNATURE_STAMP,
    SOFTWARE,
    VERIFY_PATH,
    WACZ_VERSION,
)
from crawler.evidence.selection import Selected, Selection, select_captures
from crawler.evidence.timebound import TimeBound, compute
from crawler.evidence.timestamp import (
    TimestampError,
    manifest_paths,
    request_timestamp,
    tokens_beside,
    verify_response,
)
from crawler.evidence.warcscan import WarcFormatError, scan_warc
from crawler.evidence.zipwriter import ZipWriter
from crawler.store.models import Ad, Capture, CustodyEvent, Platform, Sighting, WarcFile, utc


@dataclass
class ExportOptions:
    out: Path
    data_root: Path
    case_ref: str | None = None
    sign_key: Path | None = None
    actor: str = field(default_factory=default_actor)


@dataclass
class ExportResult:
    path: Path
    sha256: str
    size: int
    captures: int
    records: int
    source_files: int
    skipped_open: int
    export_event: int
    signer_fingerprint: str | None


@dataclass
class CaptureInfo:
    """What the CSV, index, pages list and report say about one exported record."""

    id: int
    kind: str
    url: str
    fetched_at: datetime
    status: int | None
    content_type: str | None
    record_id: str
    block_sha256: str
    payload_sha256: str | None
    source_warc: str
    source_sha256: str
    source_offset: int
    source_length: int
    bundle_warc: str
    bundle_offset: int
    ads: str

    def csv_row(self) -> list[str]:
        return [
            str(self.id),
            self.kind,
            self.url,
            rfc3339(self.fetched_at),
            "" if self.status is None else str(self.status),
            self.content_type or "",
            self.record_id,
            self.block_sha256,
            self.payload_sha256 or "",
            self.source_warc,
            self.source_sha256,
            str(self.source_offset),
            str(self.source_length),
            self.bundle_warc,
            str(self.bundle_offset),
            self.ads,
        ]


@dataclass
class SourceFile:
    row: WarcFile
    path: Path
    name: str
    captures: list[Capture]
    stamped: bool = False
    stamped_at: datetime | None = None
    """genTime of the token over its manifest (checked, not yet against a trusted root)."""


class _Entry:
    """A ZIP entry of declared size being written: counts bytes and hashes them on the way in."""

    def __init__(self, zw: ZipWriter, path: str, when: datetime, size: int) -> None:
        self.path = path
        self.fh = zw.open(path, size, when)
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.hash.update(data)
        self.size += len(data)

    def close(self) -> dict[str, Any]:
        self.fh.close()
        return {
            "name": Path(self.path).name.lower(),
            "path": self.path,
            "hash": "sha256:" + self.hash.hexdigest(),
            "bytes": self.size,
        }


class _SpooledEntry:
    """An entry whose size is learnt by writing it: spooled first, so the ZIP header is exact."""

    def __init__(self, zw: ZipWriter, path: str, when: datetime) -> None:
        self.zw, self.path, self.when = zw, path, when
        self.spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 (closed below)
        self.size = 0

    def write(self, data: bytes) -> None:
        self.spool.write(data)
        self.size += len(data)

    def close(self) -> dict[str, Any]:
        entry = _Entry(self.zw, self.path, self.when, self.size)
        with self.spool:
            self.spool.seek(0)
            while chunk := self.spool.read(CHUNK):
                entry.write(chunk)
        return entry.close()


class _Tee:
    """Reads ``length`` bytes of a source file, copying them into an entry."""

    def __init__(self, source: BinaryIO, length: int, entry: _Entry) -> None:
        self.source, self.left, self.entry = source, length, entry

    def read(self, size: int = -1) -> bytes:
        want = self.left if size < 0 else min(size, self.left)
        data = self.source.read(want) if want else b""
        if len(data) != want:
            raise ExportError("source WARC file is shorter than the store says")
        self.left -= len(data)
        self.entry.write(data)
        return data


def export_bundle(
    factory: sessionmaker[Session], selection: Selection, options: ExportOptions
) -> ExportResult:
    out = Path(options.out)
    if out.suffix.lower() != ".wacz":
        raise ExportError(f"--out must name a .wacz file (got {out})")
    if out.exists():
        raise ExportError(f"{out} already exists; choose another name")
    key = None
    if options.sign_key is not None:
        from crawler.evidence.signing import load_private_key

        key = load_private_key(options.sign_key)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    created = datetime.now(UTC).replace(microsecond=0)
    try:
        with factory() as session, open(tmp, "wb") as raw:
            selected = select_captures(session, selection)
            sources = _load_sources(session, selected, options.data_root)
            result = _write_bundle(
                session, raw, selection, selected, sources, options, key, created
            )
            raw.flush()
            os.fsync(raw.fileno())
        digest, size = file_sha256(tmp)
        if out.exists():
            raise ExportError(f"{out} appeared while exporting; not overwriting it")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    with factory() as session:
        record_event(
            session,
            ev.EXPORT_WRITTEN,
            f"export:{out.name}",
            {"bundle": out.name, "sha256": digest, "bytes": size, "export_event": result["event"]},
            actor=options.actor,
        )
        # The workbench's audit chain head goes into the custody chain, anchored with it.
        record_audit_head(session, f"export {out.name}", actor=options.actor)
        anchor_head(session, options.data_root, f"export {out.name}", tsa_urls())
    return ExportResult(
        path=out,
        sha256=digest,
        size=size,
        captures=len(selected.capture_ids),
        records=result["records"],
        source_files=len(sources),
        skipped_open=selected.skipped_open,
        export_event=result["event"],
        signer_fingerprint=result["fingerprint"],
    )


def summary_lines(result: ExportResult) -> list[str]:
    """What ``adarchive export`` prints about a bundle it wrote (the workbench shows the same)."""
    lines = [
        f"wrote {result.path} ({result.size} bytes)",
        f"  sha256        {result.sha256}",
        f"  captures      {result.captures} ({result.records} WARC records incl. warcinfo)",
        f"  source files  {result.source_files}",
        f"  custody event #{result.export_event}",
    ]
    if result.signer_fingerprint:
        lines.append(f"  signed by     {result.signer_fingerprint}")
    if result.skipped_open:
        lines.append(f"  left out      {result.skipped_open} captures in WARC files still open")
    return lines


def _load_sources(session: Session, selected: Selected, data_root: Path) -> list[SourceFile]:
    by_file: dict[int, list[Capture]] = {}
    ids = selected.capture_ids
    for i in range(0, len(ids), 500):
        for cap in session.scalars(select(Capture).where(Capture.id.in_(ids[i : i + 500]))):
            by_file.setdefault(cap.warc_file_id or 0, []).append(cap)
    sources = []
    for file_id, captures in by_file.items():
        row = session.get(WarcFile, file_id)
        if row is None or not row.sha256:
            raise ExportError(f"captures {captures[0].id}… point at a WARC file the store lacks")
        path = Path(row.path)
        if not path.is_absolute():
            path = data_root / path
        if not path.exists():
            raise ExportError(f"source WARC file {path} is missing (wrong --data-dir?)")
        captures.sort(key=lambda c: c.offset or 0)
        sources.append(SourceFile(row, path, path.name, captures))
    sources.sort(key=lambda s: s.name)
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ExportError("two source WARC files share a name; cannot place both in archive/")
    return sources


def _write_bundle(
    session: Session,
    raw: BinaryIO,
    selection: Selection,
    selected: Selected,
    sources: list[SourceFile],
    options: ExportOptions,
    key: Any,
    created: datetime,
) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    ad_refs, proven_ads = _ad_refs(session, selected)
    infos: list[CaptureInfo] = []
    zf = ZipWriter(raw)
    records = 0
    for source in sources:
        count, resource = _copy_records(zf, source, created, ad_refs, infos)
        records += count
        resources.append(resource)
    for source in sources:
        resources += _copy_stamps(zf, source, created)
    resources += _copy_anchors(zf, options.data_root, created)
    resources.append(_write_text(zf, INDEX_PATH, created, _index_lines(infos)))
    resources.append(_write_text(zf, PAGES_PATH, created, _pages_lines(session, infos, options)))
    resources.append(_write_csv(zf, created, infos))

    fingerprint = None
    public_b64 = None
    if key is not None:
        from crawler.evidence.signing import fingerprint as fp
        from crawler.evidence.signing import public_key_b64

        fingerprint, public_b64 = fp(key.public_key()), public_key_b64(key.public_key())
    details = {
        "bundle": Path(options.out).name,
        "case_ref": options.case_ref,
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "selection": selection.describe(),
        "captures": len(infos),
        "skipped_open": selected.skipped_open,
        "archive": [
            {"path": r["path"], "sha256": r["hash"].split(":", 1)[1], "bytes": r["bytes"]}
            for r in resources
            if r["path"].startswith("archive/")
        ],
        "source_warcs": [{"name": s.name, "sha256": s.row.sha256} for s in sources],
        "signer_fingerprint": fingerprint,
        "software": SOFTWARE,
    }
    event = record_event(
        session, ev.EXPORT_CREATED, f"export:{Path(options.out).name}", details,
        actor=options.actor,
    )  # fmt: skip
    related = _related_subjects(session, sources, event.seq)
    resources.append(_write_custody(zf, session, created, event.seq, related))
    context = {
        "case_ref": options.case_ref,
        "bundle": Path(options.out).name,
        "actor": options.actor,
        "created": created,
        "selection": selection.describe(),
        "sources": sources,
        "infos": infos,
        "ads": _ad_rows(session, sorted(set(selected.ad_ids) | set(proven_ads))),
        "event": event,
        "fingerprint": fingerprint,
        "public_key": public_b64,
        "skipped_open": selected.skipped_open,
        "time_bound": _time_bound(sources, infos),
    }
    from crawler.evidence.bundlereport import render_report, render_verify_txt

    resources.append(_write_text(zf, REPORT_PATH, created, render_report(context)))
    resources.append(_write_text(zf, VERIFY_PATH, created, [render_verify_txt(context)]))

    package = {
        "profile": "data-package",
        "resources": resources,
        "wacz_version": WACZ_VERSION,
        "software": SOFTWARE,
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "title": options.case_ref or "adarchive evidence bundle",
        "description": "Evidence bundle: WARC records copied byte for byte from the "
        "archive, with custody log, capture list and verification instructions.",
    }
    package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
    _write_bytes(zf, DATAPACKAGE, created, package_bytes)
    digest: dict[str, Any] = {
        "path": DATAPACKAGE,
        "hash": "sha256:" + hashlib.sha256(package_bytes).hexdigest(),
    }
    if key is not None:
        from crawler.evidence.signing import sign_hash

        digest["signedData"] = {
            "hash": digest["hash"],
            "created": package["created"],
            "software": SOFTWARE,
            "publicKey": public_b64,
            "signature": sign_hash(key, digest["hash"]),
        }
    if key is not None:
        stamps = _stamp_signature(digest["signedData"]["signature"])
        if stamps:
            digest[SIGNATURE_STAMP] = stamps
    _write_bytes(zf, DIGEST, created, json.dumps(digest, indent=2).encode("utf-8"))
    zf.close()
    return {"records": records, "event": event.seq, "fingerprint": fingerprint}


def _time_bound(sources: list[SourceFile], infos: list[CaptureInfo]) -> TimeBound | None:
    """How soon each capture was time-stamped (for VERIFY.txt); None if nothing was."""
    stamped = {s.name: s.stamped_at for s in sources if s.stamped_at is not None}
    if not stamped:
        return None
    minutes = float(setting("ADARCHIVE_WARC_MAX_AGE_MINUTES"))
    return compute(((i.source_warc, i.fetched_at) for i in infos), stamped, minutes)


def _stamp_signature(signature: str) -> list[dict[str, str]]:
    """Trusted time over the signature, so a signer's validity period can be checked.

    A token from each configured TSA over the ASCII ``signature`` value, as
    ``[{"tsa": URL, "token": BASE64}, …]`` in datapackage-digest.json (WACZ
    readers refuse unlisted files). A TSA that does not answer is listed with
    its ``error``, so verify can say which one is missing; one trusted token
    suffices to date the signature.
    """
    stamps = []
    for url in tsa_urls():
        try:
            token = request_timestamp(url, signature.encode("ascii"))
        except TimestampError as exc:
            stamps.append({"tsa": url, "error": str(exc)})
            continue
        stamps.append({"tsa": url, "token": base64.b64encode(token).decode("ascii")})
    return stamps


def _copy_records(
    zf: ZipWriter,
    source: SourceFile,
    when: datetime,
    ad_refs: dict[int, str],
    infos: list[CaptureInfo],
) -> tuple[int, dict[str, Any]]:
    """warcinfo + the selected records, each re-read and checked while copied."""
    whole = hashlib.sha256()
    with open(source.path, "rb") as fh:
        # The source file must still be what the custody log says it was.
        while chunk := fh.read(CHUNK):
            whole.update(chunk)
        if whole.hexdigest() != source.row.sha256:
            raise ExportError(
                f"source WARC {source.name} has SHA-256 {whole.hexdigest()}, "
                f"but the store recorded {source.row.sha256} when it closed"
            )
        fh.seek(0)
        first = next(scan_warc(_Peek(fh)), None)
        if first is None or first.kind != "warcinfo":
            raise ExportError(f"source WARC {source.name} does not start with a warcinfo record")
        for cap in source.captures:
            if cap.offset is None or cap.length is None:
                raise ExportError(f"capture {cap.id} has no offset/length in the store")
        size = first.length + sum(cap.length or 0 for cap in source.captures)
        entry = _Entry(zf, f"archive/{source.name}", when, size)
        fh.seek(0)
        _copy_one(fh, 0, first.length, entry, source.name)
        count = 1
        for cap in source.captures:
            assert cap.offset is not None and cap.length is not None  # checked above
            bundle_offset = entry.size
            rec = _copy_one(fh, cap.offset, cap.length, entry, source.name)
            if rec.record_id != cap.record_id or rec.block_sha256 != cap.block_sha256:
                raise ExportError(
                    f"{source.name} offset {cap.offset}: record {rec.record_id} does not match "
                    f"capture {cap.id} ({cap.record_id})"
                )
            infos.append(
                CaptureInfo(
                    id=cap.id,
                    kind=cap.kind,
                    url=cap.url,
                    fetched_at=utc(cap.fetched_at),  # type: ignore[arg-type]
                    status=cap.status,
                    content_type=cap.content_type,
                    record_id=cap.record_id or "",
                    block_sha256=cap.block_sha256 or "",
                    payload_sha256=cap.payload_sha256,
                    source_warc=source.name,
                    source_sha256=source.row.sha256 or "",
                    source_offset=cap.offset,
                    source_length=cap.length,
                    bundle_warc=source.name,
                    bundle_offset=bundle_offset,
                    ads=ad_refs.get(cap.id, ""),
                )
            )
            count += 1
    return count, entry.close()


class _Peek:
    """A reader over the first gzip member only (enough to learn the warcinfo length)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh

    def read(self, size: int = -1) -> bytes:
        return self.fh.read(min(size, 1 << 16) if size > 0 else 1 << 16)


def _copy_one(fh: BinaryIO, offset: int, length: int, entry: _Entry, name: str) -> Any:
    fh.seek(offset)
    try:
        scanned = list(scan_warc(_Tee(fh, length, entry)))  # type: ignore[arg-type]
    except WarcFormatError as exc:
        raise ExportError(f"{name} offset {offset}: {exc}") from None
    if len(scanned) != 1:
        raise ExportError(f"{name} offset {offset}: expected one record, found {len(scanned)}")
    rec = scanned[0]
    if rec.problems:
        raise ExportError(f"{name} offset {offset} ({rec.record_id}): {'; '.join(rec.problems)}")
    return rec


def _copy_stamps(zf: ZipWriter, source: SourceFile, when: datetime) -> list[dict[str, Any]]:
    """Manifest, and each TSA's token and chain, of a source file if it was time-stamped."""
    manifest_path = manifest_paths(source.path)[0]
    pairs = (
        [p for p in tokens_beside(manifest_path) if p[1].exists()] if manifest_path.exists() else []
    )
    if not pairs:
        return []
    source.stamped = True
    manifest = manifest_path.read_bytes()
    times = []
    for token, chain in pairs:
        check = verify_response(token.read_bytes(), manifest, chain.read_bytes())
        if check.ok and check.gen_time is not None:
            times.append(check.gen_time)
    source.stamped_at = min(times, default=None)
    out = []
    for path in [manifest_path, *(p for pair in pairs for p in pair)]:
        entry = _Entry(zf, f"evidence/{path.name}", when, path.stat().st_size)
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                entry.write(chunk)
        out.append(entry.close())
    return out


def _copy_anchors(zf: ZipWriter, data_root: Path, when: datetime) -> list[dict[str, Any]]:
    """The custody chain's head anchors and their tokens, so the bundle carries them too."""
    out = []
    directory = anchor_dir(data_root)
    for path in sorted(directory.glob("head-*.json")) + sorted(directory.glob("head-*.tsr")):
        entry = _Entry(zf, f"evidence/{ANCHOR_PREFIX}{path.name}", when, path.stat().st_size)
        entry.write(path.read_bytes())
        out.append(entry.close())
    return out


def _write_bytes(zf: ZipWriter, path: str, when: datetime, data: bytes) -> dict[str, Any]:
    entry = _Entry(zf, path, when, len(data))
    entry.write(data)
    return entry.close()


def _write_text(
    zf: ZipWriter, path: str, when: datetime, lines: Iterator[str] | Sequence[str]
) -> dict[str, Any]:
    entry = _SpooledEntry(zf, path, when)
    for line in lines:
        entry.write(line.encode("utf-8"))
    return entry.close()


def _index_lines(infos: list[CaptureInfo]) -> Iterator[str]:
    lines = [
        cdxj_line(
            url=i.url,
            fetched_at=i.fetched_at,
            mime=i.content_type,
            status=i.status,
            payload_sha256=i.payload_sha256,
            filename=i.bundle_warc,
            offset=i.bundle_offset,
            length=i.source_length,
            record_id=i.record_id,
            kind=i.kind,
        )
        for i in infos
        if i.kind in ("response", "revisit", "resource")
    ]
    lines.sort()
    for line in lines:
        yield line + "\n"


def _pages_lines(
    session: Session, infos: list[CaptureInfo], options: ExportOptions
) -> Iterator[str]:
    yield (
        json.dumps(
            {"format": "json-pages-1.0", "id": "pages", "title": options.case_ref or "Evidence"}
        )
        + "\n"
    )
    titles = dict(
        session.execute(select(Ad.capture_id, Ad.title).where(Ad.capture_id.is_not(None))).all()
    )
    for info in infos:
        if info.kind != "response" or not (info.content_type or "").startswith("text/html"):
            continue
        page = {"id": info.record_id, "url": info.url, "ts": rfc3339(info.fetched_at)}
        title = titles.get(info.id)
        if title:
            page["title"] = title
        yield json.dumps(page, ensure_ascii=False) + "\n"


def _write_csv(zf: ZipWriter, when: datetime, infos: list[CaptureInfo]) -> dict[str, Any]:
    entry = _SpooledEntry(zf, CAPTURES_PATH, when)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for info in infos:
        writer.writerow(info.csv_row())
        if buffer.tell() > CHUNK:
            entry.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    entry.write(buffer.getvalue().encode("utf-8"))
    return entry.close()


def _ad_refs(session: Session, selected: Selected) -> tuple[dict[int, str], list[int]]:
    """(capture id -> ``platform:external_id;…`` of the ads it proves, those ads' ids)."""
    refs: dict[int, set[str]] = {}
    ad_ids: set[int] = set()
    ids = selected.capture_ids
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        rows = session.execute(
            select(Sighting.capture_id, Ad.id, Platform.name, Ad.external_id)
            .join(Ad, Ad.id == Sighting.ad_id)
            .join(Platform, Platform.id == Ad.platform_id)
            .where(Sighting.capture_id.in_(chunk))
        ).all()
        rows += session.execute(
            select(Ad.capture_id, Ad.id, Platform.name, Ad.external_id)
            .join(Platform, Platform.id == Ad.platform_id)
            .where(Ad.capture_id.in_(chunk))
        ).all()
        for cid, ad_id, platform, external in rows:
            refs.setdefault(cid, set()).add(f"{platform}:{external}")
            ad_ids.add(ad_id)
    return {k: ";".join(sorted(v)) for k, v in refs.items()}, sorted(ad_ids)


def _ad_rows(session: Session, ad_ids: list[int]) -> list[dict[str, Any]]:
    rows = []
    for i in range(0, len(ad_ids), 500):
        for ad, platform in session.execute(
            select(Ad, Platform.name)
            .join(Platform, Platform.id == Ad.platform_id)
            .where(Ad.id.in_(ad_ids[i : i + 500]))
        ):
            rows.append(
                {
                    "id": ad.id,
                    "platform": platform,
                    "external_id": ad.external_id,
                    "url": ad.url,
                    "title": ad.title,
                    "first_seen": utc(ad.first_seen),
                    "last_seen": utc(ad.last_seen),
                    "capture_id": ad.capture_id,
                }
            )
    return rows


def _related_subjects(session: Session, sources: list[SourceFile], export_seq: int) -> set[str]:
    subjects: set[str] = set()
    for source in sources:
        subjects.add(ev.warc_subject(source.row.path))
        if source.row.crawl_id is not None:
            subjects.add(ev.crawl_subject(source.row.crawl_id))
    event = session.get(CustodyEvent, export_seq)
    if event is not None:
        subjects.add(event.subject)
    return subjects


def _write_custody(
    zf: ZipWriter, session: Session, when: datetime, last_seq: int, related: set[str]
) -> dict[str, Any]:
    """The chain from event 1 to the export event; unrelated details replaced by their digest."""
    entry = _SpooledEntry(zf, CUSTODY_PATH, when)
    last = 0
    while last < last_seq:
        rows = session.scalars(
            select(CustodyEvent)
            .where(CustodyEvent.seq > last, CustodyEvent.seq <= last_seq)
            .order_by(CustodyEvent.seq)
            .limit(1000)
        ).all()
        if not rows:
            break
        for row in rows:
            record = event_record(row, redact=row.subject not in related)
            entry.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        last = rows[-1].seq
    return entry.close()
