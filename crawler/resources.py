"""Data folders shipped inside the package, as real directories.

Scrapyd runs a project from a zipped egg, where ``Path(__file__).parent``
is not a directory. Definitions and Alembic migrations need real files, so a
folder inside an archive is copied once to a temporary directory.
"""

from __future__ import annotations

import functools
import tempfile
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path


def _copy(node: Traversable, target: Path) -> None:
    for child in node.iterdir():
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            (target / child.name).mkdir()
            _copy(child, target / child.name)
        else:
            (target / child.name).write_bytes(child.read_bytes())


@functools.cache
def resource_dir(package: str, *parts: str) -> Path:
    """The folder ``parts`` of ``package`` on disk (extracted when zipped)."""
    node = files(package).joinpath(*parts)
    if isinstance(node, Path) and node.is_dir():
        return node
    target = Path(tempfile.mkdtemp(prefix=f"adarchive-{parts[-1]}-"))
    _copy(node, target)
    return target
