"""RFC 3161 time-stamps for WARC record manifests.

When a WARC file closes (and ``ADARCHIVE_TSA_URL`` is set), a manifest of
its records (id, offset, length, digests) and the file's SHA-256 is written
beside it as canonical JSON, and its SHA-256 is time-stamped by the TSA.
Because the manifest lists every record, a bundle that ships only some of a
file's records still proves those records existed at the token's time.

Files beside ``X.warc.gz``: ``X.warc.gz.manifest.json``, ``X.warc.gz.tsr``
(the TSA's TimeStampResp, as ``openssl ts -verify -in`` reads it) and
``X.warc.gz.tsa.pem`` (the certificates that came with the token, signer first).
With several TSAs configured, each further one's token and chain are
``X.warc.gz.<tsa>.tsr`` and ``X.warc.gz.<tsa>.tsa.pem``: verification needs
one token under a trusted root, and reports every one.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from crawler.evidence import der
from crawler.evidence.canonical import canonical_bytes
from crawler.evidence.warcscan import scan_warc

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

MANIFEST_SCHEMA = "adarchive-warc-manifest/1"
MANIFEST_SUFFIX = ".manifest.json"
TOKEN_SUFFIX = ".tsr"
CHAIN_SUFFIX = ".tsa.pem"
TIMEOUT = 20.0
MAX_RESPONSE = 1 << 20

OID_SHA256 = "2.16.840.1.101.3.4.2.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
DIGESTS = {
    "1.3.14.3.2.26": hashes.SHA1,
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
SIGNATURE_DIGESTS = {  # signature algorithm OIDs that name their digest
    "1.2.840.113549.1.1.11": hashes.SHA256,
    "1.2.840.113549.1.1.12": hashes.SHA384,
    "1.2.840.113549.1.1.13": hashes.SHA512,
    "1.2.840.10045.4.3.2": hashes.SHA256,
    "1.2.840.10045.4.3.3": hashes.SHA384,
    "1.2.840.10045.4.3.4": hashes.SHA512,
}


class TimestampError(RuntimeError):
    """The TSA could not be reached or answered with something unusable."""


# -- manifest ----------------------------------------------------------------


def manifest_paths(warc: Path) -> tuple[Path, Path, Path]:
    return (
        warc.with_name(warc.name + MANIFEST_SUFFIX),
        warc.with_name(warc.name + TOKEN_SUFFIX),
        warc.with_name(warc.name + CHAIN_SUFFIX),
    )


def build_manifest(path: Path, sha256: str | None = None, size: int | None = None) -> bytes:
    """Canonical JSON listing every record of the closed file, read back from disk.

    Reading the file back (rather than trusting what the writer meant to write)
    also re-checks every record digest before anything is time-stamped.
    """
    file_hash = hashlib.sha256()
    records: list[dict[str, Any]] = []
    with open(path, "rb") as fh:
        for rec in scan_warc(fh, on_raw=file_hash.update):
            if rec.problems:
                raise TimestampError(f"{path.name} offset {rec.offset}: {'; '.join(rec.problems)}")
            records.append(
                {
                    "record_id": rec.record_id,
                    "type": rec.kind,
                    "target_uri": rec.url,
                    "date": rec.headers.get("warc-date", ""),
                    "offset": rec.offset,
                    "length": rec.length,
                    "block_sha256": rec.block_sha256,
                    "payload_sha256": rec.header_digest("warc-payload-digest"),
                }
            )
    actual = file_hash.hexdigest()
    if sha256 and sha256 != actual:
        raise TimestampError(f"{path.name}: SHA-256 on disk {actual} differs from {sha256}")
    return canonical_bytes(
        {
            "schema": MANIFEST_SCHEMA,
            "warc": path.name,
            "sha256": actual,
            "size": path.stat().st_size if size is None else size,
            "records": records,
        }
    )


# -- RFC 3161 request / response ---------------------------------------------


def build_request(digest: bytes, nonce: int) -> bytes:
    """DER TimeStampReq: v1, SHA-256 imprint, nonce, certReq TRUE."""
    imprint = der.sequence(
        der.sequence(der.encode_oid(OID_SHA256), der.encode(der.NULL, b"")),
        der.encode(der.OCTET_STRING, digest),
    )
    return der.sequence(
        der.encode_integer(1),
        imprint,
        der.encode_integer(nonce),
        der.encode(der.BOOLEAN, b"\xff"),
    )


def request_timestamp(url: str, data: bytes, timeout: float = TIMEOUT) -> bytes:
    """POST a request for SHA-256(data) to the TSA; return its checked TimeStampResp."""
    nonce = secrets.randbits(63)
    body = build_request(hashlib.sha256(data).digest(), nonce)
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/timestamp-query"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - URL is configured
            response = resp.read(MAX_RESPONSE + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise TimestampError(f"TSA {url} unreachable: {exc}") from None
    if len(response) > MAX_RESPONSE:
        raise TimestampError(f"TSA {url} answered with more than {MAX_RESPONSE} bytes")
    check = verify_response(response, data, extra_certificates(), expected_nonce=nonce)
    if not check.ok:
        raise TimestampError(f"TSA {url}: {check.reason}")
    return response


@dataclass(frozen=True)
class TokenCheck:
    ok: bool
    reason: str = ""
    gen_time: datetime | None = None
    serial: int | None = None
    tsa_subject: str = ""
    root_fingerprint: str = ""
    """SHA-256 of the last certificate of the chain: compare with what the TSA publishes."""
    certificates: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class _Token:
    tst_der: bytes
    tst: der.Tlv
    certs: list[x509.Certificate]
    signer_info: der.Tlv


def _parse_response(response: bytes) -> _Token:
    resp = der.parse(response)
    parts = resp.children()
    status = parts[0].children()[0].integer()
    if status not in (0, 1):
        raise der.DerError(f"TSA refused the request (PKIStatus {status})")
    if len(parts) < 2:
        raise der.DerError("response carries no time-stamp token")
    content_info = parts[1].children()
    if content_info[0].oid() != OID_SIGNED_DATA:
        raise der.DerError("token is not CMS SignedData")
    signed = der.parse(content_info[1].value).children()
    encap = signed[2].children()
    if encap[0].oid() != OID_TST_INFO:
        raise der.DerError("token does not hold a TSTInfo")
    tst_der = der.parse(encap[1].value).value  # [0] EXPLICIT OCTET STRING
    certs: list[x509.Certificate] = []
    rest = signed[3:]
    for item in rest[:-1]:
        if item.tag == 0xA0:  # certificates [0] IMPLICIT
            for cert in item.children():
                if cert.tag == der.SEQUENCE:
                    certs.append(x509.load_der_x509_certificate(cert.raw))
    signer_infos = rest[-1].children()
    if len(signer_infos) != 1:
        raise der.DerError(f"expected one SignerInfo, found {len(signer_infos)}")
    return _Token(tst_der, der.parse(tst_der), certs, signer_infos[0])


def verify_response(
    response: bytes,
    data: bytes,
    chain_pem: bytes | None = None,
    expected_nonce: int | None = None,
) -> TokenCheck:
    """Check a TimeStampResp over ``data``: imprint, CMS signature, signer cert, chain.

    Trust in the chain's root is out of band: the result names its fingerprint.
    """
    try:
        return _verify(response, data, chain_pem, expected_nonce)
    except (der.DerError, ValueError, IndexError, UnicodeDecodeError) as exc:
        return TokenCheck(False, f"malformed time-stamp response: {exc}")


def _verify(
    response: bytes, data: bytes, chain_pem: bytes | None, expected_nonce: int | None
) -> TokenCheck:
    token = _parse_response(response)
    tst = token.tst.children()
    imprint = tst[2].children()
    algorithm = imprint[0].children()[0].oid()
    if algorithm not in DIGESTS:
        return TokenCheck(False, f"unsupported imprint algorithm {algorithm}")
    digest = hashes.Hash(DIGESTS[algorithm]())
    digest.update(data)
    if imprint[1].value != digest.finalize():
        return TokenCheck(False, "token's message imprint does not match the manifest")
    serial = tst[3].integer()
    gen_time = der.generalized_time(tst[4])
    if expected_nonce is not None:
        nonces = [t.integer() for t in tst[5:] if t.tag == der.INTEGER]
        if nonces != [expected_nonce]:
            return TokenCheck(False, "nonce in the token does not match the request")
    certs = list(token.certs)
    if chain_pem:
        certs += x509.load_pem_x509_certificates(chain_pem)
    signer_fields = token.signer_info.children()
    signer = _find_signer(signer_fields[1], certs)
    if signer is None:
        return TokenCheck(False, "the TSA's signing certificate is not in the token or chain")
    problem = _check_signer_info(signer_fields, token.tst_der, signer)
    if problem:
        return TokenCheck(False, problem)
    if not _is_timestamping_cert(signer):
        return TokenCheck(False, "signing certificate is not for time-stamping (no EKU)")
    if not signer.not_valid_before_utc <= gen_time <= signer.not_valid_after_utc:
        return TokenCheck(False, "genTime is outside the signing certificate's validity")
    chain, problem = _build_chain(signer, certs)
    if problem:
        return TokenCheck(False, problem)
    return TokenCheck(
        True,
        gen_time=gen_time,
        serial=serial,
        tsa_subject=signer.subject.rfc4514_string(),
        root_fingerprint=chain[-1].fingerprint(hashes.SHA256()).hex(),
        certificates=tuple(c.public_bytes(serialization.Encoding.DER) for c in chain),
    )


def _find_signer(sid: der.Tlv, certs: Sequence[x509.Certificate]) -> x509.Certificate | None:
    if sid.tag == der.SEQUENCE:  # IssuerAndSerialNumber
        issuer, serial = sid.children()
        for cert in certs:
            if cert.serial_number == serial.integer() and cert.issuer.public_bytes() == issuer.raw:
                return cert
    elif sid.tag == 0x80:  # [0] SubjectKeyIdentifier
        for cert in certs:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == sid.value:
                return cert
    return None


def _check_signer_info(fields: list[der.Tlv], tst_der: bytes, signer: x509.Certificate) -> str:
    digest_oid = fields[2].children()[0].oid()
    if digest_oid not in DIGESTS:
        return f"unsupported digest algorithm {digest_oid}"
    attrs = fields[3]
    if attrs.tag != 0xA0:
        return "SignerInfo has no signed attributes"
    found: dict[str, bytes] = {}
    for attr in attrs.children():
        oid, values = attr.children()
        found[oid.oid()] = values.children()[0].raw
    content_digest = hashes.Hash(DIGESTS[digest_oid]())
    content_digest.update(tst_der)
    if found.get(OID_MESSAGE_DIGEST) != der.encode(der.OCTET_STRING, content_digest.finalize()):
        return "signed messageDigest does not match the TSTInfo (token altered)"
    if found.get(OID_CONTENT_TYPE) != der.encode_oid(OID_TST_INFO):
        return "signed contentType is not TSTInfo"
    signed_bytes = bytes([der.SET]) + attrs.raw[1:]  # re-tag [0] IMPLICIT as SET OF
    sig_alg = fields[4].children()[0].oid()
    signature = fields[5].value
    chosen = SIGNATURE_DIGESTS.get(sig_alg, DIGESTS[digest_oid])
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_bytes, padding.PKCS1v15(), chosen())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(chosen()))
        else:
            return f"unsupported TSA key type {type(key).__name__}"
    except InvalidSignature:
        return "TSA signature over the token does not verify"
    return ""


def _is_timestamping_cert(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return False
    return x509.oid.ExtendedKeyUsageOID.TIME_STAMPING in eku.value


def _build_chain(
    signer: x509.Certificate, certs: Sequence[x509.Certificate]
) -> tuple[list[x509.Certificate], str]:
    chain = [signer]
    current = signer
    for _ in range(8):
        if current.issuer == current.subject:
            try:
                current.verify_directly_issued_by(current)
            except (ValueError, TypeError, InvalidSignature):
                return chain, "self-signed root certificate does not verify"
            return chain, ""
        issuer = next((c for c in certs if c.subject == current.issuer and c != current), None)
        if issuer is None:
            return chain, f"no issuer certificate for {current.subject.rfc4514_string()}"
        try:
            current.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            return chain, f"certificate {current.subject.rfc4514_string()} not signed by its issuer"
        chain.append(issuer)
        current = issuer
    return chain, "certificate chain too long"


def extra_certificates() -> bytes | None:
    """``$ADARCHIVE_TSA_CERTS``: a PEM file with the TSA's chain, for TSAs whose
    tokens carry only the signing certificate."""
    from crawler.configuration import setting

    name = setting("ADARCHIVE_TSA_CERTS")
    return Path(name).read_bytes() if name else None


def chain_pem_of(check: TokenCheck) -> bytes:
    return b"".join(
        x509.load_der_x509_certificate(c).public_bytes(serialization.Encoding.PEM)
        for c in check.certificates
    )


# -- the WARC-closed hook ----------------------------------------------------


def tsa_slug(url: str) -> str:
    """A TSA's URL as a file-name part (tokens of several TSAs side by side)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", url).strip("_")[:80]


