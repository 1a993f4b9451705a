"""The extracted identifier: what was found, where, and how it was normalised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("phone", "email", "telegram", "line", "kakao", "wechat", "url")


@dataclass(frozen=True, slots=True)
class Identifier:
    """One contact identifier found in a text.

    ``match`` is the exact original text ``text[start:end]``, so a reviewer can
    see why it was extracted; ``value`` is the normalised form that links ads.
    """

    kind: str
    """One of ``KINDS``."""
    value: str
    """Normalised value: E.164 for phones, lower-case e-mail, handle without @, URL."""
    match: str
    """The matched original text."""
    start: int
    """Offset of ``match`` in the original text."""
    end: int
    """End offset (exclusive) of ``match`` in the original text."""
    channel: str | None = None
    """Messenger the identifier was offered on, where known (``"whatsapp"``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``channel`` only when set (the CLI contract)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "value": self.value,
            "match": self.match,
            "start": self.start,
            "end": self.end,
        }
        if self.channel is not None:
            out["channel"] = self.channel
        return out
