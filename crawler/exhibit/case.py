"""What an exhibit shows, read from a bundle and the store it was exported from.

The bundle is the authority for every capture reference (``evidence/captures.csv``
and its WARC records); the store adds what a bundle does not carry as data:
each advert's fields, the identifiers found in them with their offsets, first
and last seen, and the networks the adverts belong to with the reasons for
every link. An advert is in the exhibit when the bundle holds the capture
that proves it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator

from crawler.analysis.network_detail import network_detail
from crawler.archive.digests import warc_to_hex
from crawler.evidence.signing import fingerprint_b64
from crawler.store.models import (
    Ad,
    AdIdentifier,
    AdImage,
    AdNetwork,
    Identifier,
    Network,
    Platform,
    Sighting,
)

CAPTURES_CSV = "evidence/captures.csv"
DIGEST = "datapackage-digest.json"
DATAPACKAGE = "datapackage.json"
# warcinfo fields that differ from file to file without saying anything about policy.
PER_FILE_FIELDS = ("crawl-id", "platform", "hostname")
TEXT_FIELDS = ("title", "name", "age", "location", "price", "posted", "poster_account", "body")


class ExhibitError(RuntimeError):
    """A mistake the user can fix: not a bundle, an advert missing from the store, …"""


@dataclass(frozen=True)
class CaptureRow:
    """One row of the bundle's captures.csv: where a record is, and what proves it."""

    capture_id: str
    kind: str
    url: str
    fetched_at: str
    status: str
    content_type: str
    record_id: str
    block_sha256: str
    payload_sha256: str
    source_warc: str
    source_offset: str
    bundle_warc: str
    bundle_offset: str
    ads: tuple[str, ...]


@dataclass
class Mark:
    """An identifier found in an advert: where, as written, and as normalised."""

    kind: str
    value: str
    field: str
    start: int
    end: int
    match: str


@dataclass
class Advert:
    ad_id: int
    ref: str
    platform: str
    external_id: str
    url: str
    fields: dict[str, str]
    first_seen: datetime | None
    last_seen: datetime | None
    sightings: int
    marks: list[Mark]
    captures: list[CaptureRow]
    proof: CaptureRow
    screenshot: CaptureRow | None
    image_urls: list[str]
    bundle_first: str
    bundle_last: str
    """The earliest and latest capture of the advert's page in this bundle."""
    text_is_later: bool
    """The stored text is from a later visit than any capture in this bundle."""
    networks: list[str] = field(default_factory=list)


@dataclass
class Case:
    bundle: Path
    bundle_sha256: str
    case_ref: str
    created: str
    signer_fingerprint: str | None
    warcinfos: list[dict[str, list[str]]]
    """Every distinct capture policy the bundle's warcinfo records state."""
    adverts: list[Advert]
    networks: list[dict[str, Any]]
    rows: list[CaptureRow]
    warc_members: dict[str, str] = field(repr=False, default_factory=dict)
    """Bundle WARC name (as captures.csv writes it) → its member in the ZIP. Records are
    read from the bundle when needed, one at a time: a bundle of gigabytes is never
    held in memory."""

    def open_warc(self, name: str) -> IO[bytes]:
        """A seekable stream of one of the bundle's WARC files (stored members seek cheaply)."""
        zf = zipfile.ZipFile(self.bundle)
        try:
            member = zf.open(self.warc_members[name])
        except BaseException:
            zf.close()
            raise
        return _MemberStream(zf, member)

    def copy_warcs(self, directory: Path) -> list[Path]:
        """The bundle's WARC files written into ``directory`` (streamed), for a replay engine."""
        paths = []
        with zipfile.ZipFile(self.bundle) as zf:
            for name, member in sorted(self.warc_members.items()):
                if not name or Path(name).name != name or name.startswith("."):
                    raise ExhibitError(f"{member}: not a plain WARC file name")
                path = directory / name
                with zf.open(member) as src, path.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                paths.append(path)
        return paths

    def record_body(self, row: CaptureRow) -> tuple[Any, bytes]:
        """The record a row names, read from the bundle's own WARC: (record, payload)."""
        if row.bundle_warc not in self.warc_members:
            raise ExhibitError(f"{row.bundle_warc}: not a WARC file of this bundle")
        with self.open_warc(row.bundle_warc) as stream:
            stream.seek(int(row.bundle_offset))
            record = next(iter(ArchiveIterator(stream)))
            headers = record.rec_headers
            if headers.get_header("WARC-Record-ID") != row.record_id:
                raise ExhibitError(f"{row.bundle_warc}@{row.bundle_offset} is not {row.record_id}")
            declared = headers.get_header("WARC-Payload-Digest") or headers.get_header(
                "WARC-Block-Digest"
            )
            if not declared or warc_to_hex(declared) != row.payload_sha256:
                raise ExhibitError(f"{row.record_id}: its digest is not the one captures.csv gives")
            return record, record.content_stream().read()

    @property
    def in_bundle(self) -> set[str]:
        """Capture ids (as captures.csv writes them) of every record in the bundle."""
        return {row.capture_id for row in self.rows}


