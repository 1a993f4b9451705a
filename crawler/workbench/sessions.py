"""Server-side sessions: the cookie carries a random token, the store everything else.

A session is revocable (log-out, an admin, or expiry) because the server
looks it up on every request; the store keeps only the token's SHA-256.
Each session has its own CSRF token, echoed in every form.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crawler.store.models import WorkbenchSession, WorkbenchUser, utc, utcnow

LIFETIME = timedelta(hours=8)
IDLE = timedelta(minutes=60)
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Login:
    """Who is asking: the user and their session, as read from the store for this request."""

    session_id: int
    user_id: int
    name: str
    role: str
    csrf_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(db: Session, user: WorkbenchUser, address: str | None) -> tuple[str, Login]:
    """Start a session for ``user``; returns the cookie token (shown once) and the login."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = WorkbenchSession(
        token_sha256=_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen=now,
        expires_at=now + LIFETIME,
        address=address,
    )
    db.add(row)
    db.commit()
    return token, Login(row.id, user.id, user.name, user.role, row.csrf_token)


def find_session(db: Session, token: str | None) -> Login | None:
    """The live session behind a cookie token, or None (unknown, revoked, expired, idle)."""
    if not token or len(token) > 128:
        return None
    row = db.execute(
        select(  # columns, not entities: one indexed join, no ORM objects to build
            WorkbenchSession.id,
            WorkbenchSession.csrf_token,
            WorkbenchSession.last_seen,
            WorkbenchSession.expires_at,
            WorkbenchSession.revoked_at,
            WorkbenchUser.id,
            WorkbenchUser.name,
            WorkbenchUser.role,
            WorkbenchUser.active,
        )  # fmt: skip
        .join(WorkbenchUser, WorkbenchUser.id == WorkbenchSession.user_id)
        .where(WorkbenchSession.token_sha256 == _digest(token))
    ).first()
    if row is None:
        return None
    session_id, csrf_token, seen, expires_at, revoked_at, user_id, name, role, active = row
    now = utcnow()
    last_seen = utc(seen)
    expires = utc(expires_at)
    assert last_seen is not None and expires is not None
    if revoked_at is not None or not active or now >= expires or now - last_seen > IDLE:
        return None
    if now - last_seen > TOUCH_EVERY:
        db.execute(
            update(WorkbenchSession).where(WorkbenchSession.id == session_id).values(last_seen=now)
        )
        db.commit()
    return Login(session_id, user_id, name, role, csrf_token)


def revoke(db: Session, session_id: int) -> None:
    db.execute(
        update(WorkbenchSession)
        .where(WorkbenchSession.id == session_id, WorkbenchSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.commit()


def revoke_user(db: Session, user_id: int) -> int:
    """End every live session of a user (an admin's action); returns how many."""
    result = db.execute(
        update(WorkbenchSession)
        .where(WorkbenchSession.user_id == user_id, WorkbenchSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
