"""The agency key pair and the key-only WACZ signature, checked with OpenSSL too."""

from __future__ import annotations

import base64
import hashlib
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from crawler.evidence.signing import (
    SigningKeyError,
    generate_keys,
    load_private_key,
    public_key_b64,
    raw_to_der,
    sign_hash,
    verify_hash_signature,
)

HASH = "sha256:" + hashlib.sha256(b"example datapackage").hexdigest()


def _openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_generated_private_key_is_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    pair = generate_keys(tmp_path / "keys")
    assert stat.S_IMODE(pair.private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in pair.private.read_bytes()
    assert b"PUBLIC KEY" in pair.public.read_bytes()
    with pytest.raises(SigningKeyError, match="refusing to overwrite"):
        generate_keys(tmp_path / "keys")


def test_fingerprint_is_what_openssl_computes(tmp_path: Path) -> None:
    pair = generate_keys(tmp_path)
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(pair.public), "-outform", "DER"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert hashlib.sha256(der).hexdigest() == pair.fingerprint


def test_signature_is_raw_p384_and_verifies(tmp_path: Path) -> None:
    key = load_private_key(generate_keys(tmp_path).private)
    signature = sign_hash(key, HASH)
    assert len(base64.b64decode(signature)) == 96  # r||s, 48 bytes each
    public = public_key_b64(key.public_key())
    assert verify_hash_signature(public, signature, HASH) == ""
    assert "does not match" in verify_hash_signature(public, signature, HASH + "0")


def test_openssl_verifies_the_converted_signature_both_ways(tmp_path: Path) -> None:
    """Our DER conversion, and VERIFY.txt's asn1parse route, both satisfy `openssl dgst`."""
    pair = generate_keys(tmp_path / "k")
    key = load_private_key(pair.private)
    raw = base64.b64decode(sign_hash(key, HASH))
    (tmp_path / "hash.txt").write_text(HASH)
    (tmp_path / "ours.der").write_bytes(raw_to_der(raw))
    ok = _openssl("dgst", "-sha256", "-verify", str(pair.public), "-signature", "ours.der",
                  "hash.txt", cwd=tmp_path)  # fmt: skip
    assert ok.returncode == 0 and "Verified OK" in ok.stdout
    (tmp_path / "sig.cnf").write_text(
        f"asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x{raw[:48].hex()}\ns=INTEGER:0x{raw[48:].hex()}\n"
    )
    built = _openssl("asn1parse", "-genconf", "sig.cnf", "-out", "sig.der", "-noout", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "sig.der").read_bytes() == raw_to_der(raw)
    (tmp_path / "hash.txt").write_text(HASH + "x")
    bad = _openssl("dgst", "-sha256", "-verify", str(pair.public), "-signature", "sig.der",
                   "hash.txt", cwd=tmp_path)  # fmt: skip
    assert bad.returncode != 0


def test_other_key_types_are_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "p256.pem"
    path.write_bytes(
        p256.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SigningKeyError, match="P-384"):
        load_private_key(path)
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_private_key(tmp_path / "missing.pem")
    spki = base64.b64encode(
        p256.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()
    assert "P-384" in verify_hash_signature(spki, base64.b64encode(b"x" * 96).decode(), HASH)
