"""The evidence commands' user mistakes, importable without the store or crypto."""

from __future__ import annotations


class ExportError(RuntimeError):
    """The bundle cannot be made as asked (the message names why)."""


class SelectionError(RuntimeError):
    """The selection is empty or names something that does not exist (a user mistake)."""


class SigningKeyError(RuntimeError):
    """A key file is missing, unreadable or of the wrong kind (a user mistake)."""


class BundleError(RuntimeError):
    """The file cannot be opened as a bundle at all (a user mistake, e.g. wrong path)."""
