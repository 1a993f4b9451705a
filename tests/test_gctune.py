"""The garbage-collector extension (crawler/gctune.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from scrapy import Spider
from scrapy.exceptions import NotConfigured

from conftest import project_crawler
from crawler import gctune
from crawler.gctune import GcTuneExtension
from crawler.heap import forget_freeze


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    forget_freeze()
    gc.set_threshold(*thresholds)


def test_engine_start_freezes_the_heap_and_raises_the_threshold(restored_gc: None) -> None:
    forget_freeze()
    gc.set_threshold(700, 10, 10)
    extension = GcTuneExtension.from_crawler(
        project_crawler(Spider, {"ADARCHIVE_GC_THRESHOLD": 5000})
    )
    extension.engine_started()
    assert gc.get_threshold() == (5000, 10, 10)
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # the imported modules' objects, at least
    made_since = [[n] for n in range(5000)]  # lists are always tracked: a freeze would take them
    extension.engine_started()  # a second crawler in the same process: no second freeze
    # Frozen objects that die leave the count, so it may shrink; it must not take the new ones.
    assert gc.get_freeze_count() <= frozen
    # Frozen objects leave the collector's generations: the new ones must still be in them.
    collected = {id(o) for o in gc.get_objects()}
    assert all(id(obj) in collected for obj in made_since)


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_full_collection_every_so_many_responses_frees_cyclic_garbage(
    restored_gc: None,
) -> None:
    extension = GcTuneExtension.from_crawler(
        project_crawler(Spider, {"ADARCHIVE_GC_THRESHOLD": 0, "ADARCHIVE_GC_COLLECT_EVERY": 3})
    )
    gc.disable()  # only the extension collects
    try:
        gc.collect()
        gctune._Responses.since_collect = 0
        cycle = weakref.ref(_Cycle())
        extension.response_received()
        extension.response_received()
        assert cycle() is not None  # two responses: not yet
        extension.response_received()
        assert cycle() is None  # the third: collected
    finally:
        gc.enable()


def test_both_zero_leaves_the_collector_alone() -> None:
    settings = {"ADARCHIVE_GC_THRESHOLD": 0, "ADARCHIVE_GC_COLLECT_EVERY": 0}
    with pytest.raises(NotConfigured):
        GcTuneExtension.from_crawler(project_crawler(Spider, settings))
