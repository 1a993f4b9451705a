"""TOTP secrets sealed at rest with a key kept outside the store.

Whoever reads the store (a dump, a backup, a copied SQLite file) must not be
able to make an account's codes. Each secret is therefore stored encrypted
with AES-SIV (RFC 5297: a key wrap that needs no nonce, so the sealed value
fits the existing 64-character column and no migration is needed), bound to
its account by the associated data. The key is a file of its own, made with
mode 0600 the first time a secret is sealed:
``ADARCHIVE_WORKBENCH_SECRET_KEY_FILE``, else ``workbench-secret.key`` beside
the SQLite store, else in ``ADARCHIVE_DATA_DIR`` (PostgreSQL). Secrets stored
in clear by earlier versions are read as they are and sealed when the server
starts (:func:`seal_clear_secrets`), their old bytes overwritten on SQLite
(PostgreSQL keeps old row versions until ``VACUUM``).
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from crawler.configuration import setting
from crawler.errors import UserError
from crawler.store.db import sqlite_path
from crawler.store.models import WorkbenchTotp

KEY_FILE = "workbench-secret.key"
PREFIX = "siv1:"
"""Marks a sealed secret; a value without it is a clear base32 secret of an earlier version."""
KEY_BITS = 512  # AES-SIV with two AES-256 keys
_KEYS: dict[Path, bytes] = {}
_LOCK = threading.Lock()


class SecretKeyError(UserError):
    """The key file is missing, unreadable, too open, or not the key the secrets were sealed with."""


def key_path(db: Session) -> Path:
    """Where the key of this store's secrets is (never inside the store)."""
    configured = setting("ADARCHIVE_WORKBENCH_SECRET_KEY_FILE")
    if configured:
        return Path(configured)
    path = sqlite_path(db.get_bind().url.render_as_string(hide_password=True))
    return (path.parent if path else Path(setting("ADARCHIVE_DATA_DIR"))) / KEY_FILE


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretKeyError(f"the workbench key file {path} is open to others "
                             f"(mode {stat.S_IMODE(mode):04o}): chmod 600 {path}")  # fmt: skip
    try:
        key = base64.b64decode(path.read_text(encoding="ascii").strip(), validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != KEY_BITS // 8:
        raise SecretKeyError(f"the workbench key file {path} is not a key this program made")
    return key


def _create(path: Path) -> bytes:
    key = AESSIV.generate_key(KEY_BITS)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(base64.b64encode(key).decode("ascii") + "\n")
    return key


def store_key(db: Session, *, create: bool) -> bytes:
    """The store's key, made (mode 0600) when ``create`` and there is none yet."""
    path = key_path(db).resolve()
    with _LOCK:
        if path not in _KEYS:
            if path.exists():
                _KEYS[path] = _read(path)
            elif create:
                try:
                    _KEYS[path] = _create(path)
                except FileExistsError:  # another process made it meanwhile
                    _KEYS[path] = _read(path)
            else:
                raise SecretKeyError(
                    f"no workbench key file at {path}: the two-step log-in secrets cannot be "
                    "read (restore the file, or give each account a new secret with "
                    "`adarchive users totp NAME --reset`)"
                )
        return _KEYS[path]


def _context(user_id: int) -> list[bytes]:
    return [b"adarchive workbench_totp", str(user_id).encode("ascii")]


def seal(key: bytes, user_id: int, secret: str) -> str:
    """The value stored for ``secret`` (base32, as authenticator apps take it)."""
    raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    sealed = AESSIV(key).encrypt(raw, _context(user_id))
    return PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def unseal(key: bytes, user_id: int, stored: str) -> str:
    """The base32 secret behind a stored value (a clear one of an earlier version as it is)."""
    if not is_sealed(stored):
        return stored
    body = stored[len(PREFIX) :]
    try:
        raw = AESSIV(key).decrypt(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)),
                                  _context(user_id))  # fmt: skip
    except (InvalidTag, ValueError, binascii.Error):
        raise SecretKeyError(
            f"the two-step log-in secret of account {user_id} does not open with this "
            "workbench key file (another key, or an altered row): "
            "`adarchive users totp NAME --reset` gives the account a new one"
        ) from None
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def secret_of(db: Session, row: WorkbenchTotp) -> str:
    """The row's secret in clear, for computing codes; only ever held in memory."""
    if not is_sealed(row.secret):
        return row.secret
    return unseal(store_key(db, create=False), row.user_id, row.secret)


def seal_clear_secrets(db: Session) -> int:
    """Seal the secrets an earlier version stored in clear; how many. Run at server start,
    it also fails there, in one line, when the key file does not open the sealed ones."""
    every = list(db.scalars(select(WorkbenchTotp)))
    if sealed := [r for r in every if is_sealed(r.secret)]:
        secret_of(db, sealed[0])
    rows = [r for r in every if not is_sealed(r.secret)]
    if not rows:
        return 0
    key = store_key(db, create=True)
    sqlite = db.get_bind().dialect.name == "sqlite"
    if sqlite:  # overwrite the clear values' old bytes instead of leaving them in free space
        db.execute(text("PRAGMA secure_delete = ON"))
    for row in rows:
        row.secret = seal(key, row.user_id, row.secret)
    db.commit()
    if sqlite:  # and copy the pages back out of the write-ahead log, emptying it
        db.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.commit()
    return len(rows)