def load_case(bundle: Path, session: Session) -> Case:
    """Read the bundle and the store into a :class:`Case`; one-line errors for mistakes."""
    try:
        zf = zipfile.ZipFile(bundle)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExhibitError(f"{bundle}: not a readable bundle ({exc})") from None
    with zf:
        names = set(zf.namelist())
        for needed in (CAPTURES_CSV, DATAPACKAGE, DIGEST):
            if needed not in names:
                raise ExhibitError(f"{bundle}: no {needed} (is this an adarchive bundle?)")
        rows = _rows(zf.read(CAPTURES_CSV).decode("utf-8"))
        package = json.loads(zf.read(DATAPACKAGE))
        digest = json.loads(zf.read(DIGEST))
        members = {n.split("/", 1)[1]: n for n in names if n.startswith("archive/")}
    signed = digest.get("signedData") or {}
    case = Case(
        bundle=bundle,
        bundle_sha256=_file_sha256(bundle),
        case_ref=str(package.get("title") or ""),
        created=str(package.get("created") or ""),
        signer_fingerprint=fingerprint_b64(signed["publicKey"]) if "publicKey" in signed else None,
        warcinfos=[],
        adverts=[],
        networks=[],
        rows=rows,
        warc_members=members,
    )
    case.warcinfos = _warcinfos(case)
    case.adverts = _adverts(session, rows)
    case.networks = _networks(session, case.adverts)
    return case


def _rows(text: str) -> list[CaptureRow]:
    out = []
    for raw in csv.DictReader(io.StringIO(text, newline="")):
        out.append(
            CaptureRow(
                capture_id=raw["capture_id"],
                kind=raw["kind"],
                url=raw["url"],
                fetched_at=raw["fetched_at"],
                status=raw["status"],
                content_type=raw["content_type"],
                record_id=raw["warc_record_id"],
                block_sha256=raw["block_sha256"],
                payload_sha256=raw["payload_sha256"],
                source_warc=raw["source_warc"],
                source_offset=raw["source_offset"],
                bundle_warc=raw["bundle_warc"],
                bundle_offset=raw["bundle_offset"],
                ads=tuple(a for a in raw.get("ads", "").split(";") if a),
            )
        )
    return out


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _warcinfos(case: Case) -> list[dict[str, list[str]]]:
    """The capture policy of every WARC file in the bundle, each distinct one once
    (fields that vary per file, such as the crawl id and platform, aside). The files
    are streamed: only warcinfo records are read into memory."""
    seen: list[dict[str, list[str]]] = []
    for name in sorted(case.warc_members):
        with case.open_warc(name) as stream:
            infos = [
                record.content_stream().read().decode("utf-8", "replace")
                for record in ArchiveIterator(stream)
                if record.rec_type == "warcinfo"
            ]
        for text in infos:
            fields: dict[str, list[str]] = {}
            for line in text.splitlines():
                key, sep, value = line.partition(":")
                if sep and key.strip():
                    fields.setdefault(key.strip(), []).append(value.strip())
            policy = {k: v for k, v in fields.items() if k not in PER_FILE_FIELDS}
            if policy not in seen:
                seen.append(policy)
    return seen


