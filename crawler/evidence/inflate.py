"""The fastest gzip inflate this machine has: ISA-L, then zlib-ng, then the standard library.

Inflating every record is most of what ``adarchive verify`` costs. ISA-L's
inflate (``isal``) is about twice zlib's speed; zlib-ng's (``zlib_ng``) close
to it. Both keep zlib's ``decompressobj`` interface (``eof``,
``unused_data``), so the scan reads the same bytes and finds the same member
boundaries whichever is used; the standard library stays the fallback when
neither is installed.
"""

from __future__ import annotations

import zlib
from types import ModuleType
from typing import Any


def _fastest() -> ModuleType:
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:
        pass
    try:
        from zlib_ng import zlib_ng

        return zlib_ng
    except ImportError:
        return zlib


INFLATE: ModuleType = _fastest()
NAME = INFLATE.__name__
"""Which implementation is in use (``isal.isal_zlib``, ``zlib_ng.zlib_ng`` or ``zlib``)."""
INFLATE_ERRORS: tuple[type[Exception], ...] = tuple({zlib.error, INFLATE.error})
GZIP_WBITS = zlib.MAX_WBITS | 16


def decompressobj() -> Any:
    """A decompressor for one gzip member (zlib's interface)."""
    return INFLATE.decompressobj(GZIP_WBITS)
