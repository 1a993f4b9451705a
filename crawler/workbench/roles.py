"""Roles and what each may do: the one matrix the server checks on every request.

docs/workbench.md prints the same matrix; tests/test_workbench_roles.py
checks every cell against the running application.
"""

from __future__ import annotations

ROLES = ("admin", "technical", "analyst", "evidence_officer", "auditor")

PERMISSIONS: dict[str, frozenset[str]] = {
    # Search adverts and open one (text, identifiers, captures, links).
    "ads.view": frozenset({"analyst", "evidence_officer", "auditor"}),
    # See an advert's images unblurred (the reveal is logged).
    "images.reveal": frozenset({"evidence_officer"}),
    # Replay the archived page (images unblurred) through a signed, expiring link.
    "ads.replay": frozenset({"evidence_officer"}),
    # Read the audit trail.
    "audit.view": frozenset({"auditor", "admin"}),
    # Networks of linked adverts, their links and the decisions on them.
    "networks.view": frozenset({"analyst", "evidence_officer", "auditor"}),
    # Accept, reject or annotate a link (analyze respects rejections).
    "links.decide": frozenset({"analyst"}),
    # Add accounts, revoke sessions.
    "users.manage": frozenset({"admin"}),
    # Platforms and crawl state (read-only for now).
    "platforms.view": frozenset({"technical", "admin"}),
    # Notes and tags on adverts, identifiers and networks: read them; add or remove them.
    "notes.view": frozenset({"analyst", "evidence_officer", "auditor"}),
    "notes.edit": frozenset({"analyst"}),
    # Cases: list and read; create one and add or remove its adverts, identifiers, networks.
    "cases.view": frozenset({"analyst", "evidence_officer", "auditor"}),
    "cases.edit": frozenset({"analyst", "evidence_officer"}),
    # Export a case's signed bundle and its court exhibit, and download them.
    "cases.export": frozenset({"evidence_officer"}),
    # Upload any bundle and verify it (the same checks as `adarchive verify`).
    "bundles.verify": frozenset({"evidence_officer"}),
    # Crawl operations: definition health, crawls with progress, schedules, watchlists.
    "ops.view": frozenset({"technical", "admin"}),
    # Add, pause, resume and remove schedules (as `adarchive schedule …`).
    "schedules.manage": frozenset({"technical"}),
    # Add and remove watched identifiers, scan for hits (as `adarchive watch …`).
    "watchlists.manage": frozenset({"technical"}),
}


class UnknownRole(ValueError):
    """A role name that is not one of :data:`ROLES`."""


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UnknownRole(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    return role


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` holds ``permission`` (an unknown permission is nobody's)."""
    return role in PERMISSIONS.get(permission, frozenset())
