"""An agency-supplied list of known image hashes (SHA-256 and/or pHash).

Matching images are flagged: never rendered by any report, excluded from
exports unless explicitly included. The list is a text file, one hash a line:
``sha256:<64 hex>``, ``phash:<16 hex>``, or a bare 64-hex (SHA-256) / 16-hex
(pHash) value; blank lines and ``#`` comments are ignored. The file itself is
never copied into the store or any output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from crawler.analysis.phash import PhashIndex

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


class KnownHashError(ValueError):
    """The known-hash list cannot be read; one line for the user."""


@dataclass
class KnownHashes:
    sha256: set[str] = field(default_factory=set)
    phash: list[str] = field(default_factory=list)
    max_distance: int = 6

    def __post_init__(self) -> None:
        self._index = PhashIndex(self.max_distance)
        for n, value in enumerate(self.phash):
            self._index.add(n, value)

    def __len__(self) -> int:
        return len(self.sha256) + len(self.phash)

    def match(self, sha256: str | None, phash: str | None) -> str | None:
        """Why an image is flagged ("sha256" / "phash N bits"), or None."""
        if sha256 and sha256.lower() in self.sha256:
            return "known sha256"
        if phash and self.phash:
            near = self._index.near(phash.lower())
            if near:
                return f"known phash within {min(near.values())} bits"
        return None

    @classmethod
    def load(cls, path: str | Path, max_distance: int = 6) -> KnownHashes:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise KnownHashError(f"cannot read known-hash list {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise KnownHashError(f"known-hash list {path} is not UTF-8 text") from None
        sha, ph = set(), []
        for number, line in enumerate(lines, start=1):
            value = line.split("#", 1)[0].strip().lower()
            if not value:
                continue
            kind, _, digest = value.rpartition(":")
            if kind in ("", "sha256") and _HEX64.match(digest):
                sha.add(digest)
            elif kind in ("", "phash") and _HEX16.match(digest):
                ph.append(digest)
            else:
                raise KnownHashError(f"{path}:{number}: not a sha256 or phash value")
        return cls(sha, ph, max_distance)
