"""The agency's ECDSA P-384 key pair and the key-only WACZ signature.

ReplayWeb.page (wabac.js) checks a WACZ signed this way: ``publicKey`` is the
base64 SubjectPublicKeyInfo (DER) of a P-384 key and ``signature`` the base64
raw ``r‖s`` (IEEE P1363, 96 bytes) ECDSA/SHA-256 signature over the ASCII
``hash`` string of ``datapackage-digest.json``. OpenSSL wants the DER form of
the same signature, so :func:`raw_to_der` converts it for independent checks.
No public server, no certificate: the agency publishes its key's fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from crawler.evidence.evidence_errors import SigningKeyError

CURVE = ec.SECP384R1
COORD_BYTES = 48
PRIVATE_NAME = "adarchive-signing-key.pem"
PUBLIC_NAME = "adarchive-signing-key.pub.pem"


@dataclass(frozen=True)
class KeyPairPaths:
    private: Path
    public: Path
    fingerprint: str


def generate_keys(out_dir: Path) -> KeyPairPaths:
    """Write a new P-384 pair: private key PEM (mode 0600) and public key PEM.

    Never overwrites: losing a signing key by accident is worse than an error.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out_dir / PRIVATE_NAME, out_dir / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise SigningKeyError(f"{path} already exists; refusing to overwrite a key")
    key = ec.generate_private_key(CURVE())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(private_path, 0o600)  # the umask may have widened nothing, but be explicit
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPairPaths(private_path, public_path, fingerprint(key.public_key()))


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """A P-384 private key from PEM (``$ADARCHIVE_KEY_PASSPHRASE`` if it is encrypted)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read key {path}: {exc.strerror}") from None
    from crawler.configuration import setting

    passphrase = setting("ADARCHIVE_KEY_PASSPHRASE")
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path} is not a usable private key PEM: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != CURVE.name:
        raise SigningKeyError(
            f"{path} is not an ECDSA P-384 private key (make one: adarchive keys generate)"
        )
    return key


def spki_der(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_b64(public_key: ec.EllipticCurvePublicKey) -> str:
    """The ``publicKey`` field: base64 of the SPKI DER."""
    return base64.b64encode(spki_der(public_key)).decode("ascii")


def fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 (hex) of the SPKI DER: ``openssl pkey -pubin -outform DER | sha256sum``."""
    return hashlib.sha256(spki_der(public_key)).hexdigest()


def fingerprint_b64(public_key_b64_text: str) -> str:
    return hashlib.sha256(base64.b64decode(public_key_b64_text)).hexdigest()


def sign_hash(key: ec.EllipticCurvePrivateKey, hash_text: str) -> str:
    """Base64 raw r‖s ECDSA/SHA-256 signature over the ASCII ``hash`` string."""
    der = key.sign(hash_text.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(der_to_raw(der)).decode("ascii")


def der_to_raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(COORD_BYTES, "big") + s.to_bytes(COORD_BYTES, "big")


def raw_to_der(raw: bytes) -> bytes:
    """IEEE P1363 ``r‖s`` -> the DER ``SEQUENCE {r, s}`` that OpenSSL verifies."""
    if len(raw) != 2 * COORD_BYTES:
        raise ValueError(f"a P-384 raw signature has {2 * COORD_BYTES} bytes, not {len(raw)}")
    r = int.from_bytes(raw[:COORD_BYTES], "big")
    s = int.from_bytes(raw[COORD_BYTES:], "big")
    return encode_dss_signature(r, s)


def verify_hash_signature(public_key_b64_text: str, signature_b64: str, hash_text: str) -> str:
    """'' if the signature holds, else why not."""
    try:
        key = serialization.load_der_public_key(
            base64.b64decode(public_key_b64_text, validate=True)
        )
    except (ValueError, TypeError) as exc:
        return f"publicKey is not a valid SPKI key ({exc})"
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != CURVE.name:
        return "publicKey is not an ECDSA P-384 key"
    try:
        der = raw_to_der(base64.b64decode(signature_b64, validate=True))
        key.verify(der, hash_text.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except (ValueError, TypeError) as exc:
        return f"signature is malformed ({exc})"
    except InvalidSignature:
        return "signature does not match the hash and public key"
    return ""