def token_paths(warc: Path, url: str, first: bool) -> tuple[Path, Path]:
    """(token, chain) beside ``warc`` for one TSA: the first configured TSA's are
    ``X.tsr``/``X.tsa.pem``, each other's ``X.<tsa>.tsr``/``X.<tsa>.tsa.pem``."""
    if first:
        return manifest_paths(warc)[1:]
    stem = warc.with_name(f"{warc.name}.{tsa_slug(url)}")
    return stem.with_name(stem.name + TOKEN_SUFFIX), stem.with_name(stem.name + CHAIN_SUFFIX)


def tokens_beside(manifest: Path) -> list[tuple[Path, Path]]:
    """Every (token, chain) pair written for a manifest, the first TSA's first."""
    warc = manifest.with_name(manifest.name[: -len(MANIFEST_SUFFIX)])
    first = manifest_paths(warc)[1:]
    found = [first] if first[0].exists() else []
    for token in sorted(warc.parent.glob(f"{glob_escape(warc.name)}.*{TOKEN_SUFFIX}")):
        if token != first[0] and not token.name.endswith(".tmp"):
            found.append((token, token.with_name(token.name[: -len(TOKEN_SUFFIX)] + CHAIN_SUFFIX)))
    return found


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


@dataclass(frozen=True)
class StampResult:
    manifest: Path
    token: Path
    chain: Path
    manifest_sha256: str
    gen_time: datetime
    tsa_url: str = ""