def _adverts(session: Session, rows: list[CaptureRow]) -> list[Advert]:
    proofs: dict[str, CaptureRow] = {}
    for row in rows:
        for ref in row.ads:
            proofs.setdefault(ref, row)
    if not proofs:
        raise ExhibitError("the bundle proves no advert: export a case by advert or identifier")
    by_url: dict[str, list[CaptureRow]] = defaultdict(list)
    for row in rows:
        by_url[row.url.split(":", 2)[2] if row.url.startswith("urn:") else row.url].append(row)
    adverts = []
    for ref, proof in sorted(proofs.items()):
        platform, _, external = ref.partition(":")
        found = session.execute(
            select(Ad)
            .join(Platform, Platform.id == Ad.platform_id)
            .where(Platform.name == platform, Ad.external_id == external)
        ).scalar_one_or_none()
        if found is None:
            raise ExhibitError(f"advert {ref} is in the bundle but not in this store (--db?)")
        image_urls = list(
            session.scalars(
                select(AdImage.url).where(AdImage.ad_id == found.id).order_by(AdImage.id)
            )
        )
        captures = list(by_url.get(proof.url, []))
        for url in image_urls:
            captures += by_url.get(url, [])
        screenshot = next(
            (r for r in by_url.get(proof.url, []) if r.url.startswith("urn:screenshot:")), None
        )
        seen = sorted(r.fetched_at for r in rows if ref in r.ads)
        adverts.append(
            Advert(
                ad_id=found.id,
                ref=ref,
                platform=platform,
                external_id=external,
                url=found.url,
                fields={f: str(getattr(found, f)) for f in TEXT_FIELDS if getattr(found, f)},
                first_seen=found.first_seen,
                last_seen=found.last_seen,
                sightings=len(
                    list(session.scalars(select(Sighting.id).where(Sighting.ad_id == found.id)))
                ),
                marks=_marks(session, found.id),
                captures=captures,
                proof=proof,
                screenshot=screenshot,
                image_urls=image_urls,
                bundle_first=seen[0],
                bundle_last=seen[-1],
                text_is_later=_text_is_later(session, found, rows, ref),
            )
        )
        adverts[-1].networks = list(
            session.scalars(
                select(Network.label)
                .join(AdNetwork, AdNetwork.network_id == Network.id)
                .where(AdNetwork.ad_id == found.id, Network.strong.is_(True))
            )
        )
    return adverts


def _text_is_later(session: Session, ad: Ad, rows: list[CaptureRow], ref: str) -> bool:
    """Whether the advert's stored text (its latest visit) differs from the text of every
    visit this bundle holds: then the text printed is not the bundle's."""
    ids = [int(r.capture_id) for r in rows if ref in r.ads and r.capture_id.isdigit()]
    if ad.capture_id in ids:
        return False
    hashes = set(session.scalars(select(Sighting.text_sha256).where(Sighting.capture_id.in_(ids))))
    return ad.text_sha256 not in hashes


def _marks(session: Session, ad_id: int) -> list[Mark]:
    seen: set[tuple[str, int, int]] = set()
    marks = []
    for kind, value, fld, start, end, match in session.execute(
        select(Identifier.kind, Identifier.value, AdIdentifier.field, AdIdentifier.start,
               AdIdentifier.end, AdIdentifier.match)
        .join(Identifier, Identifier.id == AdIdentifier.identifier_id)
        .where(AdIdentifier.ad_id == ad_id)
        .order_by(AdIdentifier.field, AdIdentifier.start)
    ):  # fmt: skip
        if (fld, start, end) in seen:  # the same occurrence seen on several visits
            continue
        seen.add((fld, start, end))
        marks.append(Mark(kind, value, fld, start, end, match))
    return marks


def _networks(session: Session, adverts: list[Advert]) -> list[dict[str, Any]]:
    labels = sorted({label for ad in adverts for label in ad.networks})
    return [network_detail(session, label) for label in labels]


class _MemberStream(io.RawIOBase):
    """One ZIP member, readable and seekable, that closes its archive with it."""

    def __init__(self, archive: zipfile.ZipFile, member: IO[bytes]) -> None:
        self._archive = archive
        self._member = member

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._member.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        return self._member.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._member.seek(offset, whence)

    def tell(self) -> int:
        return self._member.tell()

    def close(self) -> None:
        if not self.closed:
            try:
                self._member.close()
            finally:
                self._archive.close()
        super().close()
