"""Helpers for the evidence tests: independent tools, bundle surgery for tamper tests."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WACZ_BIN = REPO / ".tools" / "wacz" / "bin" / "wacz"
WACZ_INSTALL = "python3 -m venv .tools/wacz && .tools/wacz/bin/pip install wacz==0.6.0"
WARCIO_BIN = REPO / ".venv" / "bin" / "warcio"


def require_wacz() -> Path:
    if not WACZ_BIN.exists():
        pytest.fail(f"py-wacz is not installed at {WACZ_BIN}; install it with: {WACZ_INSTALL}")
    return WACZ_BIN


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def copy_store(src: Path, dst: Path) -> Path:
    """A private copy of a crawl's data dir (store + WARC files), so tests may write to it."""
    shutil.copytree(src, dst)
    return dst


def read_entries(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_bundle(entries: dict[str, bytes], out: Path) -> Path:
    """A ZIP with these entries, stored, in this order (valid CRCs: only our checks can object)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out


def rehash(entries: dict[str, bytes], sign: Callable[[str], dict] | None = None) -> None:
    """Recompute datapackage.json and its digest after an edit, as a forger would.

    ``sign(hash) -> signedData`` re-signs; without it the old signedData stays.
    """
    package = json.loads(entries["datapackage.json"])
    for res in package["resources"]:
        data = entries[res["path"]]
        res["hash"] = "sha256:" + hashlib.sha256(data).hexdigest()
        res["bytes"] = len(data)
    entries["datapackage.json"] = json.dumps(package, indent=2).encode()
    digest = json.loads(entries["datapackage-digest.json"])
    digest["hash"] = "sha256:" + hashlib.sha256(entries["datapackage.json"]).hexdigest()
    if sign is not None:
        digest["signedData"] = sign(digest["hash"]) | {"created": package["created"]}
    entries["datapackage-digest.json"] = json.dumps(digest, indent=2).encode()


def signer(key_path: Path) -> Callable[[str], dict]:
    from crawler.evidence.signing import load_private_key, public_key_b64, sign_hash

    key = load_private_key(key_path)

    def sign(hash_text: str) -> dict:
        return {
            "hash": hash_text,
            "software": "forger",
            "publicKey": public_key_b64(key.public_key()),
            "signature": sign_hash(key, hash_text),
        }

    return sign


def signature_files(digest_json: bytes, workdir: Path) -> None:
    """What VERIFY.txt step 7 does, with the standard library only."""
    signed = json.loads(digest_json)["signedData"]
    (workdir / "hash.txt").write_text(signed["hash"])
    (workdir / "pub.der").write_bytes(base64.b64decode(signed["publicKey"]))
    sig = base64.b64decode(signed["signature"])
    (workdir / "sig.cnf").write_text(
        f"asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x{sig[:48].hex()}\ns=INTEGER:0x{sig[48:].hex()}\n"
    )
