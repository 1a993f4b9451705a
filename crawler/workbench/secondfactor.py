"""The optional TOTP second factor of an account, and log-ins waiting for their code.

The secret lives in the store (``workbench_totp``), sealed with a key kept
outside it (:mod:`crawler.workbench.totpseal`), never in a cookie. A
user enrols (a new secret, shown once), confirms with a first code, and from
then on log-in asks for a code after the password. Each accepted code moves
``last_step`` forward with one conditional UPDATE, so a code can be used once
only, even by two server processes at the same instant. Between the password
and the code the browser holds only a random token of a pending log-in
(``workbench_pending_login``), valid a few minutes, used once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from crawler.store.models import (
    WorkbenchPendingLogin,
    WorkbenchTotp,
    WorkbenchUser,
    utc,
    utcnow,
)
from crawler.workbench.totp import matching_step, new_secret, provisioning_uri
from crawler.workbench.totpseal import seal, secret_of, store_key

PENDING_LIFETIME = timedelta(minutes=5)


@dataclass(frozen=True)
class Enrolment:
    """A new secret, shown to its user once: typed in, or read from the otpauth:// URI."""

    secret: str
    uri: str


def status(db: Session, user_id: int) -> str:
    """``none``, ``unconfirmed`` (enrolled, no code accepted yet) or ``on``."""
    row = db.get(WorkbenchTotp, user_id)
    if row is None:
        return "none"
    return "on" if row.confirmed else "unconfirmed"


def required(db: Session, user_id: int) -> bool:
    """Whether log-in must ask this user for a code."""
    return status(db, user_id) == "on"


def enrol(db: Session, user: WorkbenchUser, *, confirmed: bool = False) -> Enrolment:
    """A fresh secret for ``user`` (replacing any earlier one); committed."""
    secret = new_secret()
    sealed = seal(store_key(db, create=True), user.id, secret)
    row = db.get(WorkbenchTotp, user.id)
    if row is None:
        row = WorkbenchTotp(user_id=user.id, secret=sealed, created_at=utcnow())
        db.add(row)
    row.secret, row.confirmed, row.last_step, row.created_at = sealed, confirmed, None, utcnow()
    db.commit()
    return Enrolment(secret, provisioning_uri(secret, user.name))


def remove(db: Session, user_id: int) -> bool:
    """Turn the second factor off; whether there was one."""
    found = db.execute(delete(WorkbenchTotp).where(WorkbenchTotp.user_id == user_id))
    db.commit()
    return bool(found.rowcount)  # type: ignore[attr-defined]


def accept_code(db: Session, user_id: int, code: str, when: float | None = None) -> bool:
    """Whether ``code`` is the user's current code and was not used before; uses it up.

    The conditional UPDATE is the replay guard: of two requests with the same
    code only one moves ``last_step`` forward.
    """
    row = db.get(WorkbenchTotp, user_id)
    if row is None:
        return False
    step = matching_step(secret_of(db, row), code, when)
    if step is None:
        return False
    used = db.execute(
        update(WorkbenchTotp)
        .where(WorkbenchTotp.user_id == user_id, WorkbenchTotp.secret == row.secret)
        .where((WorkbenchTotp.last_step.is_(None)) | (WorkbenchTotp.last_step < step))
        .values(last_step=step)
    )
    db.commit()
    return bool(used.rowcount)  # type: ignore[attr-defined]


def confirm(db: Session, user_id: int, code: str) -> bool:
    """Turn an enrolment on with a first good code from the user's app."""
    if not accept_code(db, user_id, code):
        return False
    db.execute(update(WorkbenchTotp).where(WorkbenchTotp.user_id == user_id).values(confirmed=True))
    db.commit()
    return True


# -- log-ins waiting for their code -------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_pending(db: Session, user: WorkbenchUser, address: str | None) -> str:
    """Remember that ``user``'s password was right; returns the browser's token (once)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(WorkbenchPendingLogin(token_sha256=_digest(token), user_id=user.id, created_at=now,
                                 expires_at=now + PENDING_LIFETIME, address=address))  # fmt: skip
    db.commit()
    return token


def pending_user(db: Session, token: str | None) -> WorkbenchUser | None:
    """The active user of a live, unused pending log-in, else None."""
    if not token or len(token) > 128:
        return None
    row = db.scalar(
        select(WorkbenchPendingLogin).where(WorkbenchPendingLogin.token_sha256 == _digest(token))
    )
    if row is None or row.used_at is not None:
        return None
    expires = utc(row.expires_at)
    if expires is None or utcnow() >= expires:
        return None
    user = db.get(WorkbenchUser, row.user_id)
    return user if user is not None and user.active else None


def finish_pending(db: Session, token: str) -> bool:
    """Use the pending log-in up (once: the second of two racing requests gets False)."""
    done = db.execute(
        update(WorkbenchPendingLogin)
        .where(WorkbenchPendingLogin.token_sha256 == _digest(token))
        .where(WorkbenchPendingLogin.used_at.is_(None))
        .values(used_at=utcnow())
    )
    db.commit()
    return bool(done.rowcount)  # type: ignore[attr-defined]
