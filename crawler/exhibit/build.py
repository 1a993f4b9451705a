"""Make one exhibit: read the case, picture each advert, print, sign, log custody."""

from __future__ import annotations

import getpass
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from crawler import __version__
from crawler.analysis.analysis_config import load_config
from crawler.configuration import setting
from crawler.evidence.certificate import certificate_for
from crawler.evidence.custody import record_event
from crawler.evidence.signing import fingerprint, load_private_key
from crawler.evidence.trust import load_signers
from crawler.evidence.verify import Anchors, verify_bundle
from crawler.exhibit.case import ExhibitError, load_case
from crawler.exhibit.document import Examiner, render
from crawler.exhibit.pades import sign_pdf
from crawler.exhibit.pdf import html_to_pdf
from crawler.exhibit.pictures import Picture, picture_for, renderer

EXHIBIT_CREATED = "exhibit.created"


@dataclass(frozen=True)
class ExhibitOptions:
    bundle: Path
    out: Path
    key: Path | None
    cert: Path | None
    tsa_url: str | None
    examiner: str
    unit: str
    unblurred: bool
    pywb_bin: Path | None = None
    browser: str | None = None
    html_out: Path | None = None
    """Also keep the HTML the PDF was printed from (for review)."""


@dataclass(frozen=True)
class ExhibitResult:
    path: Path
    sha256: str
    pages: int
    adverts: int
    networks: int
    signed: bool
    timestamped: bool
    custody_seq: int


def default_out(bundle: Path) -> Path:
    """Beside the bundle, never inside it: ``CASE.wacz`` → ``CASE.exhibit.pdf``."""
    return bundle.with_name(bundle.stem + ".exhibit.pdf")


def build_exhibit(session_factory: Any, options: ExhibitOptions) -> ExhibitResult:
    made_at = datetime.now(UTC)
    os_user = _os_user()
    examiner = Examiner(options.examiner or os_user, options.unit, os_user)
    cert = certificate_for(options.key, options.cert) if options.key else None
    signers_file = setting("ADARCHIVE_TRUSTED_SIGNERS")
    anchors = Anchors(signers=tuple(load_signers(Path(signers_file))) if signers_file else ())
    verification = verify_bundle(options.bundle, anchors=anchors)
    if not verification.ok:
        first = "; ".join(verification.failures()[:3])
        raise ExhibitError(
            f"{options.bundle} fails verification ({first}): no exhibit is made of a bundle "
            f"that does not verify; run `adarchive verify {options.bundle}`"
        )
    with session_factory() as session:
        case = load_case(options.bundle, session)
    pictures: dict[str, Picture] = {}
    with (
        tempfile.TemporaryDirectory(prefix="adarchive-exhibit-") as work,
        renderer(case, Path(work), options.pywb_bin, options.browser) as pages,
    ):
        for ad in case.adverts:
            pictures[ad.ref] = picture_for(ad, case, pages, blur=not options.unblurred)
    html = render(
        case, pictures, examiner, load_config(), made_at, options.unblurred,
        timestamped=bool(options.key and options.tsa_url),
        checks=[check.name for check in verification.checks],
        signer=verification.signer,
        warnings=[f"{check.name}: {check.detail}" for check in verification.warnings],
    )  # fmt: skip
    if options.html_out:
        options.html_out.write_text(html, encoding="utf-8")
    pdf = html_to_pdf(html, case.case_ref, options.browser)
    if options.key and cert:
        pdf = sign_pdf(pdf, options.key, cert, options.tsa_url,
                       reason=f"Exhibit for case {case.case_ref}", location=options.unit)  # fmt: skip
    _write_atomic(options.out, pdf)
    digest = hashlib.sha256(pdf).hexdigest()
    signer = fingerprint(load_private_key(options.key).public_key()) if options.key else None
    details = {
        "exhibit": options.out.name,
        "sha256": digest,
        "bytes": len(pdf),
        "bundle": options.bundle.name,
        "bundle_sha256": case.bundle_sha256,
        "case_ref": case.case_ref,
        "adverts": [ad.ref for ad in case.adverts],
        "networks": [net["label"] for net in case.networks],
        "photos_unblurred": options.unblurred,
        "signer_fingerprint": signer,
        "timestamped": bool(signer and options.tsa_url),
        "examiner": examiner.name,
        "unit": examiner.unit,
        "software": f"adarchive/{__version__}",
    }
    with session_factory() as session:
        event = record_event(session, EXHIBIT_CREATED, f"exhibit:{options.out.name}", details,
                             actor=f"{examiner.name} ({os_user})")  # fmt: skip
        seq = event.seq
    return ExhibitResult(
        path=options.out,
        sha256=digest,
        pages=_page_count(pdf),
        adverts=len(case.adverts),
        networks=len(case.networks),
        signed=signer is not None,
        timestamped=details["timestamped"],
        custody_seq=seq,
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write under a temporary name and rename: a half-written exhibit never has the name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
