"""Login throttling, counted from the audit trail so every server process agrees.

After :data:`MAX_FAILURES` failed logins (wrong passwords or TOTP codes) for one name, or
:data:`MAX_ADDRESS_FAILURES` from one address, within :data:`WINDOW`, further
attempts are refused without checking the password until the window has
passed. The refusal itself is audited (and counts).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.store.models import AuditEvent

MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
WINDOW = timedelta(minutes=15)
# A wrong TOTP code (crawler/workbench/totppages.py) counts as a wrong password.
FAILED_ACTIONS = ("login.failed", "login.throttled", "login.code_failed")


def is_throttled(session: Session, name: str, address: str) -> bool:
    """Whether a login for ``name`` from ``address`` must be refused for now."""
    since = datetime.now(UTC) - WINDOW
    failed = (AuditEvent.action.in_(FAILED_ACTIONS), AuditEvent.at >= since)
    by_name = session.scalar(
        select(func.count()).where(*failed, AuditEvent.subject == f"user:{name}")
    )
    if int(by_name or 0) >= MAX_FAILURES:
        return True
    by_address = session.scalar(
        select(func.count()).where(*failed, AuditEvent.actor == f"address:{address}")
    )
    return int(by_address or 0) >= MAX_ADDRESS_FAILURES