def on_warc_closed(
    path: Path,
    sha256: str,
    size: int,
    records: int | None = None,
    *,
    session: Session | None = None,
    subject: str | None = None,
    tsa_urls: Sequence[str] = (),
) -> list[StampResult]:
    """Manifest + a time-stamp from each TSA for a closed WARC file; each outcome goes
    into the custody log.

    Never raises for a TSA failure: the crawl goes on, and the failure is
    logged and written into the custody log, so the gap is visible.
    """
    from crawler.evidence.custody import record_event
    from crawler.evidence.events import WARC_TIMESTAMP_FAILED, WARC_TIMESTAMPED

    if not tsa_urls:
        return []
    path = Path(path)
    subject = subject or f"warc:{path.name}"
    try:
        manifest = write_manifest(path, sha256, size, records)
    except (TimestampError, OSError, ValueError) as exc:
        logger.error("time-stamping %s failed: %s", path.name, exc)
        if session is not None:
            record_event(
                session, WARC_TIMESTAMP_FAILED, subject, {"name": path.name, "error": str(exc)}
            )
        return []
    results = []
    for n, url in enumerate(tsa_urls):
        try:
            result = stamp_manifest(path, manifest, url, first=n == 0)
        except (TimestampError, OSError, ValueError) as exc:
            logger.error("time-stamping %s at %s failed: %s", path.name, url, exc)
            if session is not None:
                details = {"name": path.name, "tsa_url": url, "error": str(exc)}
                record_event(session, WARC_TIMESTAMP_FAILED, subject, details)
            continue
        results.append(result)
        if session is not None:
            record_event(
                session,
                WARC_TIMESTAMPED,
                subject,
                {
                    "name": path.name,
                    "sha256": sha256,
                    "manifest_sha256": result.manifest_sha256,
                    "tsa_url": url,
                    "token": result.token.name,
                    "gen_time": result.gen_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "token_b64": base64.b64encode(result.token.read_bytes()).decode("ascii"),
                    "tsa_chain_pem": result.chain.read_text(encoding="ascii"),
                },
            )
    return results


