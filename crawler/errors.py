"""Errors a user can fix, shared by every command.

Below the command layer so that any module (a schedule command, an export, a
definition check) can raise it without importing the CLI; ``adarchive`` prints
it as one ``adarchive: error: …`` line with exit status 2, never a traceback.
"""

from __future__ import annotations


class UserError(RuntimeError):
    """A mistake the user can fix; printed as one line."""


__all__ = ["UserError"]
