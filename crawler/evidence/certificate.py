"""The agency's key in an X.509 certificate: what PDF (PAdES) signatures need.

Bundles are signed key-only (crawler/evidence/signing.py); a PDF signature
needs a certificate. ``adarchive keys certificate`` wraps the same ECDSA P-384
key in a self-signed certificate once; the agency publishes or lists it (with
the key's fingerprint) so validators such as ``pdfsig`` and pyHanko can trust it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from crawler.evidence.evidence_errors import SigningKeyError
from crawler.evidence.signing import load_private_key

CERT_NAME = "adarchive-signing-cert.pem"


def make_certificate(key_path: Path, name: str, unit: str, days: int, out: Path) -> Path:
    """A self-signed certificate over the agency's key, for PDF signatures; never overwrites."""
    if out.exists():
        raise SigningKeyError(f"{out} already exists; refusing to overwrite a certificate")
    key = load_private_key(key_path)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name)]
        + ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, unit)] if unit else [])
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


def certificate_for(key_path: Path, cert_path: Path | None) -> Path:
    """The certificate to sign with: the given one, else the one beside the key."""
    path = cert_path or key_path.parent / CERT_NAME
    if not path.exists():
        raise SigningKeyError(
            f"no certificate for {key_path} (looked for {path}); make one with "
            f"`adarchive keys certificate --key {key_path} --name 'Your Name' --unit 'Your Unit'`"
        )
    key = load_private_key(key_path)
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    mine = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if mine != theirs:
        raise SigningKeyError(f"{path} is not a certificate for the key {key_path}")
    return path