def missing_tokens(directory: Path, urls: Sequence[str]) -> list[tuple[Path, str, bool]]:
    """(WARC file, TSA URL, whether it is the first TSA) for each time-stamped manifest
    beside the WARC files that still lacks that TSA's token: a request that failed."""
    out = []
    for manifest in sorted(Path(directory).glob(f"*{MANIFEST_SUFFIX}")):
        warc = manifest.with_name(manifest.name[: -len(MANIFEST_SUFFIX)])
        for n, url in enumerate(urls):
            if not token_paths(warc, url, n == 0)[0].exists():
                out.append((warc, url, n == 0))
    return out


def retry_missing(
    directory: Path, urls: Sequence[str], session: Session | None, subject_of: Any
) -> int:
    """Ask again for tokens a TSA failed to give (it was unreachable): a late token
    still bounds the capture time, and the gap it leaves shows in the time bound."""
    from crawler.evidence.custody import record_event
    from crawler.evidence.events import WARC_TIMESTAMPED

    done = 0
    for warc, url, first in missing_tokens(directory, urls):
        manifest = manifest_paths(warc)[0].read_bytes()
        try:
            result = stamp_manifest(warc, manifest, url, first)
        except (TimestampError, OSError, ValueError) as exc:
            logger.warning("retrying the time-stamp of %s at %s: %s", warc.name, url, exc)
            continue
        done += 1
        if session is not None:
            details = {
                "name": warc.name,
                "manifest_sha256": result.manifest_sha256,
                "tsa_url": url,
                "token": result.token.name,
                "gen_time": result.gen_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "retried": True,
            }
            record_event(session, WARC_TIMESTAMPED, subject_of(warc), details)
    return done


def write_manifest(path: Path, sha256: str, size: int, records: int | None) -> bytes:
    """Build ``X.manifest.json`` (checking the file on disk) and write it beside ``X``."""
    manifest = build_manifest(path, sha256 or None, size or None)
    if records is not None:
        import json

        listed = len(json.loads(manifest)["records"])
        if listed != records:
            raise TimestampError(f"{path.name}: {listed} records on disk, writer wrote {records}")
    _write_atomic(manifest_paths(path)[0], manifest)
    return manifest


def stamp_manifest(path: Path, manifest: bytes, tsa_url: str, first: bool = True) -> StampResult:
    """One TSA's token over the manifest, and its certificate chain, beside the WARC file."""
    response = request_timestamp(tsa_url, manifest)
    check = verify_response(response, manifest, extra_certificates())
    if not check.ok:
        raise TimestampError(check.reason)
    token_path, chain_path = token_paths(path, tsa_url, first)
    _write_atomic(token_path, response)
    _write_atomic(chain_path, chain_pem_of(check))
    assert check.gen_time is not None
    return StampResult(
        manifest_paths(path)[0],
        token_path,
        chain_path,
        hashlib.sha256(manifest).hexdigest(),
        check.gen_time,
        tsa_url,
    )


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
