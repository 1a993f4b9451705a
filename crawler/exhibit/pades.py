"""Sign the exhibit as a PDF: PAdES with the agency's key, time-stamped by an RFC 3161 TSA.

PAdES needs an X.509 certificate: the agency's key wrapped in one
(crawler/evidence/certificate.py). Validators (``pdfsig``, pyHanko) check the
signature against that certificate once it is trusted; the time-stamp token
is checked against the TSA's own root.
"""

from __future__ import annotations

import io
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps

from crawler.evidence.evidence_errors import SigningKeyError


def sign_pdf(
    pdf: bytes,
    key_path: Path,
    cert_path: Path,
    tsa_url: str | None,
    reason: str,
    location: str,
) -> bytes:
    """PAdES baseline signature (B-B, or B-T with a time-stamp) over the whole PDF.

    It is a certification signature that permits no change: a page or a drawing
    appended later (an incremental update, which leaves the signed bytes intact)
    makes validators report the document modified, not merely "signed".
    """
    signer = signers.SimpleSigner.load(str(key_path), str(cert_path))
    if signer is None:
        raise SigningKeyError(f"cannot load {key_path} with {cert_path} for signing")
    meta = signers.PdfSignatureMetadata(
        field_name="ExhibitSignature",
        md_algorithm="sha384",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location or None,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    stamper = timestamps.HTTPTimeStamper(tsa_url) if tsa_url else None
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    out = signers.PdfSigner(meta, signer=signer, timestamper=stamper).sign_pdf(writer)
    return out.getvalue()
