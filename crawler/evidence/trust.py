"""Trust anchors for ``verify``: the agency's signing keys and the TSA roots.

A valid signature only proves that *some* key signed the bundle; a forger can
re-sign with their own. Verification names a signer only when the key is
anchored: pinned on the command line, or listed in a trusted-signers file the
examiner keeps (name, unit, validity period per key). Time-stamp tokens are
trusted only when their chain ends at a configured TSA root certificate, never
merely because the token carries a certificate that signs it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crawler.evidence.evidence_errors import SigningKeyError

SIGNERS_SCHEMA = "adarchive-trusted-signers/1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class TrustedSigner:
    name: str
    fingerprint: str
    """SHA-256 (hex) of the key's SubjectPublicKeyInfo DER."""
    public_key: str
    """The public key PEM, kept so the examiner can re-derive the fingerprint."""
    unit: str = ""
    valid_from: str = ""
    """RFC 3339 UTC; the key signs nothing before this."""
    valid_until: str = ""
    """RFC 3339 UTC or empty (still valid); a retired or lost key signs nothing after."""

    def valid_at(self, when: datetime) -> bool:
        start = parse_time(self.valid_from) if self.valid_from else None
        end = parse_time(self.valid_until) if self.valid_until else None
        return (start is None or when >= start) and (end is None or when <= end)

    def label(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit else self.name


def parse_time(text: str) -> datetime:
    """A date or RFC 3339 time, as UTC; a clear error otherwise."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SigningKeyError(f"not a date or RFC 3339 time: {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalise_fingerprint(text: str) -> str:
    value = text.strip().lower().replace(":", "")
    if not _HEX64.match(value):
        raise SigningKeyError(f"not a SHA-256 fingerprint (64 hex digits): {text!r}")
    return value


def load_signers(path: Path) -> list[TrustedSigner]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SigningKeyError(f"cannot read trusted-signers file {path}: {exc.strerror}") from None
    except ValueError:
        raise SigningKeyError(f"trusted-signers file {path} is not valid JSON") from None
    if not isinstance(data, dict) or data.get("schema") != SIGNERS_SCHEMA:
        raise SigningKeyError(f"{path} is not a trusted-signers file ({SIGNERS_SCHEMA})")
    try:
        signers = [TrustedSigner(**entry) for entry in data.get("signers", [])]
    except TypeError as exc:
        raise SigningKeyError(f"{path}: malformed signer entry ({exc})") from None
    for signer in signers:
        normalise_fingerprint(signer.fingerprint)
        for text in (signer.valid_from, signer.valid_until):
            if text:
                parse_time(text)
    return signers


def save_signers(path: Path, signers: list[TrustedSigner]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    body = {"schema": SIGNERS_SCHEMA, "signers": [asdict(s) for s in signers]}
    tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def trust_key(
    path: Path,
    public_pem: Path,
    name: str,
    unit: str = "",
    valid_from: str = "",
    valid_until: str = "",
) -> TrustedSigner:
    """Add (or replace, by fingerprint) one agency key in the trusted-signers file."""
    from crawler.evidence.signing import CURVE, fingerprint

    try:
        pem = Path(public_pem).read_bytes()
        key = serialization.load_pem_public_key(pem)
    except OSError as exc:
        raise SigningKeyError(f"cannot read public key {public_pem}: {exc.strerror}") from None
    except ValueError:
        raise SigningKeyError(f"{public_pem} is not a public key PEM") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != CURVE.name:
        raise SigningKeyError(f"{public_pem} is not an ECDSA P-384 public key")
    for text in (valid_from, valid_until):
        if text:
            parse_time(text)
    if valid_from and valid_until and parse_time(valid_until) < parse_time(valid_from):
        raise SigningKeyError("--valid-until is before --valid-from")
    signer = TrustedSigner(
        name=name,
        unit=unit,
        fingerprint=fingerprint(key),
        public_key=pem.decode("ascii"),
        valid_from=valid_from,
        valid_until=valid_until,
    )
    signers = load_signers(path) if Path(path).exists() else []
    signers = [s for s in signers if s.fingerprint != signer.fingerprint] + [signer]
    save_signers(path, signers)
    return signer


def load_tsa_roots(values: list[str]) -> tuple[set[str], bytes]:
    """(trusted root fingerprints, their PEM) from fingerprints and/or PEM files of roots."""
    fingerprints: set[str] = set()
    pem = b""
    for value in values:
        candidate = Path(value)
        if candidate.is_file():
            try:
                data = candidate.read_bytes()
                certs = x509.load_pem_x509_certificates(data)
            except (OSError, ValueError):
                raise SigningKeyError(f"{value} holds no PEM certificate") from None
            for cert in certs:
                fingerprints.add(cert.fingerprint(hashes.SHA256()).hex())
            pem += data if data.endswith(b"\n") else data + b"\n"
        else:
            fingerprints.add(normalise_fingerprint(value))
    return fingerprints, pem
