"""Freeze a long-lived process's heap out of the cyclic collector's walks.

Both the crawl (the ``GcTuneExtension`` in crawler/gctune.py) and the evidence
writer process hold a large, long-lived heap and make many short-lived objects
per page. Once everything is imported, ``gc.freeze()`` moves what exists into
the permanent generation, so collections only look at objects made since, and
a higher first-generation threshold collects young garbage in fewer batches.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_heap(threshold: int) -> None:
    """Raise the young-generation threshold to ``threshold`` and freeze the heap, once
    per process (several crawlers may share one); 0 or less leaves the collector alone."""
    global _frozen
    if threshold <= 0:
        return
    first, second, third = gc.get_threshold()
    gc.set_threshold(max(threshold, first), second, third)
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


def forget_freeze() -> None:
    """Undo :func:`freeze_heap`'s once-per-process memory (tests that unfreeze)."""
    global _frozen
    gc.unfreeze()
    _frozen = False
