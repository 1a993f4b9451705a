"""Local accounts: argon2-hashed passwords, added on the command line.

The first admin is created with ``adarchive users add NAME --role admin``;
there is no default account and no password in the repository.
"""

from __future__ import annotations

import re
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.configuration import ConfigError, setting
from crawler.store.models import WorkbenchUser, utcnow
from crawler.workbench.roles import check_role

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


@cache
def password_hasher() -> PasswordHasher:
    """argon2id at the configured cost (ADARCHIVE_WORKBENCH_PASSWORD_*), made on first use:
    importing this module hashes nothing."""
    time_cost = int(setting("ADARCHIVE_WORKBENCH_PASSWORD_TIME_COST"))
    memory_kib = int(setting("ADARCHIVE_WORKBENCH_PASSWORD_MEMORY_KIB"))
    lanes = int(setting("ADARCHIVE_WORKBENCH_PASSWORD_PARALLELISM"))
    if time_cost < 1 or lanes < 1 or memory_kib < 8 * lanes:
        raise ConfigError(
            "ADARCHIVE_WORKBENCH_PASSWORD_*: argon2 needs a time cost and parallelism of at "
            f"least 1 and at least 8 KiB per lane (got t={time_cost}, m={memory_kib}, p={lanes})"
        )
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=lanes)


@cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so both cases take as long."""
    return password_hasher().hash("not a password of anyone")


class AccountError(ValueError):
    """An account cannot be created or changed as asked; the message is one line."""


def add_user(session: Session, name: str, role: str, password: str) -> WorkbenchUser:
    """Create an account (names are unique; the password is stored only as its argon2 hash)."""
    if not NAME_RE.match(name):
        raise AccountError(
            f"bad user name {name!r}: letters, digits, '.', '_' or '-', at most 64 characters"
        )
    try:
        check_role(role)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password may have at most {MAX_PASSWORD} characters")
    if session.scalar(select(WorkbenchUser.id).where(WorkbenchUser.name == name)) is not None:
        raise AccountError(f"user {name!r} exists already")
    user = WorkbenchUser(
        name=name, role=role, password_hash=password_hasher().hash(password), created_at=utcnow()
    )
    session.add(user)
    session.commit()
    return user


def check_password(session: Session, name: str, password: str) -> WorkbenchUser | None:
    """The active user with this name and password, else None (same work either way)."""
    user = session.scalar(select(WorkbenchUser).where(WorkbenchUser.name == name))
    if len(password) > MAX_PASSWORD:
        return None
    hasher = password_hasher()
    stored = user.password_hash if user is not None else _dummy_hash()
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if hasher.check_needs_rehash(stored):
        user.password_hash = hasher.hash(password)
        session.commit()
    return user


def list_users(session: Session) -> list[WorkbenchUser]:
    return list(session.scalars(select(WorkbenchUser).order_by(WorkbenchUser.name)))


DEMO_USER = "demo"


def demo_account(session: Session) -> tuple[str, str | None]:
    """The demo's analyst account: created with a fresh random password (returned once),
    or ``(name, None)`` when it exists already. Never a fixed password."""
    if session.scalar(select(WorkbenchUser.id).where(WorkbenchUser.name == DEMO_USER)):
        return DEMO_USER, None
    password = secrets.token_urlsafe(12)
    add_user(session, DEMO_USER, "analyst", password)
    return DEMO_USER, password
